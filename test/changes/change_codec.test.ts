import { describe, expect, it } from 'vitest';
import {
  CHANGE_KINDS,
  decodeChange,
  encodeChange,
  retentionOf,
  sidRevocationOfSubject,
  subjectOf,
  token,
} from '../../src/changes/index.js';
import type { Change } from '../../src/changes/index.js';
import { applyChange } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { change, session, user } from '../harness/changes.js';

const bytes = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

const RELATION = {
  resource_type: 'record',
  resource_id: '101',
  relation: 'owner',
  subject_kind: 'user',
  subject_type: null,
  subject_id: 'u1',
} as const;

/** One valid change of every kind. */
const EXAMPLES: Change[] = [
  change('acme', 'tenant.upsert', { display_name: 'Acme' }),
  change('acme', 'tenant.delete', {}),
  user('acme', 'u1', { attributes: { department: 'R&D' }, roles: ['admin'], external_id: 'x1' }),
  change('acme', 'user.deactivate', { ...user('acme', 'u1').data, active: false }),
  change('acme', 'user.delete', { id: 'u1' }),
  change('acme', 'user.reauthenticate', { user_id: 'u1', after: 1_800_000_000 }),
  change('acme', 'user.sessions_revoke', { user_id: 'u1', before: 1_800_000_000, reason: 'credential-change' }),
  change('acme', 'binding.upsert', { issuer: 'https://login.example/acme/v2.0', subject: 'sub-1', user_id: 'u1' }),
  change('acme', 'binding.delete', { issuer: 'https://login.example/acme/v2.0', subject: 'sub-1' }),
  change('acme', 'group.upsert', { id: 'g1', display_name: 'Engineering', external_id: null }),
  change('acme', 'group.delete', { id: 'g1' }),
  change('acme', 'member.add', { group_id: 'g1', user_id: 'u1' }),
  change('acme', 'member.remove', { group_id: 'g1', user_id: 'u1' }),
  session('acme', 's1', 'u1', { ip: '198.51.100.7', device_id: 'laptop-1' }),
  change('acme', 'session.revoke', {
    ...session('acme', 's1', 'u1').data,
    revoked_at: 1_800_000_000,
    revoke_reason: 'caep',
  }),
  change('acme', 'token.revoke', { jti: 'j1', user_id: 'u1', revoked_at: 1_800_000_000, expires_at: null }),
  change('acme', 'sid.revoke', {
    issuer: 'https://login.example/acme/v2.0',
    sid: 'sid-1',
    revoked_at: 1_800_000_000,
    expires_at: 1_800_043_260,
    reason: 'back-channel logout',
  }),
  change('acme', 'sessions.purge', { expired_before: 1_799_913_600 }),
  change('acme', 'posture.set', { kind: 'device', subject_id: 'laptop-1', state: { compliant: false } }),
  change('acme', 'posture.clear', { kind: 'risk', subject_id: 'u1' }),
  change('acme', 'resource.upsert', {
    type: 'record',
    id: '101',
    attributes: { title: 'Hamlet', department: 'Legal' },
  }),
  change('acme', 'resource.delete', { type: 'record', id: '101' }),
  change('acme', 'relation.add', RELATION),
  change('acme', 'relation.remove', {
    ...RELATION,
    relation: 'parent',
    subject_kind: 'resource',
    subject_type: 'folder',
  }),
];

describe('change codec', () => {
  it('has an example for every kind', () => {
    expect(new Set(EXAMPLES.map((c) => c.kind))).toEqual(new Set(CHANGE_KINDS));
  });

  it.each(EXAMPLES.map((c) => [c.kind, c] as const))('round-trips %s', (_kind, example) => {
    expect(decodeChange(encodeChange(example))).toEqual(example);
  });

  it('keeps unknown fields, at the top and in entity data, through a round trip', () => {
    const raw = { ...user('acme', 'u1'), trace_id: 't-1' } as Record<string, unknown>;
    raw['data'] = { ...(raw['data'] as object), nickname: 'al', manager: { id: 'u9' } };
    const decoded = decodeChange(bytes(raw));
    expect(decoded.extra).toEqual({ trace_id: 't-1' });
    expect(decoded.data).toMatchObject({ extra: { nickname: 'al', manager: { id: 'u9' } } });
    expect(JSON.parse(new TextDecoder().decode(encodeChange(decoded)))).toEqual(raw);
  });

  it('keeps unknown data fields of every kind, not only of entities, through a round trip', () => {
    const raw = { ...change('acme', 'member.add', { group_id: 'g1', user_id: 'u1' }) } as Record<string, unknown>;
    raw['data'] = { ...(raw['data'] as object), role_in_group: 'owner' };
    const decoded = decodeChange(bytes(raw));
    expect(decoded.data).toEqual({ group_id: 'g1', user_id: 'u1', extra: { role_in_group: 'owner' } });
    expect(JSON.parse(new TextDecoder().decode(encodeChange(decoded)))).toEqual(raw);
  });

  it('reads a nullable field an older producer left out as null', () => {
    const { acr: _acr, ip: _ip, device_id: _device, ...older } = session('acme', 's1', 'u1').data;
    const decoded = decodeChange(bytes({ ...session('acme', 's1', 'u1'), data: older }));
    expect(decoded.data).toMatchObject({ acr: null, ip: null, device_id: null });
  });

  it.each([
    [{ ...RELATION, subject_type: 'folder' }, 'data.subject_type must be set for a resource subject and null'],
    [{ ...RELATION, subject_kind: 'resource' }, 'data.subject_type must be set for a resource subject and null'],
    [{ ...RELATION, relation: 'parent' }, 'data.subject_kind must be resource for the parent relation'],
    [{ ...RELATION, subject_kind: 'team' }, 'data.subject_kind must be one of user, group, resource'],
    [{ ...RELATION, resource_type: 'a b' }, 'data.resource_type must be a letter'],
    [{ ...RELATION, resource_type: 'x'.repeat(65) }, 'data.resource_type must be a letter'],
  ])('refuses a relation that is not one: %j', (data, message) => {
    expect(() => decodeChange(bytes(change('acme', 'relation.add', data as never)))).toThrow(message);
  });

  it('names the field and the rule in a rejection', () => {
    expect(() => decodeChange(bytes(user('acme', 'u1', { user_name: '' })))).toThrow(
      'data.user_name must be a non-empty string',
    );
    expect(() => decodeChange(bytes({ ...user('acme', 'u1'), tenant: 'if' }))).toThrow(/^tenant must be/);
  });

  it.each([
    ['not JSON', new TextEncoder().encode('{"v":1,'), 'ERR_CHANGE_MALFORMED', undefined],
    ['not UTF-8', new Uint8Array([0xff, 0xfe, 0x7b]), 'ERR_CHANGE_MALFORMED', undefined],
    ['an array', bytes([1]), 'ERR_CHANGE_MALFORMED', undefined],
    ['a newer version', bytes({ ...user('acme', 'u1'), v: 2 }), 'ERR_CHANGE_VERSION_UNSUPPORTED', 'v'],
    ['no version', bytes({ ...user('acme', 'u1'), v: undefined }), 'ERR_CHANGE_INVALID', 'v'],
    ['an unknown kind', bytes({ ...user('acme', 'u1'), kind: 'user.promote' }), 'ERR_CHANGE_KIND_UNKNOWN', 'kind'],
    ['a bad tenant', bytes({ ...user('acme', 'u1'), tenant: 'Acme Corp' }), 'ERR_CHANGE_INVALID', 'tenant'],
    ['no id', bytes({ ...user('acme', 'u1'), id: '' }), 'ERR_CHANGE_INVALID', 'id'],
    ['a float time', bytes({ ...user('acme', 'u1'), at: 1.5 }), 'ERR_CHANGE_INVALID', 'at'],
    ['data missing', bytes({ ...user('acme', 'u1'), data: null }), 'ERR_CHANGE_INVALID', 'data'],
    [
      'active as a string',
      bytes(user('acme', 'u1', { active: 'False' as unknown as boolean })),
      'ERR_CHANGE_INVALID',
      'data.active',
    ],
    [
      'a deactivation that is active',
      bytes({ ...user('acme', 'u1'), kind: 'user.deactivate' }),
      'ERR_CHANGE_INVALID',
      'data.active',
    ],
    [
      'roles not strings',
      bytes(user('acme', 'u1', { roles: [1] as unknown as string[] })),
      'ERR_CHANGE_INVALID',
      'data.roles',
    ],
    [
      'a revoke without revoked_at',
      bytes({ ...session('acme', 's1', 'u1'), kind: 'session.revoke' }),
      'ERR_CHANGE_INVALID',
      'data.revoked_at',
    ],
    [
      'an unknown posture kind',
      bytes(change('acme', 'posture.clear', { kind: 'mood' as 'risk', subject_id: 'u1' })),
      'ERR_CHANGE_INVALID',
      'data.kind',
    ],
    ['an oversized id', bytes(user('acme', 'x'.repeat(300))), 'ERR_CHANGE_INVALID', 'data.id'],
  ])('rejects %s', (_name, input, code, field) => {
    expect(() => decodeChange(input)).toThrow(expect.objectContaining({ code, field }));
  });
});

describe('subjects', () => {
  it("put every change of an entity on that entity's subject", () => {
    expect(subjectOf(user('acme', 'u1'))).toBe('ipsie.state.acme.user.u1');
    expect(subjectOf(change('acme', 'user.delete', { id: 'u1' }))).toBe('ipsie.state.acme.user.u1');
    expect(subjectOf(change('acme', 'member.remove', { group_id: 'g1', user_id: 'u1' }))).toBe(
      'ipsie.state.acme.member.g1.u1',
    );
    expect(subjectOf(change('acme', 'posture.set', { kind: 'device', subject_id: 'd1', state: {} }))).toBe(
      'ipsie.state.acme.posture.device.d1',
    );
  });

  it('put a sid revocation on the subject of its issuer and sid, which reads back from the subject', () => {
    const revoke = (issuer: string | null, sid: string): Change =>
      change('acme', 'sid.revoke', { issuer, sid, revoked_at: 10, expires_at: 20, reason: 'r' });
    for (const [issuer, sid] of [
      ['https://login.example/acme/v2.0', 'sid-1'],
      [null, 'sid-1'],
      [null, 'a.b c~'],
      ['https://idp.example', 'x'.repeat(200)],
    ] as const) {
      const subject = subjectOf(revoke(issuer, sid));
      expect(sidRevocationOfSubject(subject), subject).toEqual({ tenant: 'acme', issuer, sid });
    }
    // Any IdP and a named one are different records.
    expect(subjectOf(revoke(null, 's'))).not.toBe(subjectOf(revoke('https://idp.example', 's')));
    expect(sidRevocationOfSubject('ipsie.state.acme.session.s1')).toBeUndefined();
    expect(sidRevocationOfSubject('ipsie.state.acme.sid.~.s1.extra')).toBeUndefined();
    expect(sidRevocationOfSubject('ipsie.state.acme.sid.~not-base64!.s1')).toBeUndefined();
  });

  it('keep a sid revocation on the stream until it expires; everything else until replaced', () => {
    const at = 1_800_000_000_500;
    const revoke = {
      ...change('acme', 'sid.revoke', {
        issuer: null,
        sid: 's',
        revoked_at: 1,
        expires_at: 1_800_000_100,
        reason: 'r',
      }),
      at,
    };
    expect(retentionOf(revoke)).toBe(100);
    expect(retentionOf({ ...revoke, data: { ...revoke.data, expires_at: 1 } })).toBe(1);
    expect(retentionOf(user('acme', 'u1'))).toBeUndefined();
  });

  it('encode values that are not plain tokens one-to-one', () => {
    expect(token('3f7c1e2a-0001')).toBe('3f7c1e2a-0001');
    const url = token('https://login.example/acme/v2.0');
    expect(url).toMatch(/^~[A-Za-z0-9_-]+$/);
    expect(url).not.toContain('.');
    expect(token('a.b')).not.toBe(token('a_b'));
    expect(token('~x')).not.toBe('~x');
    expect(new Set(['a b', 'a.b', 'a*b', 'a>b'].map(token)).size).toBe(4);
  });
});

describe('ids that are not well-formed UTF-16', () => {
  it('an id with a lone surrogate decodes as its subject names it: a store fed live and one fed the compacted stream agree', () => {
    // Both ids are one subject (a lone surrogate is U+FFFD in UTF-8): the stream keeps only the deletion.
    const created = user('a', 'x\uD800');
    const deleted = change('a', 'user.delete', { id: 'x\uDC00' });
    expect(subjectOf(created)).toBe(subjectOf(deleted));
    const live = EntitlementStore.open(':memory:');
    const replayed = EntitlementStore.open(':memory:');
    try {
      const tenant = change('a', 'tenant.upsert', { display_name: 'A' });
      const feed = (store: EntitlementStore, changes: readonly Change[]): void => {
        changes.forEach((c, i) => applyChange(store, decodeChange(encodeChange(c)), i + 1));
      };
      feed(live, [tenant, created, deleted]);
      feed(replayed, [tenant, deleted]);
      expect(live.userCount('a')).toBe(0);
      expect(live.digest('a')).toBe(replayed.digest('a'));
      expect((decodeChange(encodeChange(created)) as typeof created).data.id).toBe('x\uFFFD');
    } finally {
      live.close();
      replayed.close();
    }
  });
});
