/**
 * The subject cache against the truth, by random walk: random changes of
 * every kind are applied through the ingest applier to a store that caches
 * its subject reads, interleaved with rolled-back batches, expiries and
 * rebuilds; after each step every way of naming every subject reads the same
 * from it as from an uncached connection to the same file.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeChange, encodeChange } from '../../src/changes/index.js';
import type { Change, ChangeKind, ChangeOf, PostureKind } from '../../src/changes/index.js';
import { applyChange } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import type { SubjectRef } from '../../src/store/index.js';
import { change } from '../harness/changes.js';
import { makeTempDir } from '../harness/temp_dir.js';

/** A small deterministic generator (mulberry32): a failure names its seed and step. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Few ids of each kind, so that changes keep hitting what is cached. */
const TENANTS = ['a', 'b'] as const;
/** Most changes go to the first tenant: the second shows that they leave its reads alone. */
const pickTenant = (next: () => number): (typeof TENANTS)[number] => (next() < 0.8 ? 'a' : 'b');
/**
 * Some with a lone surrogate: the codec makes it U+FFFD, and the delete marker and the reads name it as
 * written, which SQLite gives back otherwise.
 */
const USERS = ['u1', 'u2', 'u3\uD800'];
const GROUPS = ['g1', 'g2'];
/** `sid1` names a session id too: an identity read by sid joins a stored session of that id. */
const SESSIONS = ['s1', 's2', 'sid1'];
const SIDS = ['sid1', 'sid2\uDC00'];
const ISSUERS = ['https://idp.example', 'https://other.example'];
const SUBJECTS = ['sub1', 'sub2'];
const DEVICES = ['d1', 'd2\uD800'];
const POSTURE_KINDS: readonly PostureKind[] = ['risk', 'account', 'device', 'credential'];

/** Every way a Check names a subject of a tenant, with and without a device (an empty one too). */
const READS: readonly (readonly [SubjectRef, string | undefined])[] = (() => {
  const refs: SubjectRef[] = [
    ...USERS.map((userId): SubjectRef => ({ kind: 'user', userId })),
    ...SESSIONS.map((sessionId): SubjectRef => ({ kind: 'session', sessionId })),
  ];
  for (const issuer of ISSUERS) {
    for (const subject of SUBJECTS) {
      refs.push({ kind: 'identity', issuer, subject });
      for (const sessionId of [...SIDS, 's1']) refs.push({ kind: 'identity', issuer, subject, sessionId });
    }
  }
  return refs.flatMap((ref) => [undefined, '', ...DEVICES].map((device) => [ref, device] as const));
})();

type Generator<K extends ChangeKind> = (pick: <T>(from: readonly T[]) => T, time: () => number) => ChangeOf<K>['data'];

/** A random change of every kind (a kind added to CHANGE_DATA fails to compile here until it has one). */
const GENERATORS: { readonly [K in ChangeKind]: Generator<K> } = {
  'tenant.upsert': (pick) => ({ display_name: pick(['A', 'B']) }),
  'tenant.delete': () => ({}),
  'user.upsert': (pick) => ({
    id: pick(USERS),
    user_name: pick(['x@example.com', 'y@example.com']),
    external_id: pick([null, 'ext']),
    active: pick([true, false]),
    attributes: pick([{}, { department: 'sales' }]),
    roles: pick([[], ['admin']]),
  }),
  'user.deactivate': (pick) => ({
    id: pick(USERS),
    user_name: 'x@example.com',
    external_id: null,
    active: false,
    attributes: {},
    roles: [],
  }),
  'user.delete': (pick) => ({ id: pick(USERS) }),
  'user.reauthenticate': (pick, time) => ({ user_id: pick(USERS), after: time() }),
  'user.sessions_revoke': (pick, time) => ({ user_id: pick(USERS), before: time(), reason: pick(['r1', 'r2']) }),
  'binding.upsert': (pick) => ({ issuer: pick(ISSUERS), subject: pick(SUBJECTS), user_id: pick(USERS) }),
  'binding.delete': (pick) => ({ issuer: pick(ISSUERS), subject: pick(SUBJECTS) }),
  'group.upsert': (pick) => ({ id: pick(GROUPS), display_name: pick(['G', 'H']), external_id: pick([null, 'e']) }),
  'group.delete': (pick) => ({ id: pick(GROUPS) }),
  'member.add': (pick) => ({ group_id: pick(GROUPS), user_id: pick(USERS) }),
  'member.remove': (pick) => ({ group_id: pick(GROUPS), user_id: pick(USERS) }),
  'session.start': (pick, time) => sessionData(pick, time),
  'session.revoke': (pick, time) => ({
    ...sessionData(pick, time),
    revoked_at: time(),
    revoke_reason: 'revoked',
  }),
  'token.revoke': (pick, time) => ({
    jti: pick(['j1', 'j2']),
    user_id: pick([null, ...USERS]),
    revoked_at: time(),
    expires_at: null,
  }),
  'sid.revoke': (pick, time) => ({
    issuer: pick([null, ...ISSUERS]),
    sid: pick(SIDS),
    revoked_at: time(),
    expires_at: time() + 100,
    reason: pick(['logout', 'caep']),
  }),
  'sessions.purge': (_pick, time) => ({ expired_before: time() }),
  'posture.set': (pick) => {
    const kind = pick(POSTURE_KINDS);
    return { kind, subject_id: pick(kind === 'device' ? DEVICES : USERS), state: { level: pick(['low', 'high']) } };
  },
  'posture.clear': (pick) => {
    const kind = pick(POSTURE_KINDS);
    return { kind, subject_id: pick(kind === 'device' ? DEVICES : USERS) };
  },
};

function sessionData(pick: <T>(from: readonly T[]) => T, time: () => number): ChangeOf<'session.start'>['data'] {
  const created = time();
  return {
    id: pick(SESSIONS),
    user_id: pick(USERS),
    issuer: pick(ISSUERS),
    acr: pick([null, 'phr']),
    amr: ['hwk'],
    auth_time: created,
    expires_at: created + pick([5, 50]),
    created_at: created,
    revoked_at: null,
    revoke_reason: null,
    ip: null,
    device_id: pick([null, ...DEVICES]),
    ...(pick([true, false]) ? { idp_session_id: pick(SIDS) } : {}),
  };
}

/**
 * The kinds to draw from: a tenant-wide write (tenant, purge) drops every read of the tenant and would hide a
 * missed drop, so those come seldom; entity writes often.
 */
const KINDS: readonly ChangeKind[] = (Object.keys(GENERATORS) as ChangeKind[]).flatMap((kind) =>
  kind.startsWith('tenant.') || kind === 'sessions.purge' ? [kind] : [kind, kind, kind, kind, kind, kind],
);

let dir: ReturnType<typeof makeTempDir>;
/** Writes and caches its reads. */
let store: EntitlementStore;
/** The same file, read without a cache. */
let truth: EntitlementStore;

beforeEach(() => {
  dir = makeTempDir();
  const path = join(dir.path, 'store.db');
  store = EntitlementStore.open(path, { subjectCacheSize: 200 });
  truth = EntitlementStore.open(path, { subjectCacheSize: 0 });
});

afterEach(() => {
  truth.close();
  store.close();
  dir.remove();
});

/** Every read of every tenant, as the reader answers it (an unknown tenant answers its error code). */
function answers(reader: EntitlementStore): unknown[] {
  return TENANTS.flatMap((tenant) =>
    READS.map(([ref, device]) => {
      try {
        return reader.readSubject(tenant, ref, device);
      } catch (error) {
        return (error as { code?: unknown }).code;
      }
    }),
  );
}

class RolledBack extends Error {}

describe('subject read cache, random changes', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'seed %i: after every change, rolled-back batch, expiry and rebuild, each cached read answers as an uncached one',
    (seed) => {
      const next = random(seed);
      const pick = <T>(from: readonly T[]): T => from[Math.floor(next() * from.length)] as T;
      const time = (): number => 100 + Math.floor(next() * 100);
      let sequence = 0;
      /** A random change, through the codec as ingest receives it: only changes the decoder accepts. */
      const randomChange = (): Change => {
        const kind = pick(KINDS);
        return decodeChange(encodeChange(change(pickTenant(next), kind, GENERATORS[kind](pick, time))));
      };
      /** Applies `changes` as ingest does: in one transaction with the sequence they reach. */
      const applyBatch = (changes: readonly Change[], from: number): void => {
        changes.forEach((c, i) => applyChange(store, c, from + i));
        store.setAppliedSequence(from + changes.length - 1);
      };
      const rolledBack = (fn: () => void): void => {
        expect(() => {
          store.transaction(() => {
            fn();
            throw new RolledBack();
          });
        }).toThrow(RolledBack);
      };
      store.transaction(() => {
        applyBatch(
          TENANTS.map((tenant) => change(tenant, 'tenant.upsert', { display_name: tenant })),
          sequence + 1,
        );
      });
      sequence += TENANTS.length;
      for (let step = 0; step < 300; step++) {
        const roll = next();
        if (roll < 0.01) {
          store.resetTo({ stream: 'IPSIE_STATE', created: `${seed}-${step}` });
          sequence = 0;
        } else if (roll < 0.05) {
          // A sid revocation's delete marker.
          store.forgetRevokedSid(pickTenant(next), pick([undefined, ...ISSUERS]), pick(SIDS));
        } else if (roll < 0.1) {
          // A batch that fails as a whole.
          rolledBack(() => {
            applyBatch([randomChange(), randomChange()], sequence + 1);
          });
        } else if (roll < 0.15) {
          // A batch whose inner part fails and is undone while the rest commits.
          store.transaction(() => {
            applyBatch([randomChange()], sequence + 1);
            rolledBack(() => {
              applyBatch([randomChange()], sequence + 2);
            });
          });
          sequence += 1;
        } else {
          const batch = Array.from({ length: 1 + Math.floor(next() * 3) }, randomChange);
          store.transaction(() => {
            applyBatch(batch, sequence + 1);
          });
          sequence += batch.length;
        }
        const expected = answers(truth);
        expect(answers(store), `seed ${seed}, step ${step}`).toEqual(expected);
        expect(store.appliedSequence(), `seed ${seed}, step ${step}`).toBe(truth.appliedSequence());
      }
      // The walk reached the reads it compares: not every answer is "unknown".
      expect(store.subjectCacheStats().hits).toBeGreaterThan(1000);
    },
  );
});
