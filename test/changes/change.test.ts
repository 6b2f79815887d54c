import { describe, expect, it } from 'vitest';
import { CHANGE_KINDS, POSTURE_KINDS, retentionOf } from '../../src/changes/change.js';
import type { ChangeKind, ChangeOf, PostureKind } from '../../src/changes/change.js';
import { change, session, user } from '../harness/changes.js';

/** `satisfies` makes a kind added to the union and missing here a type error; the test then checks the list. */
const EVERY_KIND = {
  'tenant.upsert': true,
  'tenant.delete': true,
  'user.upsert': true,
  'user.deactivate': true,
  'user.delete': true,
  'user.reauthenticate': true,
  'user.sessions_revoke': true,
  'binding.upsert': true,
  'binding.delete': true,
  'group.upsert': true,
  'group.delete': true,
  'member.add': true,
  'member.remove': true,
  'session.start': true,
  'session.revoke': true,
  'token.revoke': true,
  'sid.revoke': true,
  'sessions.purge': true,
  'posture.set': true,
  'posture.clear': true,
  'resource.upsert': true,
  'resource.delete': true,
  'relation.add': true,
  'relation.remove': true,
} as const satisfies Record<ChangeKind, true>;

const EVERY_POSTURE_KIND = {
  account: true,
  assurance: true,
  claims: true,
  credential: true,
  device: true,
  risk: true,
} as const satisfies Record<PostureKind, true>;

describe('change kinds', () => {
  it('CHANGE_KINDS lists every kind of the Change union once', () => {
    expect([...CHANGE_KINDS].sort()).toEqual(Object.keys(EVERY_KIND).sort());
  });

  it('POSTURE_KINDS lists every posture kind once', () => {
    expect([...POSTURE_KINDS].sort()).toEqual(Object.keys(EVERY_POSTURE_KIND).sort());
  });
});

describe('retentionOf', () => {
  const sidRevoke = (atMs: number, expiresAt: number): ChangeOf<'sid.revoke'> => ({
    ...change('acme', 'sid.revoke', { issuer: null, sid: 's', revoked_at: 1, expires_at: expiresAt, reason: 'r' }),
    at: atMs,
  });

  it('keeps a sid revocation until its expires_at, counted from when the change was accepted', () => {
    expect(retentionOf(sidRevoke(1_800_000_000_000, 1_800_043_260))).toBe(43_260);
  });

  it('counts from the whole second the change was accepted in', () => {
    expect(retentionOf(sidRevoke(1_800_000_000_999, 1_800_000_010))).toBe(10);
  });

  it('keeps an already expired revocation for one second: a TTL is never zero or negative', () => {
    expect(retentionOf(sidRevoke(1_800_000_000_000, 1_800_000_000))).toBe(1);
    expect(retentionOf(sidRevoke(1_800_000_000_000, 0))).toBe(1);
  });

  it('keeps every other change until a later one of its entity replaces it', () => {
    expect(retentionOf(user('acme', 'u1'))).toBeUndefined();
    expect(retentionOf(session('acme', 's1', 'u1'))).toBeUndefined();
    expect(
      retentionOf(change('acme', 'token.revoke', { jti: 'j', user_id: null, revoked_at: 1, expires_at: 2 })),
    ).toBeUndefined();
    expect(
      retentionOf(change('acme', 'user.sessions_revoke', { user_id: 'u1', before: 1, reason: 'r' })),
    ).toBeUndefined();
  });
});
