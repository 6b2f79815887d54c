import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { SubjectRef } from '../../src/store/index.js';
import { DIRECTORY_INDEXES, MIGRATIONS } from '../../src/store/schema.js';
import { SQL } from '../../src/store/statements.js';
import { SUBJECT_QUERIES, subjectParams } from '../../src/store/subject_query.js';

const REFS: readonly (readonly [string, SubjectRef])[] = [
  ['a user id', { kind: 'user', userId: 'u1' }],
  ['a session id', { kind: 'session', sessionId: 's1' }],
  [
    'an IdP identity with its sid',
    { kind: 'identity', issuer: 'https://idp.example', subject: 'sub-1', sessionId: 's1' },
  ],
  ['an IdP identity without a sid', { kind: 'identity', issuer: 'https://idp.example', subject: 'sub-1' }],
];

/** The steps of SQLite's plan for the subject query of `ref`. */
function planOf(directoryIndexes: boolean, ref: SubjectRef): string[] {
  const db = new Database(':memory:');
  for (const migration of MIGRATIONS) db.exec(migration);
  if (directoryIndexes) db.exec(DIRECTORY_INDEXES);
  const rows = db
    .prepare(`EXPLAIN QUERY PLAN ${SUBJECT_QUERIES[ref.kind]}`)
    .all(subjectParams('a', ref, undefined)) as { detail: string }[];
  db.close();
  return rows.map((row) => row.detail);
}

describe('subject query', () => {
  for (const directoryIndexes of [false, true]) {
    for (const [named, ref] of REFS) {
      it(`reads the sessions of a subject named by ${named} by index lookup only, never a scan (directory indexes: ${String(directoryIndexes)})`, () => {
        const plan = planOf(directoryIndexes, ref);
        const sessionSteps = plan.filter((step) => /^(SCAN|SEARCH) (s|sessions)\b/.test(step));
        expect(plan.filter((step) => /^SCAN (s|sessions)\b/.test(step))).toEqual([]);
        if (ref.kind !== 'user') expect(sessionSteps).toEqual([expect.stringMatching(/^SEARCH s USING PRIMARY KEY/)]);
      });
    }
  }
});

describe('session purge', () => {
  it('finds the ended sessions of a tenant through the expiry index, never a scan', () => {
    const db = new Database(':memory:');
    for (const migration of MIGRATIONS) db.exec(migration);
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${SQL.purgeSessions}`).all('a', 100) as { detail: string }[]).map(
      (row) => row.detail,
    );
    db.close();
    expect(plan).toEqual([expect.stringMatching(/^SEARCH sessions USING (COVERING )?INDEX sessions_by_expiry/)]);
  });
});
