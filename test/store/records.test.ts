import { describe, expect, it } from 'vitest';
import { CHANGE_DATA, decodeChange, encodeChange } from '../../src/changes/index.js';
import type { GroupData, SessionData, UserData } from '../../src/changes/index.js';
import { groupDataOf, groupOf, sessionDataOf, sessionOf, userDataOf, userOf } from '../../src/store/index.js';
import { change, session, user } from '../harness/changes.js';

const VERSION = { sequence: 7, createdAt: 1_800_000_000_000, modifiedAt: 1_800_000_100_000 };

/** Wire data as every consumer reads it: through the codec. */
function decoded<T>(value: { kind: string; data: T }): T {
  return (decodeChange(encodeChange(value as Parameters<typeof encodeChange>[0])) as unknown as { data: T }).data;
}

const SESSIONS: SessionData[] = [
  decoded(session('acme', 's1', 'u1')),
  decoded(
    session('acme', 's2', 'u1', {
      acr: null,
      amr: [],
      auth_time: null,
      ip: '2001:db8::1',
      device_id: 'laptop-1',
      revoked_at: 1_800_000_050,
      revoke_reason: 'caep',
      idp_session_id: 'sid-9',
      extra: { assurance_source: 'sdk' },
      sealed: 's1.k1.AAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB',
    }),
  ),
];

const USERS: UserData[] = [
  { ...decoded(user('acme', 'u1')), created_at: VERSION.createdAt },
  {
    ...decoded(
      user('acme', 'u2', {
        external_id: 'x2',
        active: false,
        attributes: { department: 'R&D', manager: { value: 'u1' } },
        roles: ['admin'],
        extra: { nickname: 'al' },
        sealed: 's1.k1.AAAAAAAAAAAAAAAA.BBBBBBBBBBBBBBBBBBBBBB',
      }),
    ),
    created_at: VERSION.createdAt,
  },
];

const GROUPS: GroupData[] = [
  { ...decoded(change('acme', 'group.upsert', { id: 'g1', display_name: 'Eng', external_id: null })) },
  {
    ...decoded(
      change('acme', 'group.upsert', { id: 'g2', display_name: 'Ops', external_id: 'x', extra: { owner: 'it' } }),
    ),
  },
].map((g) => ({ ...g, created_at: VERSION.createdAt }));

describe('entity records', () => {
  it.each(SESSIONS.map((s) => [s.id, s] as const))('a session round-trips wire -> record -> wire (%s)', (_, data) => {
    const record = sessionOf('acme', data);
    expect(record.tenantId).toBe('acme');
    expect(sessionDataOf(record)).toEqual(data);
    expect(sessionOf('acme', sessionDataOf(record))).toEqual(record);
  });

  it.each(USERS.map((u) => [u.id, u] as const))('a user round-trips wire -> record -> wire (%s)', (_, data) => {
    const record = userOf('acme', data, VERSION);
    expect(userDataOf(record)).toEqual(data);
    expect(userOf('acme', userDataOf(record), VERSION)).toEqual(record);
  });

  it.each(GROUPS.map((g) => [g.id, g] as const))('a group round-trips wire -> record -> wire (%s)', (_, data) => {
    const record = groupOf('acme', data, VERSION);
    expect(groupDataOf(record)).toEqual(data);
    expect(groupOf('acme', groupDataOf(record), VERSION)).toEqual(record);
  });

  it('convert every field the wire schema has: a field added to a change is not dropped by its record', () => {
    const fields = (schema: { shape: object }): string[] => Object.keys(schema.shape).sort();
    const written = (data: object): string[] => Object.keys(data).filter((k) => k !== 'extra');
    expect(written(sessionDataOf(sessionOf('acme', SESSIONS[1]!))).sort()).toEqual(
      fields(CHANGE_DATA['session.start']),
    );
    expect(written(userDataOf(userOf('acme', USERS[1]!, VERSION))).sort()).toEqual(fields(CHANGE_DATA['user.upsert']));
    expect(written(groupDataOf(groupOf('acme', GROUPS[1]!, VERSION))).sort()).toEqual(
      fields(CHANGE_DATA['group.upsert']),
    );
  });
});
