/**
 * Opening a store file that cannot be trusted: checked with SQLite's
 * quick_check within a time budget, moved aside (never deleted), and replaced
 * by an empty store for the stream to fill.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EntitlementStore } from '../../src/store/index.js';
import type { UserRecord } from '../../src/store/index.js';
import { sha256OfFile, writeGarbageOverTable } from '../harness/store_file.js';
import { makeTempDir } from '../harness/temp_dir.js';

let dir: ReturnType<typeof makeTempDir>;
let path: string;

const user = (id: string): UserRecord => ({
  tenantId: 'acme',
  id,
  userName: `${id}@acme.example`,
  externalId: undefined,
  active: true,
  attributes: { department: 'engineering', title: 'an attribute long enough to need many pages' },
  roles: [],
});

/** A store as a sidecar leaves it: `users` users, one transaction per stream sequence. */
function writeStore(file: string, users: number): EntitlementStore {
  const store = EntitlementStore.open(file);
  store.transaction(() => {
    store.upsertTenant({ id: 'acme', displayName: 'Acme' });
    store.setAppliedSequence(1);
  });
  for (let i = 0; i < users; i++) {
    store.transaction(() => {
      store.upsertUser(user(`u${i}`));
      store.setAppliedSequence(i + 2);
    });
  }
  return store;
}

beforeEach(() => {
  dir = makeTempDir();
  path = join(dir.path, 'sidecar.db');
});

afterEach(() => {
  dir.remove();
});

describe('EntitlementStore.openChecked', () => {
  it('opens a healthy store as it is', async () => {
    writeStore(path, 50).close();
    const { store, setAside } = await EntitlementStore.openChecked(path);
    expect(setAside).toBeUndefined();
    expect(store.appliedSequence()).toBe(51);
    expect(store.userCount('acme')).toBe(50);
    store.close();
  });

  it('creates a store where there is none, without a check', async () => {
    const { store, setAside } = await EntitlementStore.openChecked(path);
    expect(setAside).toBeUndefined();
    expect(store.appliedSequence()).toBe(0);
    store.close();
  });

  it('moves aside a store with 4 KiB of random bytes written into it, unchanged, and opens an empty one', async () => {
    writeStore(path, 2_000).close();
    writeGarbageOverTable(path, 'users');
    // The damage is real: the old open served from this file and failed only when a read reached the page.
    const unchecked = EntitlementStore.open(path);
    expect(() => unchecked.user('acme', 'u1000')).toThrow(/malformed|corrupt/i);
    unchecked.close();

    const damaged = sha256OfFile(path);
    const { store, setAside } = await EntitlementStore.openChecked(path);
    expect(setAside?.reason).toBe('corrupt');
    expect(setAside?.movedTo).toMatch(/sidecar\.db\.bad-\d{8}T\d{9}Z$/);
    expect(setAside?.detail).toMatch(/page|tree|malformed/i);
    expect(sha256OfFile(setAside!.movedTo)).toBe(damaged); // kept for inspection, as it was
    expect(store.appliedSequence()).toBe(0);
    expect(store.tenantIds()).toEqual([]);
    store.close();
  });

  it('moves aside a file that is not SQLite at all', async () => {
    writeFileSync(path, 'not a database, but something someone wrote here\n'.repeat(200));
    const { store, setAside } = await EntitlementStore.openChecked(path);
    expect(setAside?.reason).toBe('not_a_database');
    expect(store.appliedSequence()).toBe(0);
    store.close();
  });

  it('moves aside a store cut short', async () => {
    writeStore(path, 2_000).close();
    truncateSync(path, Math.floor(statSync(path).size / 2));
    const { store, setAside } = await EntitlementStore.openChecked(path);
    expect(setAside?.reason).toBe('corrupt');
    expect(store.appliedSequence()).toBe(0);
    store.close();
  });

  it('moves aside a store with a newer schema version', async () => {
    writeStore(path, 5).close();
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => {
      EntitlementStore.open(path).close();
    }).toThrow(expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' }) as Error);
    const { store, setAside } = await EntitlementStore.openChecked(path);
    expect(setAside?.reason).toBe('schema');
    expect(setAside?.detail).toMatch(/schema version 99/);
    store.close();
  });

  it('moves aside a store whose tables are not the schema its version claims', async () => {
    writeStore(path, 5).close();
    const db = new Database(path);
    db.exec('DROP TABLE sessions');
    db.close();
    const { store, setAside } = await EntitlementStore.openChecked(path);
    expect(setAside?.reason).toBe('schema');
    expect(setAside?.detail).toMatch(/sessions/);
    store.close();
  });

  it('keeps a store whose WAL was cut short in a crash: it loses only its last transactions, which replay', async () => {
    // Fewer pages than the automatic checkpoint (1000): every transaction is still in the WAL.
    const live = writeStore(path, 150);
    // What a crash leaves: the main file and the WAL as they are while a writer has them open.
    const crashed = join(dir.path, 'crashed.db');
    copyFileSync(path, crashed);
    copyFileSync(`${path}-wal`, `${crashed}-wal`);
    live.close();
    const wal = statSync(`${crashed}-wal`).size;
    expect(wal).toBeGreaterThan(100_000);
    truncateSync(`${crashed}-wal`, Math.floor(wal / 2) + 123); // mid-frame

    const { store, setAside } = await EntitlementStore.openChecked(crashed);
    expect(setAside).toBeUndefined();
    const sequence = store.appliedSequence();
    expect(sequence).toBeLessThan(151);
    // Consistent: exactly the users of the transactions up to the recorded sequence.
    expect(store.userCount('acme')).toBe(Math.max(0, sequence - 1));
    store.close();
  });

  it('does not trust a store its check cannot finish within the budget', async () => {
    writeStore(path, 5).close();
    const { store, setAside } = await EntitlementStore.openChecked(path, { checkBudgetMs: 1 });
    expect(setAside?.reason).toBe('check_timeout');
    expect(setAside?.detail).toMatch(/within 1 ms/);
    expect(store.appliedSequence()).toBe(0);
    store.close();
  });

  it('keeps the newest files set aside, with their WAL, and deletes older ones beyond the cap', async () => {
    const garbage = (i: number): string => `garbage ${i}\n`.repeat(100);
    for (let i = 0; i < 4; i++) {
      writeFileSync(path, garbage(i));
      writeFileSync(`${path}-wal`, `wal ${i}`);
      const { store, setAside } = await EntitlementStore.openChecked(path, { setAsideKept: 2 });
      expect(setAside?.reason).toBe('not_a_database');
      store.close();
    }
    const aside = readdirSync(dir.path).filter((n) => n.startsWith('sidecar.db.bad-'));
    const files = aside.filter((n) => !n.endsWith('-wal') && !n.endsWith('-shm')).sort();
    expect(files).toHaveLength(2);
    expect(files.map((n) => readFileSync(join(dir.path, n), 'utf8'))).toEqual([garbage(2), garbage(3)]);
    expect(files.map((n) => readFileSync(join(dir.path, `${n}-wal`), 'utf8'))).toEqual(['wal 2', 'wal 3']);
    expect(aside.filter((n) => n.endsWith('-wal'))).toHaveLength(2);
  });

  it('does not move a path it cannot open for reasons of its own: ERR_STORE_UNAVAILABLE, nothing moved', async () => {
    mkdirSync(path);
    await expect(EntitlementStore.openChecked(path)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(existsSync(path)).toBe(true);
    expect(readdirSync(dir.path)).toEqual(['sidecar.db']);
  });

  it('refuses a budget or cap that makes no sense', async () => {
    await expect(EntitlementStore.openChecked(path, { checkBudgetMs: -1 })).rejects.toThrow(TypeError);
    await expect(EntitlementStore.openChecked(path, { setAsideKept: 0 })).rejects.toThrow(TypeError);
  });
});
