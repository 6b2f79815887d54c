import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TenantCipher } from '../../src/tenant_keys/index.js';
import {
  OBSERVATIONS_SUBJECT_PREFIX,
  observationId,
  observationSubject,
  openObservation,
  parseObservation,
  sealObservation,
} from '../../src/observations/session_observation.js';
import type { SessionObservation } from '../../src/observations/session_observation.js';

const OBSERVED: SessionObservation = {
  v: 1,
  tenant: 'acme',
  session_id: 's-1',
  user_id: 'u-1',
  issuer: 'https://login.example/acme',
  idp_session_id: 'sid-1',
  ip: '198.51.100.7',
  previous_ip: '203.0.113.9',
  device_id: null,
  previous_device_id: null,
  user_agent: 'Mozilla/5.0',
  at: 1_800_000_000_000,
};

const wire = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

describe('session observations', () => {
  it('round-trip through their wire form', () => {
    expect(parseObservation(wire(OBSERVED))).toEqual(OBSERVED);
  });

  it('keep fields a newer sidecar added', () => {
    expect(parseObservation(wire({ ...OBSERVED, geo: 'NL' }))).toMatchObject({ geo: 'NL' });
  });

  it.each([
    ['not JSON', new TextEncoder().encode('{"v":1,')],
    ['JSON null', wire(null)],
    ['an array', wire([OBSERVED])],
    ['a string', wire('observation')],
    ['another version', wire({ ...OBSERVED, v: 2 })],
    ['the version as a string', wire({ ...OBSERVED, v: '1' })],
    ...(['tenant', 'session_id', 'user_id', 'issuer'] as const).flatMap((field) => [
      [`no ${field}`, wire({ ...OBSERVED, [field]: undefined })],
      [`an empty ${field}`, wire({ ...OBSERVED, [field]: '' })],
      [`${field} as a number`, wire({ ...OBSERVED, [field]: 7 })],
    ]),
    ...(['idp_session_id', 'ip', 'previous_ip', 'device_id', 'previous_device_id', 'user_agent'] as const).flatMap(
      (field) => [
        [`no ${field}`, wire({ ...OBSERVED, [field]: undefined })],
        [`${field} as an object`, wire({ ...OBSERVED, [field]: { v: 'x' } })],
      ],
    ),
    ['no time', wire({ ...OBSERVED, at: undefined })],
    ['the time as a string', wire({ ...OBSERVED, at: '1800000000000' })],
  ] as [string, Uint8Array][])('are dropped when %s', (_what, bytes) => {
    expect(parseObservation(bytes)).toBeUndefined();
  });

  it('have one id per session and place seen: sidecars that see the same change publish it once', () => {
    const id = observationId(OBSERVED);
    expect(observationId({ ...OBSERVED, at: OBSERVED.at + 5_000, user_agent: 'curl/8', previous_ip: null })).toBe(id);
    expect(observationId({ ...OBSERVED, ip: '198.51.100.8' })).not.toBe(id);
    expect(observationId({ ...OBSERVED, device_id: 'laptop-1' })).not.toBe(id);
    expect(observationId({ ...OBSERVED, session_id: 's-2' })).not.toBe(id);
    expect(observationId({ ...OBSERVED, tenant: 'globex' })).not.toBe(id);
  });

  it('have ids that are fixed-size base64url (a valid Nats-Msg-Id whatever the IP or device id holds)', () => {
    const odd = observationId({ ...OBSERVED, ip: 'x'.repeat(10_000), device_id: 'appareil-é\n' });
    expect(odd).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(observationId(OBSERVED)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('go to one subject per tenant', () => {
    expect(observationSubject('acme')).toBe(`${OBSERVATIONS_SUBJECT_PREFIX}.acme.session`);
    expect(observationSubject('acme')).not.toBe(observationSubject('globex'));
  });
});

describe('session observations of a tenant with a customer-managed key', () => {
  const acme = new TenantCipher('acme', new Map([['k1', randomBytes(32)]]), 'k1', randomBytes(32));

  it('carry no address or user agent on the stream, and open whole', () => {
    const sealed = sealObservation(OBSERVED, acme);
    const text = JSON.stringify(sealed);
    for (const value of ['198.51.100.7', '203.0.113.9', 'Mozilla/5.0']) expect(text).not.toContain(value);
    const read = parseObservation(wire(sealed));
    expect(read).toBeDefined();
    expect(openObservation(read!, () => acme)).toEqual(OBSERVED);
  });

  it('are deduplicated by a keyed id: a plain hash of the address is not on the stream', () => {
    expect(observationId(OBSERVED, acme)).not.toBe(observationId(OBSERVED));
    expect(observationId(OBSERVED, acme)).toBe(observationId(OBSERVED, acme));
  });

  it('refuse a sealed part moved to another observation, or read without the key', () => {
    const sealed = sealObservation(OBSERVED, acme);
    const moved = { ...sealObservation({ ...OBSERVED, session_id: 's-2' }, acme), sealed: sealed.sealed ?? '' };
    expect(() => openObservation(moved, () => acme)).toThrow(
      expect.objectContaining({ code: 'ERR_TENANT_KEY_SEALED_INVALID' }) as Error,
    );
    expect(() => openObservation(sealed, () => undefined)).toThrow(TypeError);
  });
});
