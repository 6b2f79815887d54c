import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EntitlementStore } from '../../src/store/index.js';
import { sessionRecord, userRecord } from '../harness/records.js';
import { makeTempDir } from '../harness/temp_dir.js';

let dir: ReturnType<typeof makeTempDir>;
let path: string;
let store: EntitlementStore;

const user = userRecord;
const session = sessionRecord;

beforeEach(() => {
  dir = makeTempDir();
  path = join(dir.path, 'store.db');
  store = EntitlementStore.open(path);
  for (const t of ['a', 'b']) store.upsertTenant({ id: t, displayName: t.toUpperCase() });
});

afterEach(() => {
  store.close();
  dir.remove();
});

describe('EntitlementStore', () => {
  it('opens SQLite in WAL mode with the current schema version', () => {
    const db = new Database(path, { readonly: true });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBe(7);
    db.close();
  });

  it('reads a subject slice with groups, session and posture in one call', () => {
    store.upsertUser(user('a', 'u1', { attributes: { department: 'R&D' }, roles: ['r1'] }));
    store.upsertGroup({ tenantId: 'a', id: 'g2', displayName: 'Zeta', externalId: undefined });
    store.upsertGroup({ tenantId: 'a', id: 'g1', displayName: 'Alpha', externalId: 'ext-1' });
    store.addMember('a', 'g1', 'u1');
    store.addMember('a', 'g2', 'u1');
    store.addMember('a', 'g1', 'u1'); // idempotent
    store.upsertSession(session('a', 's1', 'u1', { deviceId: 'd1' }));
    store.setPosture({ tenantId: 'a', kind: 'risk', subjectId: 'u1', state: { level: 'high' }, updatedAt: 1 });
    store.setPosture({ tenantId: 'a', kind: 'device', subjectId: 'd1', state: { compliant: false }, updatedAt: 1 });

    const { slice, sequence } = store.readSubject('a', { kind: 'session', sessionId: 's1' });
    expect(sequence).toBe(0);
    expect(slice?.user).toMatchObject({ id: 'u1', attributes: { department: 'R&D' }, roles: ['r1'], active: true });
    expect(slice?.groups).toEqual([
      { id: 'g1', displayName: 'Alpha', externalId: 'ext-1' },
      { id: 'g2', displayName: 'Zeta', externalId: undefined },
    ]);
    expect(slice?.session).toMatchObject({ id: 's1', acr: 'phr', amr: ['hwk'], deviceId: 'd1' });
    expect(slice?.posture).toEqual({ risk: { level: 'high' }, device: { compliant: false } });
    // An explicit device overrides the session's.
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }, 'd2').slice?.posture).toEqual({
      risk: { level: 'high' },
    });
  });

  it('keeps tenants apart: same ids in two tenants are different subjects', () => {
    store.upsertUser(user('a', 'u1', { attributes: { tenant: 'a' } }));
    expect(store.readSubject('b', { kind: 'user', userId: 'u1' }).slice).toBeUndefined();
    store.bindIdentity({ tenantId: 'a', issuer: 'https://idp-a', subject: 'sub-1', userId: 'u1' });
    expect(store.readSubject('a', { kind: 'identity', issuer: 'https://idp-a', subject: 'sub-1' }).slice?.user.id).toBe(
      'u1',
    );
    expect(
      store.readSubject('b', { kind: 'identity', issuer: 'https://idp-a', subject: 'sub-1' }).slice,
    ).toBeUndefined();
    // Another IdP of the same tenant with the same `sub` does not resolve to the user.
    expect(
      store.readSubject('a', { kind: 'identity', issuer: 'https://idp-b', subject: 'sub-1' }).slice,
    ).toBeUndefined();
  });

  it('finds the users an IdP subject names at any IdP of the tenant, each once, never another tenant’s', () => {
    store.upsertUser(user('a', 'u1'));
    store.upsertUser(user('a', 'u2'));
    store.bindIdentity({ tenantId: 'a', issuer: 'https://idp-a', subject: 'sub-1', userId: 'u1' });
    store.bindIdentity({ tenantId: 'a', issuer: 'https://idp-b', subject: 'sub-1', userId: 'u1' });
    store.bindIdentity({ tenantId: 'b', issuer: 'https://idp-a', subject: 'sub-2', userId: 'u9' });
    expect(store.userIdsByIdpSubject('a', 'sub-1')).toEqual(['u1']);
    expect(store.userIdsByIdpSubject('a', 'sub-2')).toEqual([]);
    // Two IdPs' subjects that collide name two users: the caller must not pick one.
    store.bindIdentity({ tenantId: 'a', issuer: 'https://idp-c', subject: 'sub-1', userId: 'u2' });
    expect(store.userIdsByIdpSubject('a', 'sub-1')).toEqual(['u1', 'u2']);
  });

  it('throws a coded error for an unknown tenant', () => {
    expect(() => store.readSubject('zz', { kind: 'user', userId: 'u1' }).slice).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_TENANT_UNKNOWN' }),
    );
  });

  it('deletes one entity at a time; what pointed at it stops resolving', () => {
    store.upsertUser(user('a', 'u1'));
    store.upsertUser(user('a', 'u2'));
    store.upsertGroup({ tenantId: 'a', id: 'g1', displayName: 'G', externalId: undefined });
    store.addMember('a', 'g1', 'u1');
    store.addMember('a', 'g1', 'u2');
    store.bindIdentity({ tenantId: 'a', issuer: 'i', subject: 's', userId: 'u1' });
    store.upsertSession(session('a', 's1', 'u1'));
    store.deleteUser('a', 'u1');
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice).toBeUndefined();
    expect(store.readSubject('a', { kind: 'session', sessionId: 's1' }).slice).toBeUndefined();
    expect(store.readSubject('a', { kind: 'identity', issuer: 'i', subject: 's' }).slice).toBeUndefined();
    expect(store.readSubject('a', { kind: 'user', userId: 'u2' }).slice?.groups.map((g) => g.id)).toEqual(['g1']);
    // A deleted group disappears from its members' slices.
    store.deleteGroup('a', 'g1');
    expect(store.readSubject('a', { kind: 'user', userId: 'u2' }).slice?.groups).toEqual([]);
  });

  it('a session carries its whole state: revocation is part of it', () => {
    store.upsertUser(user('a', 'u1'));
    store.upsertSession(session('a', 's1', 'u1'));
    store.upsertSession(session('a', 's1', 'u1', { revokedAt: 150, revokeReason: 'idp' }));
    expect(store.readSubject('a', { kind: 'session', sessionId: 's1' }).slice?.session).toMatchObject({
      revokedAt: 150,
      revokeReason: 'idp',
    });
  });

  it('a sign-out revokes the sessions created at or before it, not later ones', () => {
    store.upsertUser(user('a', 'u1'));
    store.upsertSession(session('a', 'old', 'u1', { createdAt: 100 }));
    store.upsertSession(session('a', 'edge', 'u1', { createdAt: 120 }));
    store.upsertSession(session('a', 'new', 'u1', { createdAt: 121 }));
    store.setSignout('a', 'u1', 120, 'credential-change');
    const revokedAt = (id: string): unknown =>
      store.readSubject('a', { kind: 'session', sessionId: id }).slice?.session;
    expect(revokedAt('old')).toMatchObject({ revokedAt: 120, revokeReason: 'credential-change' });
    expect(revokedAt('edge')).toMatchObject({ revokedAt: 120 });
    expect(revokedAt('new')).toMatchObject({ revokedAt: undefined });
    // An explicit revocation keeps its own time and reason.
    store.upsertSession(session('a', 'old', 'u1', { createdAt: 100, revokedAt: 110, revokeReason: 'admin' }));
    expect(revokedAt('old')).toMatchObject({ revokedAt: 110, revokeReason: 'admin' });
  });

  it('reads prior state for the writer: user activity and session revocation', () => {
    expect(store.userActive('a', 'u1')).toBeUndefined();
    store.upsertUser(user('a', 'u1'));
    expect(store.userActive('a', 'u1')).toBe(true);
    store.upsertUser(user('a', 'u1', { active: false }));
    expect(store.userActive('a', 'u1')).toBe(false);
    expect(store.sessionRevoked('a', 's1')).toBeUndefined();
    store.upsertSession(session('a', 's1', 'u1'));
    expect(store.sessionRevoked('a', 's1')).toBe(false);
    store.upsertSession(session('a', 's1', 'u1', { revokedAt: 5 }));
    expect(store.sessionRevoked('a', 's1')).toBe(true);
  });

  it('finds users by e-mail, sessions by IdP session id, and one posture record, within a tenant', () => {
    store.upsertUser(user('a', 'u1', { userName: 'Erin@Acme.example' }));
    store.upsertUser(user('a', 'u2', { userName: 'frank', attributes: { emails: [{ value: 'Frank@acme.example' }] } }));
    store.upsertUser(user('b', 'u3', { userName: 'frank@acme.example' }));
    expect(store.userIdsByEmail('a', 'erin@acme.example')).toEqual(['u1']);
    expect(store.userIdsByEmail('a', 'frank@ACME.example')).toEqual(['u2']);
    expect(store.userIdsByEmail('b', 'frank@acme.example')).toEqual(['u3']);
    expect(store.userIdsByEmail('a', 'nobody@acme.example')).toEqual([]);
    store.upsertUser(
      user('a', 'u4', {
        attributes: { phoneNumbers: [{ value: 'tel:+1-206-555-0100' }, { value: '+44 20 7946 0000' }] },
      }),
    );
    expect(store.userIdsByPhoneNumber('a', '+12065550100')).toEqual(['u4']);
    expect(store.userIdsByPhoneNumber('a', '+44 (20) 7946.0000')).toEqual(['u4']);
    expect(store.userIdsByPhoneNumber('a', '+12065550101')).toEqual([]);
    expect(store.userIdsByPhoneNumber('b', '+12065550100')).toEqual([]);

    store.upsertSession(session('a', 's1', 'u1', { idpSessionId: 'sid-1' }));
    store.upsertSession(session('a', 's2', 'u1', { idpSessionId: 'sid-1' }));
    store.upsertSession(session('b', 's3', 'u3', { idpSessionId: 'sid-1' }));
    expect(store.sessionsByIdpSessionId('a', 'sid-1').map((s) => s.id)).toEqual(['s1', 's2']);
    expect(store.session('a', 's2')?.userId).toBe('u1');
    expect(store.session('a', 's3')).toBeUndefined();

    store.setPosture({
      tenantId: 'a',
      kind: 'claims',
      subjectId: 'u1',
      state: { claims: { role: 'x' } },
      updatedAt: 1,
    });
    expect(store.posture('a', 'claims', 'u1')).toEqual({ claims: { role: 'x' } });
    expect(store.posture('b', 'claims', 'u1')).toBeUndefined();
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.posture).toEqual({
      claims: { claims: { role: 'x' } },
    });
  });

  it('a revoked IdP session id revokes every session carrying it, and tokens naming it, of its issuer', () => {
    store.upsertUser(user('a', 'u1'));
    store.upsertUser(user('b', 'u1'));
    store.upsertSession(session('a', 's1', 'u1', { idpSessionId: 'sid-1' }));
    store.upsertSession(session('a', 's2', 'u1', { idpSessionId: 'sid-2', issuer: 'https://other.example' }));
    store.upsertSession(session('b', 's1', 'u1', { idpSessionId: 'sid-1' }));
    store.bindIdentity({ tenantId: 'a', issuer: 'https://idp.example', subject: 'sub-1', userId: 'u1' });
    const bySession = (tenantId: string, id: string): unknown =>
      store.readSubject(tenantId, { kind: 'session', sessionId: id }).slice?.session;
    const byToken = (sid: string, issuer = 'https://idp.example'): unknown =>
      store.readSubject('a', { kind: 'identity', issuer, subject: 'sub-1', sessionId: sid }).slice?.idpSessionRevoked;

    store.revokeSid({ tenantId: 'a', issuer: undefined, sid: 'sid-1', revokedAt: 150, expiresAt: 900, reason: 'caep' });
    expect(bySession('a', 's1')).toMatchObject({ revokedAt: 150, revokeReason: 'caep' });
    expect(bySession('b', 's1')).toMatchObject({ revokedAt: undefined });
    expect(byToken('sid-1')).toEqual({ revokedAt: 150, reason: 'caep' });
    expect(byToken('sid-9')).toBeUndefined();
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.idpSessionRevoked).toBeUndefined();

    // Named by its issuer: only that IdP's sessions and tokens.
    store.revokeSid({
      tenantId: 'a',
      issuer: 'https://other.example',
      sid: 'sid-2',
      revokedAt: 160,
      expiresAt: 900,
      reason: 'logout',
    });
    expect(bySession('a', 's2')).toMatchObject({ revokedAt: 160, revokeReason: 'logout' });
    expect(byToken('sid-2')).toBeUndefined();
    expect(byToken('sid-2', 'https://other.example')).toBeUndefined(); // no binding at that IdP
    store.upsertSession(session('a', 's3', 'u1', { idpSessionId: 'sid-2' }));
    expect(bySession('a', 's3')).toMatchObject({ revokedAt: undefined });

    // The session's own revocation keeps its time and reason.
    store.upsertSession(session('a', 's1', 'u1', { idpSessionId: 'sid-1', revokedAt: 120, revokeReason: 'admin' }));
    expect(bySession('a', 's1')).toMatchObject({ revokedAt: 120, revokeReason: 'admin' });

    store.forgetRevokedSid('a', undefined, 'sid-1');
    expect(byToken('sid-1')).toBeUndefined();
    store.forgetRevokedSid('a', 'https://other.example', 'sid-2');
    expect(bySession('a', 's2')).toMatchObject({ revokedAt: undefined });
  });

  it('answers whether an IdP session was revoked, by its IdP or any, with no stored session carrying it', () => {
    const idp = 'https://idp.example';
    store.revokeSid({ tenantId: 'a', issuer: idp, sid: 'sid-idp', revokedAt: 1, expiresAt: 9, reason: 'logout' });
    store.revokeSid({ tenantId: 'a', issuer: undefined, sid: 'sid-any', revokedAt: 1, expiresAt: 9, reason: 'caep' });
    expect(store.isIdpSessionRevoked('a', idp, 'sid-idp')).toBe(true);
    expect(store.isIdpSessionRevoked('a', idp, 'sid-any')).toBe(true);
    expect(store.isIdpSessionRevoked('a', 'https://other.example', 'sid-any')).toBe(true);
    expect(store.isIdpSessionRevoked('a', 'https://other.example', 'sid-idp')).toBe(false);
    expect(store.isIdpSessionRevoked('b', idp, 'sid-idp')).toBe(false);
    store.forgetRevokedSid('a', idp, 'sid-idp');
    expect(store.isIdpSessionRevoked('a', idp, 'sid-idp')).toBe(false);
  });

  it('records revoked tokens', () => {
    store.revokeToken({ tenantId: 'a', jti: 'j1', userId: 'u1', revokedAt: 5, expiresAt: 100 });
    expect(store.isTokenRevoked('a', 'j1')).toBe(true);
    expect(store.isTokenRevoked('b', 'j1')).toBe(false);
  });

  it('records forced re-authentication apart from the profile', () => {
    store.setReauthentication('a', 'u1', 500); // before the user exists: replay order is free
    store.upsertUser(user('a', 'u1', { active: false })); // a profile update keeps it
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.reauthenticateAfter).toBe(500);
  });

  it('keeps unknown fields a newer producer sent', () => {
    store.upsertUser(user('a', 'u1', { extra: { nickname: 'x' } }));
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.user.extra).toEqual({ nickname: 'x' });
  });

  it('digests a tenant canonically: same content, same digest, whatever the write order', () => {
    const other = EntitlementStore.open(':memory:');
    try {
      const writes = [
        (s: EntitlementStore) => {
          s.upsertTenant({ id: 'a', displayName: 'A' });
        },
        (s: EntitlementStore) => {
          s.upsertUser(user('a', 'u2'));
        },
        (s: EntitlementStore) => {
          s.upsertUser(user('a', 'u1'));
        },
        (s: EntitlementStore) => {
          s.addMember('a', 'g1', 'u1');
        },
        (s: EntitlementStore) => {
          s.upsertGroup({ tenantId: 'a', id: 'g1', displayName: 'G', externalId: undefined });
        },
      ];
      for (const w of writes) w(store);
      for (const w of [...writes].reverse()) w(other);
      other.upsertTenant({ id: 'b', displayName: 'B' }); // other tenants do not count
      expect(other.digest('a')).toBe(store.digest('a'));
      other.removeMember('a', 'g1', 'u1');
      expect(other.digest('a')).not.toBe(store.digest('a'));
    } finally {
      other.close();
    }
  });

  it('rolls a failed transaction back entirely', () => {
    store.upsertUser(user('a', 'u1'));
    expect(() =>
      store.transaction(() => {
        store.upsertUser(user('a', 'u1', { active: false }));
        store.setAppliedSequence(9);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.user.active).toBe(true);
    expect(store.appliedSequence()).toBe(0);
  });

  it('the applied sequence is the committed one: a rolled-back inner transaction does not count', () => {
    store.transaction(() => {
      store.setAppliedSequence(4);
      expect(() =>
        store.transaction(() => {
          store.setAppliedSequence(5);
          throw new Error('inner');
        }),
      ).toThrow('inner');
      expect(store.appliedSequence()).toBe(4);
    });
    expect(store.appliedSequence()).toBe(4);
    const other = EntitlementStore.open(path);
    try {
      other.setAppliedSequence(6);
    } finally {
      other.close();
    }
    expect(store.appliedSequence()).toBe(6);
  });

  it('reports the applied sequence with the slice, also for an unknown subject', () => {
    store.upsertUser(user('a', 'u1'));
    store.setAppliedSequence(7);
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).sequence).toBe(7);
    expect(store.readSubject('a', { kind: 'user', userId: 'nobody' })).toEqual({ sequence: 7, slice: undefined });
  });

  it('an orphaned user of a tenant that no longer exists reads as an unknown tenant', () => {
    store.upsertUser(user('gone', 'u1'));
    expect(() => store.readSubject('gone', { kind: 'user', userId: 'u1' })).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_TENANT_UNKNOWN' }),
    );
  });

  describe('subject read cache', () => {
    it('a change committed by another connection (another process) is seen at once', () => {
      store.upsertUser(user('a', 'u1'));
      expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.user.active).toBe(true);
      const other = EntitlementStore.open(path);
      try {
        other.upsertUser(user('a', 'u1', { active: false }));
      } finally {
        other.close();
      }
      expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.user.active).toBe(false);
    });

    it('every kind of local write is seen by the next read', () => {
      store.upsertUser(user('a', 'u1'));
      store.upsertSession(session('a', 's1', 'u1', { deviceId: 'd1' }));
      store.upsertGroup({ tenantId: 'a', id: 'g1', displayName: 'G', externalId: undefined });
      const read = (): unknown => store.readSubject('a', { kind: 'session', sessionId: 's1' });
      const writes: (() => void)[] = [
        () => {
          store.addMember('a', 'g1', 'u1');
        },
        () => {
          store.upsertGroup({ tenantId: 'a', id: 'g1', displayName: 'Renamed', externalId: undefined });
        },
        () => {
          store.removeMember('a', 'g1', 'u1');
        },
        () => {
          store.setPosture({
            tenantId: 'a',
            kind: 'device',
            subjectId: 'd1',
            state: { compliant: true },
            updatedAt: 2,
          });
        },
        () => {
          store.clearPosture('a', 'device', 'd1');
        },
        () => {
          store.setSignout('a', 'u1', 300, 'all');
        },
        () => {
          store.upsertSession(session('a', 's1', 'u1', { deviceId: 'd1', revokedAt: 150, revokeReason: 'r' }));
        },
        () => {
          store.setReauthentication('a', 'u1', 170);
        },
        () => {
          store.setAppliedSequence(3);
        },
        () => {
          store.deleteUser('a', 'u1');
        },
      ];
      let before = JSON.stringify(read());
      for (const write of writes) {
        write();
        const after = JSON.stringify(read());
        expect(after).not.toBe(before);
        before = after;
      }
    });

    it('a rolled-back transaction leaves nothing cached', () => {
      store.upsertUser(user('a', 'u1'));
      expect(() =>
        store.transaction(() => {
          store.upsertUser(user('a', 'u1', { active: false }));
          expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.user.active).toBe(false);
          throw new Error('rollback');
        }),
      ).toThrow('rollback');
      expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.user.active).toBe(true);
    });

    it('answers the same with the cache disabled', () => {
      store.upsertUser(user('a', 'u1', { attributes: { x: 1 } }));
      const uncached = EntitlementStore.open(path, { subjectCacheSize: 0 });
      try {
        expect(uncached.readSubject('a', { kind: 'user', userId: 'u1' })).toEqual(
          store.readSubject('a', { kind: 'user', userId: 'u1' }),
        );
      } finally {
        uncached.close();
      }
    });
  });

  describe('the stream it materializes', () => {
    const origin = { stream: 'IPSIE_STATE', created: '2030-01-02T03:04:05.123456789Z' };
    const fill = (): void => {
      store.transaction(() => {
        store.upsertUser(user('a', 'u1'));
        store.upsertSession(session('a', 's1', 'u1'));
        store.upsertGroup({ tenantId: 'a', id: 'g1', displayName: 'G', externalId: undefined });
        store.addMember('a', 'g1', 'u1');
        store.bindIdentity({ tenantId: 'a', issuer: 'https://idp.example', subject: 'x', userId: 'u1' });
        store.revokeToken({ tenantId: 'a', jti: 'j', userId: 'u1', revokedAt: 1, expiresAt: undefined });
        store.setPosture({ tenantId: 'a', kind: 'account', subjectId: 'u1', state: { disabled: false }, updatedAt: 1 });
        store.setReauthentication('a', 'u1', 5);
        store.setSignout('a', 'u1', 5, 'r');
        store.setAppliedSequence(106_126);
      });
    };

    it('a new store records none', () => {
      expect(store.streamOrigin()).toBeUndefined();
    });

    it('resetTo empties every table of state, restarts at sequence 0 and records the origin', () => {
      const empty = store.digest('a');
      fill();
      // The cache must not answer from the old state either.
      expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice).toBeDefined();
      store.resetTo(origin);
      expect(store.streamOrigin()).toEqual(origin);
      expect(store.appliedSequence()).toBe(0);
      expect(store.tenantIds()).toEqual([]);
      expect(() => store.readSubject('a', { kind: 'user', userId: 'u1' })).toThrow(
        expect.objectContaining({ code: 'ERR_STORE_TENANT_UNKNOWN' }),
      );
      store.upsertTenant({ id: 'a', displayName: 'A' });
      expect(store.digest('a')).toBe(empty);
      const raw = new Database(path, { readonly: true });
      const tables = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT IN ('store_meta', 'stream_origin')")
        .pluck()
        .all() as string[];
      for (const table of tables.filter((t) => t !== 'tenants')) {
        expect(raw.prepare(`SELECT count(*) FROM "${table}"`).pluck().get(), table).toBe(0);
      }
      raw.close();
    });

    it('a reset that fails half-way changes nothing: the old state and origin stay whole', () => {
      store.resetTo(origin);
      fill();
      const before = store.digest('a');
      expect(() => {
        store.resetTo({ stream: 'IPSIE_STATE', created: null as unknown as string });
      }).toThrow(/NOT NULL/);
      expect(store.digest('a')).toBe(before);
      expect(store.appliedSequence()).toBe(106_126);
      expect(store.streamOrigin()).toEqual(origin);
    });

    it('another connection sees the old state or the empty one, never a mix', () => {
      fill();
      const other = EntitlementStore.open(path);
      try {
        const seen = new Set<string>();
        const look = (): void => {
          const users = other.tenantIds().length === 0 ? 0 : other.userCount('a');
          seen.add(`${users} users at ${other.appliedSequence()}`);
        };
        look();
        store.resetTo(origin);
        look();
        expect([...seen]).toEqual(['1 users at 106126', '0 users at 0']);
      } finally {
        other.close();
      }
    });

    it('persists across reopen, and a store of the previous schema opens with no origin', () => {
      store.resetTo(origin);
      store.close();
      store = EntitlementStore.open(path);
      expect(store.streamOrigin()).toEqual(origin);
      store.close();
      const legacy = new Database(path);
      legacy.exec('DROP TABLE stream_origin');
      legacy.exec('DROP TABLE session_purges');
      legacy.exec('DROP INDEX sessions_by_expiry');
      legacy.exec('DROP TABLE resources');
      legacy.exec('DROP TABLE relations');
      legacy.exec('ALTER TABLE users DROP COLUMN sealed');
      legacy.exec('ALTER TABLE sessions DROP COLUMN sealed');
      legacy.exec('ALTER TABLE posture DROP COLUMN sealed');
      legacy.pragma('user_version = 2');
      legacy.close();
      store = EntitlementStore.open(path);
      expect(store.streamOrigin()).toBeUndefined();
      expect(store.appliedSequence()).toBe(0);
    });
  });

  it('persists across reopen', () => {
    store.upsertUser(user('a', 'u1'));
    store.setAppliedSequence(42);
    store.close();
    store = EntitlementStore.open(path);
    expect(store.appliedSequence()).toBe(42);
    expect(store.readSubject('a', { kind: 'user', userId: 'u1' }).slice?.user.userName).toBe('u1@example.com');
  });

  it('migrates a store of schema 1 in place, keeping what it holds', () => {
    store.close();
    // Schema 1 is schema 4 without the sid revocations, the stream origin and the session purges.
    const db = new Database(path);
    db.exec('DROP TABLE revoked_sids');
    db.exec('DROP TABLE stream_origin');
    db.exec('DROP TABLE session_purges');
    db.exec('DROP INDEX sessions_by_expiry');
    db.exec('DROP TABLE resources');
    db.exec('DROP TABLE relations');
    db.exec('ALTER TABLE users DROP COLUMN sealed');
    db.exec('ALTER TABLE sessions DROP COLUMN sealed');
    db.exec('ALTER TABLE posture DROP COLUMN sealed');
    db.pragma('user_version = 1');
    db.close();
    store = EntitlementStore.open(path);
    expect(store.hasTenant('a')).toBe(true);
    store.revokeSid({ tenantId: 'a', issuer: undefined, sid: 's', revokedAt: 1, expiresAt: 2, reason: 'r' });
    store.purgeSessions('a', 1);
    expect(store.sessionsPurgedBefore('a')).toBe(1);
  });

  it('refuses a store written by a newer schema', () => {
    store.close();
    const db = new Database(path);
    db.pragma('user_version = 99');
    db.close();
    expect(() => (store = EntitlementStore.open(path))).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' }),
    );
    store = EntitlementStore.open(':memory:');
  });
});
