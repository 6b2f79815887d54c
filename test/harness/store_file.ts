import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';

/** The size of one damage: 4 KiB, SQLite's default page size. */
export const GARBAGE_BYTES = 4096;

/**
 * 4 KiB of pseudo-random bytes (a fixed seed, so every run damages alike),
 * written over the root page of `table`: the page every read of it starts at.
 * Written with plain file I/O while no process has the store open.
 */
export function writeGarbageOverTable(path: string, table: string, seed = 13): void {
  const db = new Database(path, { fileMustExist: true });
  // Everything in the main file first: a page in the WAL would hide the damage.
  db.pragma('wal_checkpoint(TRUNCATE)');
  const { rootpage } = db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').get(table) as {
    rootpage: number;
  };
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.close();
  const garbage = Buffer.alloc(GARBAGE_BYTES);
  let state = seed;
  for (let i = 0; i < garbage.length; i++) {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    garbage[i] = state & 0xff;
  }
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, garbage, 0, garbage.length, (rootpage - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

export function sha256OfFile(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
