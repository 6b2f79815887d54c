/**
 * SET `events` parsing (SSF 1.0 §4.2, CAEP 1.0, RISC 1.0): every example the
 * specifications print, then what a hostile or broken transmitter could
 * send instead. A refusal is RFC 8935's `invalid_request`.
 */
import { describe, expect, it } from 'vitest';
import { CAEP_EVENT, parseEvents, reasonText, RISC_EVENT, SSF_EVENT } from '../../src/signals/security_event.js';
import type { SecurityEvent } from '../../src/signals/security_event.js';
import { SECURITY_EVENT_TYPES } from '../../src/security_event_types.js';
import type { SecurityEventName } from '../../src/security_event_types.js';
import { SPEC_EXAMPLE_NAMES, specExample } from './spec_examples.js';

const TS = 1_615_304_991;

/** What each specification example parses to. */
const EXPECTED: Readonly<Record<string, Partial<SecurityEvent> & Pick<SecurityEvent, 'type'>>> = {
  'caep-01-session-revoked': {
    type: 'session-revoked',
    eventTimestamp: TS,
    reasonAdmin: {},
    initiatingEntity: undefined,
  },
  'caep-02-session-revoked': {
    type: 'session-revoked',
    eventTimestamp: TS,
    initiatingEntity: 'policy',
    reasonAdmin: { en: 'Landspeed Policy Violation: C076E82F' },
  },
  'caep-03-session-revoked': {
    type: 'session-revoked',
    initiatingEntity: 'policy',
    reasonAdmin: { en: 'Policy Violation: C076E822' },
  },
  'caep-04-token-claims-change': { type: 'token-claims-change', claims: { role: 'ro-admin' } },
  'caep-05-token-claims-change': { type: 'token-claims-change', claims: { trusted_network: false } },
  'caep-06-token-claims-change': {
    type: 'token-claims-change',
    claims: { 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims/role': 'ro-admin' },
  },
  'caep-07-credential-change': {
    type: 'credential-change',
    credentialType: 'fido2-roaming',
    changeType: 'create',
    initiatingEntity: 'user',
  },
  'caep-08-assurance-level-change': {
    type: 'assurance-level-change',
    namespace: 'NIST-AAL',
    currentLevel: 'nist-aal2',
    previousLevel: 'nist-aal1',
    changeDirection: 'increase',
  },
  'caep-09-assurance-level-change': {
    type: 'assurance-level-change',
    namespace: 'Retinal Scan',
    currentLevel: 'hi-res-scan',
    previousLevel: undefined,
    changeDirection: undefined,
  },
  'caep-10-device-compliance-change': {
    type: 'device-compliance-change',
    previousStatus: 'compliant',
    currentStatus: 'not-compliant',
  },
  'caep-11-session-established': { type: 'session-established', eventTimestamp: TS },
  'caep-12-session-presented': { type: 'session-presented', eventTimestamp: TS },
  // CAEP prints the levels in capitals; they are read case-insensitively.
  'caep-13-risk-level-change': {
    type: 'risk-level-change',
    principal: 'USER',
    currentLevel: 'low',
    previousLevel: 'high',
    riskReason: 'PASSWORD_FOUND_IN_DATA_BREACH',
  },
  'risc-01-account-credential-change-required': { type: 'account-credential-change-required' },
  'risc-02-account-disabled': { type: 'account-disabled', reason: 'hijacking' },
  'risc-03-identifier-changed': { type: 'identifier-changed', newValue: 'john.roe@example.com' },
  'risc-04-identifier-recycled': { type: 'identifier-recycled' },
  'risc-05-credential-compromise': { type: 'credential-compromise', credentialType: 'password' },
  'ssf-01-verification': { type: 'verification', state: 'VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo=' },
  'ssf-02-account-enabled': { type: 'account-enabled' },
  'ssf-03-account-disabled': { type: 'account-disabled', reason: 'hijacking' },
  'ssf-04-token-claims-change': { type: 'token-claims-change', claims: { token: 'some-token-value' } },
  'ssf-05-session-revoked': { type: 'session-revoked', eventTimestamp: 1_600_975_810 },
  'ssf-06-token-claims-change': { type: 'token-claims-change', claims: { role: 'ro-admin' } },
  // Its events are fine; its sub_id format (catalog_item) is refused (subject_identifier.test.ts).
  'ssf-07-token-claims-change': { type: 'token-claims-change', claims: { role: 'ro-admin' } },
  'ssf-08-verification': { type: 'verification', state: 'VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo=' },
  'ssf-09-stream-updated': { type: 'stream-updated', status: 'paused', reason: 'Internal error' },
};

const SESSION_REVOKED = `${CAEP_EVENT}session-revoked`;

/** The RFC 8935 `err` of the refusal `fn` throws; undefined when it does not throw. */
function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    const { code, err } = error as { code?: unknown; err?: unknown };
    return { code, err };
  }
  return undefined;
}

const INVALID_REQUEST = { code: 'ERR_SET_INVALID_REQUEST', err: 'invalid_request' };

const one = (uri: string, body: unknown): SecurityEvent => parseEvents({ [uri]: body }).event;

describe('the specifications’ example SETs', () => {
  it('are all read by this test', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual([...SPEC_EXAMPLE_NAMES]);
  });

  it.each(SPEC_EXAMPLE_NAMES)('%s parses to its event', (name) => {
    const { events } = specExample(name);
    const { uri, event } = parseEvents(events);
    expect(uri).toBe(Object.keys(events as object)[0]);
    expect(event).toMatchObject(EXPECTED[name]!);
  });
});

/** The least each registered type requires: a new type without an entry here does not compile. */
const MINIMAL_MEMBERS: Readonly<Record<SecurityEventName, Record<string, unknown>>> = {
  'session-revoked': {},
  'token-claims-change': { claims: { role: 'x' } },
  'credential-change': { credential_type: 'password', change_type: 'update' },
  'assurance-level-change': { namespace: 'RFC8176', current_level: 'mfa' },
  'device-compliance-change': { previous_status: 'compliant', current_status: 'not-compliant' },
  'risk-level-change': { principal: 'user', current_level: 'high' },
  'session-established': {},
  'session-presented': {},
  'account-disabled': {},
  'account-enabled': {},
  'account-purged': {},
  'account-credential-change-required': {},
  'sessions-revoked': {},
  'credential-compromise': { credential_type: 'password' },
  'identifier-changed': {},
  'identifier-recycled': {},
  verification: {},
  'stream-updated': { status: 'paused' },
};

describe('parseEvents', () => {
  it.each(Object.keys(SECURITY_EVENT_TYPES) as SecurityEventName[])(
    'reads the registered type %s from its URI as that type',
    (name) => {
      const { event } = parseEvents({ [SECURITY_EVENT_TYPES[name].uri]: MINIMAL_MEMBERS[name] });
      expect(event.type).toBe(name);
    },
  );

  it('ignores members it does not know, at the event level (SSF §4.2.3)', () => {
    expect(one(SESSION_REVOKED, { fp_ua: 'abb0', ext_id: '1', future_member: { x: 1 } })).toEqual({
      type: 'session-revoked',
      eventTimestamp: undefined,
      initiatingEntity: undefined,
      reasonAdmin: {},
    });
  });

  it('floors a fractional event_timestamp to whole seconds', () => {
    expect(one(SESSION_REVOKED, { event_timestamp: 1_615_304_991.999 }).eventTimestamp).toBe(1_615_304_991);
  });

  it('stores an event of a type it does not act on as unsupported, with its URI', () => {
    for (const uri of [
      'urn:ietf:params:scim:event:prov:create:notice',
      `${CAEP_EVENT}session-revoked-v2`,
      `${RISC_EVENT}opt-out-effective`,
      `${SSF_EVENT}something-new`,
      SESSION_REVOKED.toUpperCase(),
    ]) {
      expect(one(uri, {})).toMatchObject({ type: 'unsupported', uri });
    }
  });

  it('reads RISC sessions-revoked (deprecated) as its own type', () => {
    expect(one(`${RISC_EVENT}sessions-revoked`, {}).type).toBe('sessions-revoked');
  });

  it('reads the RISC identifier-changed "new-value" by its hyphenated name only', () => {
    expect(one(`${RISC_EVENT}identifier-changed`, { 'new-value': 'a@x' })).toMatchObject({ newValue: 'a@x' });
    expect(one(`${RISC_EVENT}identifier-changed`, { new_value: 'a@x' })).toMatchObject({ newValue: undefined });
  });

  it('reads the risk principal and levels in any case', () => {
    expect(
      one(`${CAEP_EVENT}risk-level-change`, { principal: 'user', current_level: 'Medium', previous_level: 'LOW' }),
    ).toMatchObject({ principal: 'USER', currentLevel: 'medium', previousLevel: 'low' });
  });

  it('keeps unicode reasons as sent, by language tag', () => {
    const reasons = { en: 'Land speed violation.', es: 'Violación de velocidad en tierra.', 'zh-Hant': '異常登入' };
    expect(one(SESSION_REVOKED, { reason_admin: reasons }).reasonAdmin).toEqual(reasons);
  });

  it.each([
    ['no events claim', undefined],
    ['events as null', null],
    ['events as a list', [{ [SESSION_REVOKED]: {} }]],
    ['events as a string', SESSION_REVOKED],
    ['no event', {}],
    ['two events', { [SESSION_REVOKED]: {}, [`${CAEP_EVENT}credential-change`]: {} }],
    ['an event that is null', { [SESSION_REVOKED]: null }],
    ['an event that is a list', { [SESSION_REVOKED]: [] }],
    ['an event that is a string', { [SESSION_REVOKED]: 'revoked' }],
  ])('refuses a SET with %s', (_what, events) => {
    expect(refusal(() => parseEvents(events))).toEqual(INVALID_REQUEST);
  });

  it('takes the last of duplicated event keys, as RFC 7519 §4 lets a JWT parser do', () => {
    const events = JSON.parse(`{"${SESSION_REVOKED}":{},"${SESSION_REVOKED}":{"event_timestamp":1}}`) as unknown;
    expect(parseEvents(events).event.eventTimestamp).toBe(1);
  });

  it('refuses two events even when both name the same event (the CAEP interoperability profile: exactly one)', () => {
    expect(refusal(() => parseEvents({ [SESSION_REVOKED]: {}, [`${RISC_EVENT}sessions-revoked`]: {} }))).toEqual(
      INVALID_REQUEST,
    );
  });

  it.each([
    ['a negative event_timestamp', SESSION_REVOKED, { event_timestamp: -1 }],
    ['an event_timestamp as a string', SESSION_REVOKED, { event_timestamp: '1615304991' }],
    ['an event_timestamp as null', SESSION_REVOKED, { event_timestamp: null }],
    ['an empty initiating_entity', SESSION_REVOKED, { initiating_entity: '' }],
    ['an initiating_entity that is not a string', SESSION_REVOKED, { initiating_entity: ['admin'] }],
    ['reason_admin as a string', SESSION_REVOKED, { reason_admin: 'because' }],
    ['reason_admin as a list', SESSION_REVOKED, { reason_admin: ['because'] }],
    ['a reason_admin text that is not a string', SESSION_REVOKED, { reason_admin: { en: 1 } }],
    ['token-claims-change without claims', `${CAEP_EVENT}token-claims-change`, {}],
    ['token-claims-change with claims as a list', `${CAEP_EVENT}token-claims-change`, { claims: [['role', 'x']] }],
    ['credential-change without credential_type', `${CAEP_EVENT}credential-change`, { change_type: 'create' }],
    [
      'credential-change with an unknown change_type',
      `${CAEP_EVENT}credential-change`,
      { credential_type: 'password', change_type: 'rotate' },
    ],
    [
      'credential-change with a change_type in capitals',
      `${CAEP_EVENT}credential-change`,
      { credential_type: 'password', change_type: 'CREATE' },
    ],
    ['assurance-level-change without namespace', `${CAEP_EVENT}assurance-level-change`, { current_level: 'nist-aal2' }],
    ['assurance-level-change without current_level', `${CAEP_EVENT}assurance-level-change`, { namespace: 'NIST-AAL' }],
    [
      'assurance-level-change with an unknown direction',
      `${CAEP_EVENT}assurance-level-change`,
      { namespace: 'NIST-AAL', current_level: '2', change_direction: 'sideways' },
    ],
    [
      'device-compliance-change with an unknown status',
      `${CAEP_EVENT}device-compliance-change`,
      { previous_status: 'compliant', current_status: 'unknown' },
    ],
    [
      'device-compliance-change without previous_status',
      `${CAEP_EVENT}device-compliance-change`,
      { current_status: 'compliant' },
    ],
    ['risk-level-change without principal', `${CAEP_EVENT}risk-level-change`, { current_level: 'LOW' }],
    [
      'risk-level-change with an unknown level',
      `${CAEP_EVENT}risk-level-change`,
      { principal: 'USER', current_level: 'CRITICAL' },
    ],
    [
      'risk-level-change with an unknown previous level',
      `${CAEP_EVENT}risk-level-change`,
      { principal: 'USER', current_level: 'LOW', previous_level: 'NONE' },
    ],
    ['credential-compromise without credential_type', `${RISC_EVENT}credential-compromise`, {}],
    [
      'account-disabled with a reason that is not a string',
      `${RISC_EVENT}account-disabled`,
      { reason: { code: 'hijacking' } },
    ],
    ['stream-updated without status', `${SSF_EVENT}stream-updated`, { reason: 'x' }],
    ['verification with an empty state', `${SSF_EVENT}verification`, { state: '' }],
  ])('refuses %s', (_what, uri, body) => {
    expect(refusal(() => one(uri, body))).toEqual(INVALID_REQUEST);
  });
});

describe('reasonText', () => {
  const revoked = (reasons: Record<string, string>): SecurityEvent => one(SESSION_REVOKED, { reason_admin: reasons });

  it('gives the English admin reason first', () => {
    expect(reasonText(revoked({ fr: 'Violation', en: 'Violation of policy' }), 'fallback')).toBe('Violation of policy');
  });

  it('gives any admin reason without an English one', () => {
    expect(reasonText(revoked({ it: 'Violazione' }), 'fallback')).toBe('Violazione');
  });

  it('gives the fallback without any', () => {
    expect(reasonText(revoked({}), 'fallback')).toBe('fallback');
  });
});
