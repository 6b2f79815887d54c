/**
 * What a sidecar publishes when a live session is presented from elsewhere
 * (IPSIE SL3): the session's own facts, where it was established as the
 * "previous" place, and where it is now.
 */
import { describe, expect, it } from 'vitest';
import { observationId, observationOf, parseObservation } from '../../src/observations/session_observation.js';
import type { PresentedSession } from '../../src/check/index.js';

const PRESENTED: PresentedSession = {
  session: {
    tenantId: 'acme',
    id: 's-1',
    userId: 'u-1',
    issuer: 'https://idp.example',
    acr: 'phr',
    amr: ['pwd', 'otp'],
    authTime: 1_700_000_000,
    expiresAt: 1_700_003_600,
    createdAt: 1_700_000_000,
    revokedAt: undefined,
    revokeReason: undefined,
    ip: '198.51.100.7',
    deviceId: 'laptop-1',
    idpSessionId: 'sid-9',
  },
  context: { ip: '203.0.113.9', userAgent: 'Mozilla/5.0', deviceId: 'phone-2', attributes: {} },
};

describe('observationOf (a presented session as an observation)', () => {
  it('names where the session was established as previous, and where it is now', () => {
    expect(observationOf(PRESENTED, 1_700_000_100_000)).toEqual({
      v: 1,
      tenant: 'acme',
      session_id: 's-1',
      user_id: 'u-1',
      issuer: 'https://idp.example',
      idp_session_id: 'sid-9',
      ip: '203.0.113.9',
      previous_ip: '198.51.100.7',
      device_id: 'phone-2',
      previous_device_id: 'laptop-1',
      user_agent: 'Mozilla/5.0',
      at: 1_700_000_100_000,
    });
  });

  it('writes what is not known as null, and reads back as itself', () => {
    const bare: PresentedSession = {
      session: { ...PRESENTED.session, ip: undefined, deviceId: undefined, idpSessionId: undefined },
      context: { ip: undefined, userAgent: undefined, deviceId: undefined, attributes: {} },
    };
    const observation = observationOf(bare, 1);
    expect(observation).toMatchObject({ idp_session_id: null, ip: null, previous_ip: null, user_agent: null });
    expect(parseObservation(new TextEncoder().encode(JSON.stringify(observation)))).toEqual(observation);
  });

  it('gives two sidecars that see the same move the same id, and another move another id', () => {
    const a = observationOf(PRESENTED, 1);
    const b = observationOf(PRESENTED, 2);
    const elsewhere = observationOf({ ...PRESENTED, context: { ...PRESENTED.context, ip: '192.0.2.1' } }, 1);
    expect(observationId(a)).toBe(observationId(b));
    expect(observationId(elsewhere)).not.toBe(observationId(a));
  });
});
