import { describe, expect, it } from 'vitest';
import type { IdentityProviderSettings } from '../../src/config/index.js';
import { sessionFromAssertion } from '../../src/session/asserted_session.js';
import type { VerifiedToken } from '../../src/tokens/index.js';

const IAT = 1_800_000_000;
const HOUR = 3_600;
const LIFETIMES = { defaultSessionLifetimeS: 8 * HOUR, maxSessionLifetimeS: 12 * HOUR };

/**
 * A verified ID token with these claims. sessionFromAssertion reads only the
 * claims, `iat` and the IdP's two lifetimes; the rest is what a verifier
 * would have filled in.
 */
function verified(
  claims: Record<string, unknown>,
  lifetimes: Pick<IdentityProviderSettings, 'defaultSessionLifetimeS' | 'maxSessionLifetimeS'> = LIFETIMES,
): VerifiedToken {
  return {
    tenantId: 'acme',
    idp: lifetimes as IdentityProviderSettings,
    type: 'id_token',
    issuer: 'https://login.example/acme',
    subject: 'sub-1',
    issuedAt: IAT,
    expiresAt: IAT + 300,
    assertionId: 'jti-1',
    claims: { iss: 'https://login.example/acme', sub: 'sub-1', iat: IAT, exp: IAT + 300, ...claims },
  };
}

describe('sessionFromAssertion (IPSIE SL1)', () => {
  it('ends the session at session_expiry', () => {
    expect(sessionFromAssertion(verified({ session_expiry: IAT + 2 * HOUR })).expiresAt).toBe(IAT + 2 * HOUR);
  });

  it('reads session_lifetime, the name some SL1 drafts use, the same way', () => {
    expect(sessionFromAssertion(verified({ session_lifetime: IAT + HOUR })).expiresAt).toBe(IAT + HOUR);
  });

  it('takes the earlier of session_expiry and session_lifetime when both are asserted', () => {
    expect(
      sessionFromAssertion(verified({ session_expiry: IAT + 3 * HOUR, session_lifetime: IAT + HOUR })).expiresAt,
    ).toBe(IAT + HOUR);
    expect(
      sessionFromAssertion(verified({ session_expiry: IAT + HOUR, session_lifetime: IAT + 3 * HOUR })).expiresAt,
    ).toBe(IAT + HOUR);
  });

  it('never lets the session outlive the configured maximum after authentication, whatever the IdP asserts', () => {
    expect(sessionFromAssertion(verified({ session_expiry: IAT + 365 * 24 * HOUR })).expiresAt).toBe(IAT + 12 * HOUR);
  });

  it('counts the maximum from auth_time, not from when the token was issued', () => {
    const authTime = IAT - 11 * HOUR;
    const session = sessionFromAssertion(verified({ auth_time: authTime, session_expiry: IAT + 8 * HOUR }));
    expect(session.expiresAt).toBe(authTime + 12 * HOUR);
    expect(session.authTime).toBe(authTime);
  });

  it('gives the configured default lifetime from auth_time (else iat) when no expiry is asserted', () => {
    expect(sessionFromAssertion(verified({})).expiresAt).toBe(IAT + 8 * HOUR);
    expect(sessionFromAssertion(verified({ auth_time: IAT - HOUR })).expiresAt).toBe(IAT + 7 * HOUR);
  });

  it('caps the default lifetime by the maximum too', () => {
    const session = sessionFromAssertion(
      verified({}, { defaultSessionLifetimeS: 48 * HOUR, maxSessionLifetimeS: HOUR }),
    );
    expect(session.expiresAt).toBe(IAT + HOUR);
  });

  it('keeps an asserted expiry already in the past: the session is born expired, not extended', () => {
    expect(sessionFromAssertion(verified({ session_expiry: IAT - 1 })).expiresAt).toBe(IAT - 1);
  });

  it.each([
    ['a string', String(IAT + 365 * 24 * HOUR)],
    ['null', null],
    ['an object', { exp: IAT + HOUR }],
    ['a boolean', true],
  ])('ignores a session_expiry that is %s (not a NumericDate): default lifetime, still capped', (_what, value) => {
    expect(sessionFromAssertion(verified({ session_expiry: value })).expiresAt).toBe(IAT + 8 * HOUR);
  });

  it('reads acr, amr and the IdP session id (sid)', () => {
    expect(sessionFromAssertion(verified({ acr: 'phr', amr: ['hwk', 'pin'], sid: 'sid-1' }))).toEqual({
      acr: 'phr',
      amr: ['hwk', 'pin'],
      authTime: undefined,
      expiresAt: IAT + 8 * HOUR,
      idpSessionId: 'sid-1',
    });
  });

  it('drops amr entries that are not strings, and claims of the wrong type, rather than coerce them', () => {
    expect(
      sessionFromAssertion(verified({ acr: 2, amr: ['mfa', 1, null, { m: 'otp' }, ['pwd']], sid: 7, auth_time: '0' })),
    ).toEqual({
      acr: undefined,
      amr: ['mfa'],
      authTime: undefined,
      expiresAt: IAT + 8 * HOUR,
      idpSessionId: undefined,
    });
    expect(sessionFromAssertion(verified({ amr: 'mfa' })).amr).toEqual([]);
  });
});
