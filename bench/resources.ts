/**
 * The app's resources and relations at scale (`npm run bench -- resources`).
 *
 * Store: tenant "records" with 10k users (10 group memberships each), 100k records in 1k folders, and 1M
 * relations: per record an owner, its parent folder and 8 viewers (users or groups). The `records` example
 * policy (policies/examples/records), compiled with `opa build -t wasm`. Prints:
 *   - Decider.check of a random user on a random record, with `input.resource.stored` (resource read, its
 *     relations, the user's relations through groups and the parent chain) and the Wasm evaluation;
 *   - AuthZEN resource search pages of 1,000 candidates each (every one decided by the policy) through the real
 *     HTTP endpoint on loopback, candidates `all` (every record in id order) and `related` (the user's).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { createAuthzenRouter } from '../src/authzen/index.js';
import { Decider } from '../src/check/index.js';
import { DEFAULT_SUBJECT_TYPES } from '../src/config/index.js';
import { createGatewayApp, listen } from '../src/http/index.js';
import { IdentifierResolver } from '../src/identifiers/index.js';
import { loadTenantPolicySources, PolicyCompiler, PolicyRegistry } from '../src/policy/index.js';
import { EntitlementStore } from '../src/store/index.js';
import { formatRow, measure, summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TENANT = 'records';
const USERS = 10_000;
const GROUPS = 100;
const MEMBERSHIPS_PER_USER = 10;
const RECORDS = Number(process.env['BENCH_RECORDS'] ?? 100_000);
const FOLDERS = 1_000;
const VIEWERS_PER_RECORD = 8;
const DEPARTMENTS = ['Sales', 'Legal', 'Finance', 'Accounting'];
const MAX_DEPTH = 8;
const CANDIDATES = 1_000;

const userId = (i: number): string => `u${i.toString().padStart(6, '0')}`;
const recordId = (i: number): string => `r${i.toString().padStart(7, '0')}`;
const folderId = (i: number): string => `f${i.toString().padStart(5, '0')}`;
const random = (n: number): number => Math.floor(Math.random() * n);

/**
 * Fills the store file through its own schema with one raw connection whose page cache holds the indexes: the
 * 1M random-order inserts into `relations_by_subject` would otherwise thrash a default-sized cache for many
 * minutes. Rows are as the store writes them (rows.ts): users, groups, memberships, resources, relations.
 */
function populate(path: string): number {
  EntitlementStore.open(path).close();
  const db = new Database(path);
  db.pragma('cache_size = -1048576');
  db.pragma('synchronous = OFF');
  let relations = 0;
  const insert = {
    tenant: db.prepare('INSERT INTO tenants (id, display_name) VALUES (?, ?)'),
    user: db.prepare(
      "INSERT INTO users (tenant_id, id, user_name, external_id, active, attributes, roles) VALUES (?, ?, ?, NULL, 1, ?, '[]')",
    ),
    group: db.prepare('INSERT INTO groups (tenant_id, id, display_name) VALUES (?, ?, ?)'),
    member: db.prepare('INSERT OR IGNORE INTO memberships (tenant_id, user_id, group_id) VALUES (?, ?, ?)'),
    resource: db.prepare('INSERT INTO resources (tenant_id, type, id, attributes, seq) VALUES (?, ?, ?, ?, 1)'),
    relation: db.prepare(
      'INSERT OR IGNORE INTO relations (tenant_id, resource_type, resource_id, relation, subject_kind, subject_type, subject_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
  };
  const relation = (id: string, name: string, kind: string, type: string, subject: string): void => {
    relations += insert.relation.run(TENANT, 'record', id, name, kind, type, subject).changes;
  };
  db.transaction(() => {
    insert.tenant.run(TENANT, 'Records');
    insert.group.run(TENANT, 'manager', 'manager');
    for (let g = 0; g < GROUPS; g++) insert.group.run(TENANT, `g${g}`, `team ${g}`);
    for (let i = 0; i < USERS; i++) {
      insert.user.run(
        TENANT,
        userId(i),
        userId(i),
        JSON.stringify({ department: DEPARTMENTS[i % DEPARTMENTS.length] }),
      );
      for (let k = 0; k < MEMBERSHIPS_PER_USER; k++)
        insert.member.run(TENANT, userId(i), `g${(i * 7 + k * 13) % GROUPS}`);
    }
    for (let f = 0; f < FOLDERS; f++) insert.resource.run(TENANT, 'folder', folderId(f), '{}');
    for (let r = 0; r < RECORDS; r++) {
      const id = recordId(r);
      const department = DEPARTMENTS[(r * 3) % DEPARTMENTS.length];
      insert.resource.run(TENANT, 'record', id, JSON.stringify({ title: `Record ${r}`, department }));
      relation(id, 'owner', 'user', '', userId(random(USERS)));
      relation(id, 'parent', 'resource', 'folder', folderId(r % FOLDERS));
      // Distinct viewers, so that every record holds exactly 10 relations.
      const first = random(USERS);
      for (let v = 0; v < VIEWERS_PER_RECORD; v++) {
        if (v % 2 === 0) relation(id, 'viewer', 'user', '', userId((first + v * 997) % USERS));
        else relation(id, 'viewer', 'group', '', `g${(first + v) % GROUPS}`);
      }
    }
    db.prepare("UPDATE store_meta SET value = 1 WHERE key = 'applied_sequence'").run();
  })();
  db.close();
  return relations;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ipsie-bench-resources-'));
  const logger = pino({ level: 'silent' });
  try {
    const path = join(dir, 'store.db');
    const started = performance.now();
    const relations = populate(path);
    const store = EntitlementStore.open(path);
    console.log(
      `store: ${USERS} users, ${RECORDS} records in ${FOLDERS} folders, ${relations.toLocaleString('en-US')} relations ` +
        `(populated in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
    const compiler = new PolicyCompiler({
      opaPath: `${ROOT}.tools/bin/opa`,
      platformDir: `${ROOT}policies/ipsie`,
      timeoutMs: 60_000,
    });
    const source = (await loadTenantPolicySources(`${ROOT}policies/examples`)).find((s) => s.tenantId === TENANT);
    if (source === undefined) throw new Error('no records example policy');
    const policies = new PolicyRegistry();
    await policies.install(await compiler.compile(source));
    const identifiers = new IdentifierResolver(store, new Map([[TENANT, DEFAULT_SUBJECT_TYPES]]));
    const decider = new Decider({
      reader: store,
      policies,
      logger,
      identifiers,
      resources: { reader: store, maxDepth: MAX_DEPTH, maxRelations: 1_000 },
    });
    const check = async (): Promise<void> => {
      await decider.check({
        tenantId: TENANT,
        subject: { kind: 'user', userId: userId(random(USERS)) },
        action: { name: 'view', properties: {} },
        resource: { type: 'record', id: recordId(random(RECORDS)), properties: {} },
        context: { ip: undefined, userAgent: undefined, deviceId: undefined, attributes: {} },
        minSequence: 0,
      });
    };
    await measure(2_000, check);
    const checks = await measure(20_000, check);
    console.log(formatRow('Check with stored resource (10 relations)', summarize(checks)));

    for (const mode of ['all', 'related'] as const) {
      const token = `bench-pep-${mode}`;
      const app = createGatewayApp({
        logger,
        ready: () => true,
        routes: [
          createAuthzenRouter({
            decider,
            directory: store,
            identifiers,
            resources: store,
            searchCandidates: new Map([[TENANT, mode]]),
            maxCandidates: CANDIDATES,
            maxDepth: MAX_DEPTH,
            actions: new Map([[TENANT, ['view', 'edit', 'delete']]]),
            tokens: new Map([[TENANT, [createHash('sha256').update(token).digest('hex')]]]),
            publicUrl: undefined,
            logger,
          }),
        ],
      });
      const { server } = await listen(app, '127.0.0.1:0');
      const port = (server.address() as AddressInfo).port;
      let results = 0;
      const page = async (): Promise<void> => {
        // An employee's edit search: only the records it owns in its department (few), so every page decides
        // its whole budget of candidates.
        const response = await fetch(`http://127.0.0.1:${port}/${TENANT}/access/v1/search/resource`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({
            subject: { type: 'user', id: userId(random(USERS)) },
            action: { name: 'edit' },
            resource: { type: 'record' },
            page: { limit: 1_000 },
          }),
        });
        const body = (await response.json()) as { results: unknown[] };
        results += body.results.length;
      };
      await measure(3, page);
      const pages = await measure(30, page);
      server.close();
      const label = mode === 'all' ? 'search page, 1,000 candidates (all)' : 'search page, related candidates';
      console.log(formatRow(label, summarize(pages)));
      console.log(`    ${results} results over ${pages.length + 3} first pages of random users`);
    }
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
