import { createHash } from 'node:crypto';
import type { Database as SqliteDatabase } from 'better-sqlite3';
import { TENANT_TABLES } from './schema.js';

/**
 * A canonical hash of everything the store holds for one tenant: every
 * tenant table in a fixed order, each row as JSON. Two stores fed the same
 * stream have the same digest.
 */
export function tenantDigest(db: SqliteDatabase, tenantId: string): string {
  const hash = createHash('sha256');
  for (const { table, tenantColumn, orderBy } of TENANT_TABLES) {
    hash.update(`${table}\n`);
    const rows = db
      .prepare(`SELECT * FROM ${table} WHERE ${tenantColumn} = ? ORDER BY ${orderBy}`)
      .raw()
      .iterate(tenantId) as IterableIterator<unknown[]>;
    for (const row of rows) hash.update(`${JSON.stringify(row)}\n`);
  }
  return hash.digest('hex');
}
