import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EntitlementStore } from '../../src/store/index.js';
import type { SessionRecord, SubjectRef, UserRecord } from '../../src/store/index.js';
import { sessionRecord, userRecord } from '../harness/records.js';
import { makeTempDir } from '../harness/temp_dir.js';

let dir: ReturnType<typeof makeTempDir>;
/** The store under test: cached reads, its own writes. */
let store: EntitlementStore;
/** The truth: the same file read without a cache. */
let truth: EntitlementStore;

const user = (id: string, extra: Partial<UserRecord> = {}): UserRecord => userRecord('a', id, extra);

/** A session with its own device and IdP session id. */
const session = (id: string, userId: string, extra: Partial<SessionRecord> = {}): SessionRecord =>
  sessionRecord('a', id, userId, { deviceId: `${id}-device`, idpSessionId: `${id}-sid`, ...extra });

const ISSUER = 'https://idp.example';

/** Every way a Check names user A or user B, with and without a device. */
const READS: readonly (readonly [SubjectRef, string | undefined])[] = [
  [{ kind: 'user', userId: 'ua' }, undefined],
  [{ kind: 'user', userId: 'ua' }, 'da'],
  [{ kind: 'session', sessionId: 'sa' }, undefined],
  [{ kind: 'identity', issuer: ISSUER, subject: 'sub-a', sessionId: 'sa-sid' }, undefined],
  [{ kind: 'identity', issuer: ISSUER, subject: 'sub-a', sessionId: 'sa' }, undefined],
  [{ kind: 'identity', issuer: ISSUER, subject: 'sub-a' }, undefined],
  [{ kind: 'user', userId: 'ub' }, undefined],
  [{ kind: 'session', sessionId: 'sb' }, undefined],
  [{ kind: 'user', userId: 'nobody' }, undefined],
];

/** Writes that each change what some read of user A answers, never user B's. */
const WRITES_TO_A: readonly (readonly [string, () => void])[] = [
  [
    'user',
    () => {
      store.upsertUser(user('ua', { active: false }));
    },
  ],
  [
    'group rename',
    () => {
      store.upsertGroup({ tenantId: 'a', id: 'ga', displayName: 'Renamed', externalId: undefined });
    },
  ],
  [
    'membership added',
    () => {
      store.addMember('a', 'gc', 'ua');
    },
  ],
  [
    'membership removed',
    () => {
      store.removeMember('a', 'ga', 'ua');
    },
  ],
  [
    'group deleted',
    () => {
      store.deleteGroup('a', 'gc');
    },
  ],
  [
    'session',
    () => {
      store.upsertSession(session('sa', 'ua', { acr: 'aal3' }));
    },
  ],
  [
    'user posture',
    () => {
      store.setPosture({ tenantId: 'a', kind: 'risk', subjectId: 'ua', state: { level: 'high' }, updatedAt: 1 });
    },
  ],
  [
    'user posture cleared',
    () => {
      store.clearPosture('a', 'risk', 'ua');
    },
  ],
  [
    'device posture',
    () => {
      store.setPosture({ tenantId: 'a', kind: 'device', subjectId: 'da', state: { compliant: false }, updatedAt: 1 });
    },
  ],
  [
    'session device posture',
    () => {
      store.setPosture({
        tenantId: 'a',
        kind: 'device',
        subjectId: 'sa-device',
        state: { compliant: true },
        updatedAt: 1,
      });
    },
  ],
  [
    'device posture cleared',
    () => {
      store.clearPosture('a', 'device', 'da');
    },
  ],
  [
    'sign-out',
    () => {
      store.setSignout('a', 'ua', 150, 'all');
    },
  ],
  [
    're-authentication',
    () => {
      store.setReauthentication('a', 'ua', 170);
    },
  ],
  [
    'revoked sid',
    () => {
      store.revokeSid({
        tenantId: 'a',
        issuer: undefined,
        sid: 'sa-sid',
        revokedAt: 160,
        expiresAt: 900,
        reason: 'caep',
      });
    },
  ],
  [
    'revoked sid forgotten',
    () => {
      store.forgetRevokedSid('a', undefined, 'sa-sid');
    },
  ],
  [
    'identity unbound',
    () => {
      store.unbindIdentity('a', ISSUER, 'sub-a');
    },
  ],
  [
    'identity bound',
    () => {
      store.bindIdentity({ tenantId: 'a', issuer: ISSUER, subject: 'sub-a', userId: 'ua' });
    },
  ],
  [
    'user deleted',
    () => {
      store.deleteUser('a', 'ua');
    },
  ],
  [
    'user created',
    () => {
      store.upsertUser(user('ua'));
    },
  ],
];

beforeEach(() => {
  dir = makeTempDir();
  const path = join(dir.path, 'store.db');
  store = EntitlementStore.open(path);
  truth = EntitlementStore.open(path, { subjectCacheSize: 0 });
  store.transaction(() => {
    store.upsertTenant({ id: 'a', displayName: 'A' });
    for (const id of ['a', 'b']) {
      store.upsertUser(user(`u${id}`));
      store.upsertSession(session(`s${id}`, `u${id}`));
      store.bindIdentity({ tenantId: 'a', issuer: ISSUER, subject: `sub-${id}`, userId: `u${id}` });
      store.upsertGroup({ tenantId: 'a', id: `g${id}`, displayName: `G${id}`, externalId: undefined });
      store.addMember('a', `g${id}`, `u${id}`);
    }
    store.upsertGroup({ tenantId: 'a', id: 'gc', displayName: 'Gc', externalId: undefined });
  });
});

afterEach(() => {
  truth.close();
  store.close();
  dir.remove();
});

describe('subject read cache', () => {
  it('a write to user A keeps the cached reads of user B', () => {
    const readB = (): unknown => store.readSubject('a', { kind: 'user', userId: 'ub' });
    for (const [, write] of WRITES_TO_A) {
      const before = readB();
      const { hits } = store.subjectCacheStats();
      write();
      expect(readB()).toEqual(before);
      expect(store.subjectCacheStats().hits).toBe(hits + 1);
    }
  });

  it('every write that can change a read of user A drops it: each cached read answers as an uncached one', () => {
    const answers = (reader: EntitlementStore): unknown[] =>
      READS.map(([ref, deviceId]) => reader.readSubject('a', ref, deviceId));
    expect(answers(store)).toEqual(answers(truth));
    for (const [name, write] of WRITES_TO_A) {
      const before = answers(truth);
      write();
      const after = answers(truth);
      expect(after, name).not.toEqual(before);
      expect(answers(store), name).toEqual(after);
    }
  });

  it('a subject not found is found once a user, binding or session makes it', () => {
    const refs: SubjectRef[] = [
      { kind: 'user', userId: 'uc' },
      { kind: 'session', sessionId: 'sc' },
      { kind: 'identity', issuer: ISSUER, subject: 'sub-c' },
    ];
    for (const ref of refs) expect(store.readSubject('a', ref).slice).toBeUndefined();
    store.upsertSession(session('sc', 'uc'));
    store.bindIdentity({ tenantId: 'a', issuer: ISSUER, subject: 'sub-c', userId: 'uc' });
    for (const ref of refs) expect(store.readSubject('a', ref).slice).toBeUndefined();
    store.upsertUser(user('uc'));
    for (const ref of refs) expect(store.readSubject('a', ref).slice?.user.id).toBe('uc');
  });

  it('a group that arrives after its memberships is seen in its members reads', () => {
    store.addMember('a', 'late', 'ub');
    expect(store.readSubject('a', { kind: 'user', userId: 'ub' }).slice?.groups.map((g) => g.id)).toEqual(['gb']);
    store.upsertGroup({ tenantId: 'a', id: 'late', displayName: 'Late', externalId: undefined });
    expect(store.readSubject('a', { kind: 'user', userId: 'ub' }).slice?.groups.map((g) => g.id)).toEqual([
      'gb',
      'late',
    ]);
  });

  it('a cached read reports the sequence the store is at now', () => {
    store.readSubject('a', { kind: 'user', userId: 'ub' });
    store.setAppliedSequence(42);
    expect(store.readSubject('a', { kind: 'user', userId: 'ub' }).sequence).toBe(42);
  });
});

describe('subject read cache, ids SQLite does not give back as written', () => {
  // A lone surrogate is stored as its WTF-8 bytes and read back as U+FFFD: a read's tags that come from the
  // row it found must still meet the tags of the write that names the row with the string it was given.
  const odd = (id: string): string => `${id}\uD800`;

  it('a sign-out, sid revocation, device posture or deactivation naming an id with a lone surrogate drops the cached session read', () => {
    store.upsertUser(user(odd('uo')));
    store.upsertSession(session('so', odd('uo'), { deviceId: odd('do'), idpSessionId: odd('sido') }));
    const ref: SubjectRef = { kind: 'session', sessionId: 'so' };
    const writes: readonly (readonly [string, () => void])[] = [
      [
        'sign-out',
        () => {
          store.setSignout('a', odd('uo'), 150, 'all');
        },
      ],
      [
        'sid revoked',
        () => {
          store.revokeSid({
            tenantId: 'a',
            issuer: undefined,
            sid: odd('sido'),
            revokedAt: 160,
            expiresAt: 900,
            reason: 'caep',
          });
        },
      ],
      [
        'device posture',
        () => {
          store.setPosture({
            tenantId: 'a',
            kind: 'device',
            subjectId: odd('do'),
            state: { compliant: false },
            updatedAt: 1,
          });
        },
      ],
      [
        'user deactivated',
        () => {
          store.upsertUser(user(odd('uo'), { active: false }));
        },
      ],
    ];
    for (const [name, write] of writes) {
      store.readSubject('a', ref);
      write();
      expect(store.readSubject('a', ref), name).toEqual(truth.readSubject('a', ref));
    }
    expect(store.readSubject('a', ref).slice?.session?.revokedAt).toBe(150);
  });
});

describe('subject read cache keys', () => {
  it('a read that names an empty device is not answered for one that names none: the session device posture is read', () => {
    store.setPosture({
      tenantId: 'a',
      kind: 'device',
      subjectId: 'sa-device',
      state: { compliant: false },
      updatedAt: 1,
    });
    const ref: SubjectRef = { kind: 'session', sessionId: 'sa' };
    expect(store.readSubject('a', ref, '').slice?.posture.device).toBeUndefined();
    expect(store.readSubject('a', ref).slice?.posture.device).toEqual({ compliant: false });
  });

  it('reads whose ids run together across a NUL are kept apart: one user is never answered with another', () => {
    store.upsertUser(user('ua\0d1', { active: false }));
    const pairs: readonly (readonly [SubjectRef, string | undefined])[] = [
      [{ kind: 'user', userId: 'ua\0d1' }, undefined],
      [{ kind: 'user', userId: 'ua' }, 'd1\0'],
    ];
    for (const [ref, device] of pairs) store.readSubject('a', ref, device);
    for (const [ref, device] of pairs) {
      expect(store.readSubject('a', ref, device)).toEqual(truth.readSubject('a', ref, device));
    }
  });
});
