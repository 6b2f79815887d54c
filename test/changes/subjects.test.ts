import { describe, expect, it } from 'vitest';
import {
  ALL_STATE_SUBJECTS,
  sidRevocationOfSubject,
  subjectOf,
  tenantSubjects,
  token,
} from '../../src/changes/subjects.js';
import type { Change, ChangeKind, ChangeOf } from '../../src/changes/index.js';
import { change, session, user } from '../harness/changes.js';

/** Values an IdP or a SCIM client chooses, that a subject token cannot hold as they are. */
const HOSTILE = [
  '',
  '.',
  '..',
  'a.b',
  'a b',
  'a\tb',
  'a\nb',
  '*',
  '>',
  'a.>',
  '~',
  '~x',
  '~YQ',
  'ünïcødé',
  '🔑',
  'a\0b',
  'https://login.example/acme/v2.0',
  'x'.repeat(129),
];

/** A NATS subject token: not empty, no separator, wildcard or whitespace. */
const SUBJECT_TOKEN = /^[^.*>\s\0]+$/;

/** One change of each kind, its entity named by `id` wherever the kind names one. */
function ofEveryKind(id: string): Record<ChangeKind, Change> {
  return {
    'tenant.upsert': change('acme', 'tenant.upsert', { display_name: 'Acme' }),
    'tenant.delete': change('acme', 'tenant.delete', {}),
    'user.upsert': user('acme', id),
    'user.deactivate': change('acme', 'user.deactivate', { ...user('acme', id).data, active: false }),
    'user.delete': change('acme', 'user.delete', { id }),
    'user.reauthenticate': change('acme', 'user.reauthenticate', { user_id: id, after: 1 }),
    'user.sessions_revoke': change('acme', 'user.sessions_revoke', { user_id: id, before: 1, reason: 'r' }),
    'binding.upsert': change('acme', 'binding.upsert', { issuer: id, subject: id, user_id: 'u1' }),
    'binding.delete': change('acme', 'binding.delete', { issuer: id, subject: id }),
    'group.upsert': change('acme', 'group.upsert', { id, display_name: 'G', external_id: null }),
    'group.delete': change('acme', 'group.delete', { id }),
    'member.add': change('acme', 'member.add', { group_id: id, user_id: id }),
    'member.remove': change('acme', 'member.remove', { group_id: id, user_id: id }),
    'session.start': session('acme', id, 'u1'),
    'session.revoke': change('acme', 'session.revoke', { ...session('acme', id, 'u1').data, revoked_at: 1 }),
    'token.revoke': change('acme', 'token.revoke', { jti: id, user_id: null, revoked_at: 1, expires_at: null }),
    'sid.revoke': change('acme', 'sid.revoke', { issuer: id, sid: id, revoked_at: 1, expires_at: 2, reason: 'r' }),
    'sessions.purge': change('acme', 'sessions.purge', { expired_before: 1 }),
    'posture.set': change('acme', 'posture.set', { kind: 'device', subject_id: id, state: {} }),
    'posture.clear': change('acme', 'posture.clear', { kind: 'device', subject_id: id }),
    'resource.upsert': change('acme', 'resource.upsert', { type: 'record', id, attributes: {} }),
    'resource.delete': change('acme', 'resource.delete', { type: 'record', id }),
    'relation.add': change('acme', 'relation.add', relation(id)),
    'relation.remove': change('acme', 'relation.remove', relation(id)),
  };
}

function relation(id: string): ChangeOf<'relation.add'>['data'] {
  return {
    resource_type: 'record',
    resource_id: id,
    relation: 'parent',
    subject_kind: 'resource',
    subject_type: 'folder',
    subject_id: id,
  };
}

describe('token', () => {
  it('passes a plain id of up to 128 characters as it is', () => {
    expect(token('u1')).toBe('u1');
    expect(token('A-z_09')).toBe('A-z_09');
    expect(token('x'.repeat(128))).toBe('x'.repeat(128));
  });

  it.each(HOSTILE)('makes %j one subject token, marked with ~', (value) => {
    const t = token(value);
    expect(t).toMatch(SUBJECT_TOKEN);
    expect(t.startsWith('~')).toBe(true);
  });

  it('is one-to-one over hostile values and the plain ids they could be confused with', () => {
    const values = [...HOSTILE, 'x'.repeat(128), 'YQ', 'a', 'a_b', 'a-b', 'ab'];
    expect(new Set(values.map(token)).size).toBe(values.length);
  });
});

describe('subjects of changes', () => {
  it('hold only valid subject tokens, for every kind and every hostile id', () => {
    for (const id of [...HOSTILE.filter((v) => v !== ''), 'plain-id']) {
      for (const [kind, c] of Object.entries(ofEveryKind(id))) {
        const subject = subjectOf(c);
        for (const part of subject.split('.'))
          expect(part, `${kind} ${JSON.stringify(id)}: ${subject}`).toMatch(SUBJECT_TOKEN);
      }
    }
  });

  it("stay under the tenant's filter and the stream's", () => {
    for (const c of Object.values(ofEveryKind('a.b'))) {
      const subject = subjectOf(c);
      expect(subject.startsWith(tenantSubjects('acme').slice(0, -1))).toBe(true);
      expect(subject.startsWith(ALL_STATE_SUBJECTS.slice(0, -1))).toBe(true);
    }
    expect(tenantSubjects('acme')).toBe('ipsie.state.acme.>');
  });

  it('give different entities different subjects, even when their ids only differ by a dot', () => {
    const binding = (issuer: string, subject: string): string =>
      subjectOf(change('acme', 'binding.delete', { issuer, subject }));
    expect(binding('https://idp.example', 'a.b')).not.toBe(binding('https://idp.example.a', 'b'));
    const member = (group: string, userId: string): string =>
      subjectOf(change('acme', 'member.add', { group_id: group, user_id: userId }));
    expect(member('g.1', 'u')).not.toBe(member('g', '1.u'));
    const userSubjects = ['a.b', 'a_b', 'a-b', '~YQ', 'YQ'].map((id) => subjectOf(user('acme', id)));
    expect(new Set(userSubjects).size).toBe(userSubjects.length);
  });

  it('keep kinds of record apart: a user, its sign-out and its re-authentication are three subjects', () => {
    const subjects = new Set(
      (['user.upsert', 'user.sessions_revoke', 'user.reauthenticate'] as const).map((k) =>
        subjectOf(ofEveryKind('u1')[k]),
      ),
    );
    expect(subjects.size).toBe(3);
  });

  it('put each posture kind of the same subject on its own subject', () => {
    const device = subjectOf(change('acme', 'posture.clear', { kind: 'device', subject_id: 'x' }));
    const risk = subjectOf(change('acme', 'posture.clear', { kind: 'risk', subject_id: 'x' }));
    expect(device).not.toBe(risk);
  });
});

describe('sidRevocationOfSubject', () => {
  it('reads back the issuer and sid of every sid revocation, hostile values included', () => {
    for (const sid of HOSTILE.filter((v) => v !== '')) {
      for (const issuer of [null, 'https://login.example/acme/v2.0', sid]) {
        const c = change('acme', 'sid.revoke', { issuer, sid, revoked_at: 1, expires_at: 2, reason: 'r' });
        expect(sidRevocationOfSubject(subjectOf(c))).toEqual({ tenant: 'acme', issuer, sid });
      }
    }
  });

  it.each([
    ['a subject of another kind', 'ipsie.state.acme.session.s1'],
    ['another stream prefix', 'other.state.acme.sid.~.s1'],
    ['a token too few', 'ipsie.state.acme.sid.~'],
    ['a token too many', 'ipsie.state.acme.sid.~.s1.x'],
    [
      'an encoded token that is not canonical (a plain id, encoded)',
      `ipsie.state.acme.sid.~.~${Buffer.from('s1').toString('base64url')}`,
    ],
    ['an encoded token that is not base64url', 'ipsie.state.acme.sid.~.~%%%'],
    ['an unmarked token that is not plain', 'ipsie.state.acme.sid.~.s+1'],
  ])('reads nothing from %s', (_what, subject) => {
    expect(sidRevocationOfSubject(subject)).toBeUndefined();
  });
});
