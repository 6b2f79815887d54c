/**
 * What each security event changes (docs/signals.md, Effects), computed
 * over an in-memory directory with a fixed clock. Every change a test reads
 * has passed `applicable`, the check every consumer's decoder makes.
 */
import { describe, expect, it } from 'vitest';
import type { Change, ChangeKind, ChangeOf } from '../../src/changes/index.js';
import { DEFAULT_MAX_SESSION_LIFETIME_S } from '../../src/config/index.js';
import type { TransmitterSettings } from '../../src/config/index.js';
import { CAEP_EVENT, parseEvents, RISC_EVENT, SSF_EVENT } from '../../src/signals/security_event.js';
import type { SecurityEvent } from '../../src/signals/security_event.js';
import { applicable, sidRevocationLifetimeS, signalEffects } from '../../src/signals/signal_effects.js';
import type { EffectsContext } from '../../src/signals/signal_effects.js';
import { parseSubjectIdentifier } from '../../src/signals/subject_identifier.js';
import { SubjectResolver } from '../../src/signals/subject_resolver.js';
import type { ResolvedSubject } from '../../src/signals/subject_resolver.js';
import type { SessionRecord, UserRecord } from '../../src/store/index.js';
import { InMemoryDirectory } from './in_memory_directory.js';
import { specExample } from './spec_examples.js';

const NOW = 1_800_000_000;
const IAT = NOW - 30;
const EVENT_TIME = NOW - 120;
const SID_REVOCATION_S = 43_260;
const ISSUER = 'https://idp.example.com/123456789/';

const JANE: UserRecord = {
  tenantId: 'acme',
  id: 'u-jane',
  userName: 'jane.smith@example.com',
  externalId: 'ext-jane',
  active: true,
  attributes: {
    department: 'R&D',
    emails: [
      { value: 'Jane.Smith@example.com', type: 'work', primary: true },
      { value: 'jane@home.example', type: 'home' },
    ],
    phoneNumbers: [
      { value: '+1 206 555 0123', type: 'work' },
      { value: '+1 206 555 0199', type: 'mobile' },
    ],
  },
  roles: ['admin'],
  extra: { nickname: 'js' },
  version: { sequence: 17, createdAt: 1_700_000_000_000, modifiedAt: 1_750_000_000_000 },
};

const OFF: UserRecord = { ...JANE, id: 'u-off', userName: 'off@example.com', active: false, attributes: {}, extra: {} };
const JOHN: UserRecord = { ...JANE, id: 'u-john', userName: 'john.roe@example.com', attributes: {}, extra: {} };

const session = (id: string, fields: Partial<SessionRecord> = {}): SessionRecord => ({
  tenantId: 'acme',
  id,
  userId: 'u-jane',
  issuer: ISSUER,
  acr: 'phr',
  amr: ['hwk'],
  authTime: NOW - 600,
  expiresAt: NOW + 3_000,
  createdAt: NOW - 600,
  revokedAt: undefined,
  revokeReason: undefined,
  ip: '198.51.100.7',
  deviceId: 'laptop-1',
  idpSessionId: 'sid-1',
  extra: { client: 'web' },
  ...fields,
});

function directory(): InMemoryDirectory {
  return new InMemoryDirectory()
    .addUser(JANE)
    .addUser(OFF)
    .addUser(JOHN)
    .bind({ tenantId: 'acme', issuer: ISSUER, subject: 'jane-sub', userId: 'u-jane' })
    .bind({ tenantId: 'acme', issuer: 'https://other-idp.example/', subject: 'js', userId: 'u-jane' })
    .addMembership('acme', 'u-jane', 'g-1')
    .addMembership('acme', 'u-jane', 'g-gone');
}

const event = (uri: string, body: Record<string, unknown> = {}): SecurityEvent => parseEvents({ [uri]: body }).event;

const subject = (fields: Partial<ResolvedSubject>): ResolvedSubject => ({
  userId: undefined,
  sessions: [],
  idpSessionId: undefined,
  deviceId: undefined,
  token: undefined,
  opaqueId: undefined,
  oldIdentifier: undefined,
  ...fields,
});

const JANE_SUBJECT = subject({ userId: 'u-jane', oldIdentifier: 'jane.smith@example.com' });

function effects(
  e: SecurityEvent,
  s: ResolvedSubject,
  options: { dir?: InMemoryDirectory; basis?: Map<string, number> } = {},
): Change[] {
  const context: EffectsContext = {
    tenantId: 'acme',
    directory: options.dir ?? directory(),
    now: NOW,
    issuedAt: IAT,
    sidRevocationS: SID_REVOCATION_S,
    clockToleranceS: 60,
    ...(options.basis === undefined ? {} : { basis: options.basis }),
  };
  return applicable(signalEffects(e, s, context));
}

/** The kind and data of each change, in order. */
const summary = (changes: readonly Change[]): { kind: ChangeKind; data: unknown }[] =>
  changes.map((c) => ({ kind: c.kind, data: c.data }));

/** The data of the one change there must be, of `kind`. */
function only<K extends ChangeKind>(changes: readonly Change[], kind: K): ChangeOf<K>['data'] {
  expect(changes.map((c) => c.kind)).toEqual([kind]);
  const data: unknown = changes[0]?.data;
  return data as ChangeOf<K>['data'];
}

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { err?: unknown }).err;
  }
  return undefined;
}

describe('every change', () => {
  it('is a change of the tenant, accepted now, with its own id', () => {
    const changes = effects(event(`${RISC_EVENT}account-purged`), JANE_SUBJECT);
    expect(changes.length).toBeGreaterThan(1);
    for (const c of changes) expect(c).toMatchObject({ v: 1, tenant: 'acme', at: NOW * 1000 });
    expect(new Set(changes.map((c) => c.id)).size).toBe(changes.length);
  });
});

describe('CAEP session-revoked', () => {
  const revoked = event(`${CAEP_EVENT}session-revoked`, {
    event_timestamp: EVENT_TIME,
    reason_admin: { en: 'Landspeed Policy Violation: C076E82F' },
  });

  it('revokes every live session it names with its whole state, and records the revoked IdP session id', () => {
    const live = session('s-1');
    const changes = effects(revoked, subject({ userId: 'u-jane', sessions: [live], idpSessionId: 'sid-1' }));
    expect(summary(changes)).toEqual([
      {
        kind: 'session.revoke',
        data: {
          id: 's-1',
          user_id: 'u-jane',
          issuer: ISSUER,
          acr: 'phr',
          amr: ['hwk'],
          auth_time: NOW - 600,
          expires_at: NOW + 3_000,
          created_at: NOW - 600,
          revoked_at: NOW,
          revoke_reason: 'Landspeed Policy Violation: C076E82F',
          ip: '198.51.100.7',
          device_id: 'laptop-1',
          idp_session_id: 'sid-1',
          extra: { client: 'web' },
        },
      },
      {
        kind: 'sid.revoke',
        data: {
          issuer: null,
          sid: 'sid-1',
          revoked_at: NOW,
          expires_at: NOW + SID_REVOCATION_S,
          reason: 'Landspeed Policy Violation: C076E82F',
        },
      },
    ]);
  });

  it('leaves sessions already revoked as they were (their first revocation stands)', () => {
    const changes = effects(
      revoked,
      subject({
        sessions: [session('s-old', { revokedAt: NOW - 9, revokeReason: 'logout' }), session('s-new')],
        idpSessionId: 'sid-1',
      }),
    );
    expect(changes.map((c) => [c.kind, c.kind === 'session.revoke' ? c.data.id : '-'])).toEqual([
      ['session.revoke', 's-new'],
      ['sid.revoke', '-'],
    ]);
  });

  it('records the revocation of an IdP session no stored session has yet, for the tokens and sign-ins that carry it', () => {
    expect(only(effects(revoked, subject({ idpSessionId: 'sid-later' })), 'sid.revoke')).toMatchObject({
      sid: 'sid-later',
    });
  });

  it('records no sid revocation for a session named by our own id', () => {
    expect(effects(revoked, subject({ userId: 'u-jane', sessions: [session('s-1')] })).map((c) => c.kind)).toEqual([
      'session.revoke',
    ]);
  });

  it('naming only a user, signs out every session authenticated up to the event time', () => {
    expect(only(effects(revoked, JANE_SUBJECT), 'user.sessions_revoke')).toEqual({
      user_id: 'u-jane',
      before: EVENT_TIME,
      reason: 'Landspeed Policy Violation: C076E82F',
    });
  });

  it('takes the SET’s iat as the event time when the event carries none', () => {
    expect(only(effects(event(`${CAEP_EVENT}session-revoked`), JANE_SUBJECT), 'user.sessions_revoke')).toMatchObject({
      before: IAT,
      reason: 'session revoked by the identity provider',
    });
  });

  it('never moves an earlier sign-out back: a stale event keeps the later one', () => {
    const dir = directory().signOut('acme', 'u-jane', NOW - 5);
    expect(only(effects(revoked, JANE_SUBJECT, { dir }), 'user.sessions_revoke').before).toBe(NOW - 5);
  });

  it('reads RISC sessions-revoked (deprecated) the same way', () => {
    expect(only(effects(event(`${RISC_EVENT}sessions-revoked`), JANE_SUBJECT), 'user.sessions_revoke').before).toBe(
      IAT,
    );
  });

  it('is refused when its subject names no user, no session and no IdP session of this tenant', () => {
    expect(refusal(() => effects(revoked, subject({})))).toBe('invalid_request');
  });
});

describe('CAEP token-claims-change', () => {
  const changed = event(`${CAEP_EVENT}token-claims-change`, {
    event_timestamp: EVENT_TIME,
    claims: { role: 'ro-admin' },
  });

  it('revokes the token a jwt_id names', () => {
    expect(only(effects(changed, subject({ token: { iss: ISSUER, jti: 'jti-1' } })), 'token.revoke')).toEqual({
      jti: 'jti-1',
      user_id: null,
      revoked_at: NOW,
      expires_at: null,
    });
  });

  it('merges the new claims into the user’s claims posture, the event’s values winning', () => {
    const dir = directory().setPosture('acme', 'claims', 'u-jane', {
      claims: { role: 'admin', trusted_network: true },
    });
    expect(only(effects(changed, JANE_SUBJECT, { dir }), 'posture.set')).toEqual({
      kind: 'claims',
      subject_id: 'u-jane',
      state: { claims: { role: 'ro-admin', trusted_network: true }, changed_at: EVENT_TIME },
    });
  });

  it('replaces stored claims that are not an object', () => {
    const dir = directory().setPosture('acme', 'claims', 'u-jane', { claims: ['role', 'admin'] });
    expect(only(effects(changed, JANE_SUBJECT, { dir }), 'posture.set').state).toEqual({
      claims: { role: 'ro-admin' },
      changed_at: EVENT_TIME,
    });
  });

  it('is refused when it names neither a token nor a user', () => {
    expect(refusal(() => effects(changed, subject({ opaqueId: 'x' })))).toBe('invalid_request');
  });
});

describe('CAEP credential-change', () => {
  const credential = (changeType: string): SecurityEvent =>
    event(`${CAEP_EVENT}credential-change`, {
      credential_type: 'password',
      change_type: changeType,
      event_timestamp: EVENT_TIME,
    });

  it('records an enrolment (create) and asks for nothing more', () => {
    expect(only(effects(credential('create'), JANE_SUBJECT), 'posture.set')).toEqual({
      kind: 'credential',
      subject_id: 'u-jane',
      state: { last_change: { credential_type: 'password', change_type: 'create', at: EVENT_TIME } },
    });
  });

  it.each(['update', 'revoke', 'delete'])('asks for re-authentication after a credential %s', (changeType) => {
    const changes = effects(credential(changeType), JANE_SUBJECT);
    expect(changes.map((c) => c.kind)).toEqual(['posture.set', 'user.reauthenticate']);
    expect(changes[1]!.data).toEqual({ user_id: 'u-jane', after: EVENT_TIME });
  });

  it('never moves an earlier re-authentication requirement back', () => {
    const dir = directory().requireReauthentication('acme', 'u-jane', NOW - 1);
    expect(effects(credential('revoke'), JANE_SUBJECT, { dir })[1]!.data).toEqual({
      user_id: 'u-jane',
      after: NOW - 1,
    });
  });

  it('keeps what the credential posture already says (a compromise stays recorded)', () => {
    const dir = directory().setPosture('acme', 'credential', 'u-jane', {
      compromised: { credential_type: 'password', at: 1 },
    });
    expect(effects(credential('create'), JANE_SUBJECT, { dir })[0]!.data).toMatchObject({
      state: { compromised: { credential_type: 'password', at: 1 }, last_change: { change_type: 'create' } },
    });
  });
});

describe('CAEP assurance-level-change', () => {
  const level = (direction: string | undefined, namespace = 'NIST-AAL'): SecurityEvent =>
    event(`${CAEP_EVENT}assurance-level-change`, {
      namespace,
      current_level: 'nist-aal1',
      previous_level: 'nist-aal2',
      ...(direction === undefined ? {} : { change_direction: direction }),
      event_timestamp: EVENT_TIME,
    });

  it('records a decrease and when it happened', () => {
    expect(only(effects(level('decrease'), JANE_SUBJECT), 'posture.set')).toEqual({
      kind: 'assurance',
      subject_id: 'u-jane',
      state: {
        'NIST-AAL': {
          current_level: 'nist-aal1',
          previous_level: 'nist-aal2',
          change_direction: 'decrease',
          at: EVENT_TIME,
        },
        decreased_at: EVENT_TIME,
      },
    });
  });

  it('keeps the other namespaces, and an earlier decrease through a later increase', () => {
    const dir = directory().setPosture('acme', 'assurance', 'u-jane', {
      'NIST-IAL': { current_level: 'nist-ial2' },
      decreased_at: NOW - 3_600,
    });
    expect(only(effects(level('increase'), JANE_SUBJECT, { dir }), 'posture.set').state).toMatchObject({
      'NIST-IAL': { current_level: 'nist-ial2' },
      'NIST-AAL': { change_direction: 'increase' },
      decreased_at: NOW - 3_600,
    });
  });

  it('records a change of unknown direction as such, without a decrease time', () => {
    const state = only(effects(level(undefined), JANE_SUBJECT), 'posture.set').state;
    expect(state).toEqual({
      'NIST-AAL': { current_level: 'nist-aal1', previous_level: 'nist-aal2', change_direction: null, at: EVENT_TIME },
    });
  });
});

describe('CAEP device-compliance-change', () => {
  const compliance = event(`${CAEP_EVENT}device-compliance-change`, {
    previous_status: 'compliant',
    current_status: 'not-compliant',
    event_timestamp: EVENT_TIME,
  });

  it('marks the device named not compliant, keeping its other posture', () => {
    const dir = directory().setPosture('acme', 'device', 'laptop-1', { risk: { level: 'low' } });
    expect(only(effects(compliance, subject({ deviceId: 'laptop-1' }), { dir }), 'posture.set')).toEqual({
      kind: 'device',
      subject_id: 'laptop-1',
      state: { risk: { level: 'low' }, compliant: false, status: 'not-compliant', changed_at: EVENT_TIME },
    });
  });

  it('is refused without a device in the subject', () => {
    expect(refusal(() => effects(compliance, JANE_SUBJECT))).toBe('invalid_request');
  });

  it('is refused when the device id is longer than the store takes, rather than lost after being acknowledged', () => {
    expect(refusal(() => effects(compliance, subject({ deviceId: 'd'.repeat(300) })))).toBe('invalid_request');
  });
});

describe('CAEP risk-level-change', () => {
  const risk = (principal: string): SecurityEvent =>
    event(`${CAEP_EVENT}risk-level-change`, {
      principal,
      current_level: 'HIGH',
      previous_level: 'LOW',
      risk_reason: 'PASSWORD_FOUND_IN_DATA_BREACH',
      event_timestamp: EVENT_TIME,
    });

  it.each(['USER', 'SESSION'])('records the user’s risk for principal %s', (principal) => {
    expect(only(effects(risk(principal), JANE_SUBJECT), 'posture.set')).toEqual({
      kind: 'risk',
      subject_id: 'u-jane',
      state: {
        level: 'high',
        previous_level: 'low',
        at: EVENT_TIME,
        principal,
        reason: 'PASSWORD_FOUND_IN_DATA_BREACH',
      },
    });
  });

  it('records a device’s risk on the device', () => {
    expect(only(effects(risk('DEVICE'), subject({ deviceId: 'laptop-1' })), 'posture.set')).toEqual({
      kind: 'device',
      subject_id: 'laptop-1',
      state: { risk: { level: 'high', previous_level: 'low', at: EVENT_TIME } },
    });
  });

  it('is refused for a DEVICE without a device, or a USER without a user', () => {
    expect(refusal(() => effects(risk('DEVICE'), JANE_SUBJECT))).toBe('invalid_request');
    expect(refusal(() => effects(risk('USER'), subject({ deviceId: 'laptop-1' })))).toBe('invalid_request');
  });

  it.each(['TENANT', 'ORG_UNIT', 'GROUP'])('changes nothing for principal %s (no such posture here)', (principal) => {
    expect(effects(risk(principal), JANE_SUBJECT)).toEqual([]);
  });
});

describe('RISC account events', () => {
  it('account-disabled marks the account disabled and signs out every session up to now, whatever the event time', () => {
    const changes = effects(
      event(`${RISC_EVENT}account-disabled`, { reason: 'hijacking', event_timestamp: EVENT_TIME }),
      JANE_SUBJECT,
    );
    expect(summary(changes)).toEqual([
      {
        kind: 'posture.set',
        data: { kind: 'account', subject_id: 'u-jane', state: { disabled: true, reason: 'hijacking', at: EVENT_TIME } },
      },
      { kind: 'user.sessions_revoke', data: { user_id: 'u-jane', before: NOW, reason: 'account disabled: hijacking' } },
    ]);
  });

  it('account-enabled lifts the disablement, and does not reactivate an account SCIM deactivated', () => {
    const changes = effects(event(`${RISC_EVENT}account-enabled`), subject({ userId: 'u-off' }));
    expect(summary(changes)).toEqual([
      {
        kind: 'posture.set',
        data: { kind: 'account', subject_id: 'u-off', state: { disabled: false, reason: null, at: IAT } },
      },
    ]);
  });

  it('account-purged deletes the user, every membership row and every IdP binding', () => {
    expect(summary(effects(event(`${RISC_EVENT}account-purged`), JANE_SUBJECT))).toEqual([
      { kind: 'user.delete', data: { id: 'u-jane' } },
      { kind: 'member.remove', data: { group_id: 'g-1', user_id: 'u-jane' } },
      { kind: 'member.remove', data: { group_id: 'g-gone', user_id: 'u-jane' } },
      { kind: 'binding.delete', data: { issuer: ISSUER, subject: 'jane-sub' } },
      { kind: 'binding.delete', data: { issuer: 'https://other-idp.example/', subject: 'js' } },
    ]);
  });

  it('account-credential-change-required records that a change is required', () => {
    expect(
      only(effects(event(`${RISC_EVENT}account-credential-change-required`), JANE_SUBJECT), 'posture.set'),
    ).toEqual({
      kind: 'credential',
      subject_id: 'u-jane',
      state: { change_required: true, change_required_at: IAT },
    });
  });

  it('credential-compromise records the compromise and signs out every session up to now', () => {
    const changes = effects(event(`${RISC_EVENT}credential-compromise`, { credential_type: 'password' }), JANE_SUBJECT);
    expect(summary(changes)).toEqual([
      {
        kind: 'posture.set',
        data: {
          kind: 'credential',
          subject_id: 'u-jane',
          state: { compromised: { credential_type: 'password', at: IAT } },
        },
      },
      {
        kind: 'user.sessions_revoke',
        data: { user_id: 'u-jane', before: NOW, reason: 'credential compromised (password)' },
      },
    ]);
  });

  it.each([
    ['account-disabled', {}],
    ['account-enabled', {}],
    ['account-purged', {}],
    ['account-credential-change-required', {}],
    ['credential-compromise', { credential_type: 'password' }],
  ])('%s is refused when its subject names no user of this tenant', (type, body) => {
    expect(refusal(() => effects(event(`${RISC_EVENT}${type}`, body), subject({ opaqueId: 'x' })))).toBe(
      'invalid_request',
    );
  });
});

describe('RISC identifier-changed', () => {
  const changedTo = (newValue: string | undefined): SecurityEvent =>
    event(`${RISC_EVENT}identifier-changed`, newValue === undefined ? {} : { 'new-value': newValue });

  it('replaces the old address as userName and in emails, keeping the rest of the user', () => {
    const basis = new Map<string, number>();
    const changes = effects(changedTo('jane.doe@example.com'), JANE_SUBJECT, { basis });
    const data = only(changes, 'user.upsert');
    expect(data).toEqual({
      id: 'u-jane',
      user_name: 'jane.doe@example.com',
      external_id: 'ext-jane',
      active: true,
      attributes: {
        ...JANE.attributes,
        emails: [
          { value: 'jane.doe@example.com', type: 'work', primary: true },
          { value: 'jane@home.example', type: 'home' },
        ],
      },
      roles: ['admin'],
      created_at: 1_700_000_000_000,
      extra: { nickname: 'js' },
    });
    expect(basis).toEqual(new Map([[changes[0]!.id, 17]]));
  });

  it('keeps a deactivated user deactivated', () => {
    const changes = effects(
      changedTo('off2@example.com'),
      subject({ userId: 'u-off', oldIdentifier: 'off@example.com' }),
    );
    expect(only(changes, 'user.deactivate')).toMatchObject({ user_name: 'off2@example.com', active: false });
  });

  it('is refused when another user of the tenant already has the new userName', () => {
    expect(refusal(() => effects(changedTo('JOHN.ROE@example.com'), JANE_SUBJECT))).toBe('invalid_request');
  });

  it('changes nothing without a new value, or without the old address to replace', () => {
    expect(effects(changedTo(undefined), JANE_SUBJECT)).toEqual([]);
    expect(effects(changedTo('x@example.com'), subject({ userId: 'u-jane' }))).toEqual([]);
  });
});

describe('RISC identifier-recycled', () => {
  const recycled = event(`${RISC_EVENT}identifier-recycled`);

  it('takes a recycled address off the old user: out of emails, and out of the userName', () => {
    const data = only(effects(recycled, JANE_SUBJECT), 'user.upsert');
    expect(data.user_name).toBe('recycled:u-jane:jane.smith@example.com');
    expect(data.attributes['emails']).toEqual([{ value: 'jane@home.example', type: 'home' }]);
    expect(data.attributes['phoneNumbers']).toEqual(JANE.attributes['phoneNumbers']);
  });

  it('takes a recycled phone number off the old user, however it is punctuated', () => {
    const data = only(
      effects(recycled, subject({ userId: 'u-jane', oldPhoneNumber: 'tel:+1-206-555-0123' })),
      'user.upsert',
    );
    expect(data.user_name).toBe('jane.smith@example.com');
    expect(data.attributes['phoneNumbers']).toEqual([{ value: '+1 206 555 0199', type: 'mobile' }]);
    expect(data.attributes['emails']).toEqual(JANE.attributes['emails']);
  });

  it('is refused when the subject names neither an address nor a phone number', () => {
    expect(refusal(() => effects(recycled, subject({ userId: 'u-jane' })))).toBe('invalid_request');
  });
});

describe('events with no effect', () => {
  it.each([
    [`${CAEP_EVENT}session-established`, {}],
    [`${CAEP_EVENT}session-presented`, {}],
    [`${SSF_EVENT}verification`, { state: 's' }],
    [`${SSF_EVENT}stream-updated`, { status: 'paused' }],
    ['urn:ietf:params:scim:event:prov:create:notice', {}],
  ])('%s changes nothing, whoever it names', (uri, body) => {
    expect(effects(event(uri, body), subject({}))).toEqual([]);
    expect(effects(event(uri, body), JANE_SUBJECT)).toEqual([]);
  });
});

describe('the specifications’ examples, parsed, resolved and applied', () => {
  const TRANSMITTER: TransmitterSettings = {
    issuer: 'https://idp.example.com/123456789/',
    jwksUri: undefined,
    discovery: true,
    audience: 'https://sp.example.com/caep',
    algorithms: ['RS256'],
    maxSetAgeS: 86_400,
    streamId: undefined,
    tenantSubject: '123456789',
    push: undefined,
    poll: undefined,
    management: undefined,
  };
  const dir = directory()
    .bind({
      tenantId: 'acme',
      issuer: 'https://idp.example.com/123456789/',
      subject: 'jane.smith@example.com',
      userId: 'u-jane',
    })
    .bind({ tenantId: 'acme', issuer: 'https://idp.example.com/', subject: '7375626A656374', userId: 'u-jane' })
    .addSession(session('s-caep', { idpSessionId: 'dMTlD|1600802906337.16|16008.16' }));
  const applied = (name: string): Change[] => {
    const example = specExample(name);
    const resolved = new SubjectResolver(dir).resolve('acme', parseSubjectIdentifier(example.sub_id), TRANSMITTER);
    return effects(parseEvents(example.events).event, resolved, { dir });
  };

  it('caep-01 revokes the sessions of the IdP session it names, and that IdP session', () => {
    expect(applied('caep-01-session-revoked').map((c) => c.kind)).toEqual(['session.revoke', 'sid.revoke']);
  });

  it('caep-03 signs the user out as of its (2021) event time: sessions authenticated since were not revoked by it', () => {
    expect(only(applied('caep-03-session-revoked'), 'user.sessions_revoke')).toEqual({
      user_id: 'u-jane',
      before: 1_615_304_991,
      reason: 'Policy Violation: C076E822',
    });
  });

  it('risc-02 disables the account bound to its iss_sub and ends its sessions now', () => {
    expect(applied('risc-02-account-disabled').map((c) => c.kind)).toEqual(['posture.set', 'user.sessions_revoke']);
  });

  it('caep-04 revokes the token its jwt_id names', () => {
    expect(only(applied('caep-04-token-claims-change'), 'token.revoke').jti).toBe(
      'f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7',
    );
  });
});

describe('applicable', () => {
  it('refuses the event when one of its changes is one no consumer would decode', () => {
    const tooLong = { ...JANE, id: 'u'.repeat(300) };
    const dir = directory().addUser(tooLong);
    expect(
      refusal(() => effects(event(`${RISC_EVENT}account-purged`), { ...JANE_SUBJECT, userId: tooLong.id }, { dir })),
    ).toBe('invalid_request');
  });
});

describe('sidRevocationLifetimeS', () => {
  it('lasts as long as the longest session any IdP of the tenant allows, plus the clock tolerance', () => {
    expect(sidRevocationLifetimeS([{ maxSessionLifetimeS: 3_600 }, { maxSessionLifetimeS: 43_200.5 }], 60)).toBe(
      43_201 + 60,
    );
  });

  it('uses the default maximum session lifetime without IdPs', () => {
    expect(sidRevocationLifetimeS([], 60)).toBe(DEFAULT_MAX_SESSION_LIFETIME_S + 60);
  });
});
