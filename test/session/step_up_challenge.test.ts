import { describe, expect, it } from 'vitest';
import { stepUpChallenge } from '../../src/session/step_up_challenge.js';

const ERROR = 'Bearer error="insufficient_user_authentication"';
const DESCRIPTION = 'error_description="A different authentication level is required"';

/** The auth-params of a challenge, unquoted (RFC 9110 §11.2 quoted-string with quoted-pairs). */
function params(challenge: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of challenge.replace(/^Bearer /, '').matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"(?:, |$)/g)) {
    out[match[1]!] = match[2]!.replace(/\\(.)/g, '$1');
  }
  return out;
}

describe('stepUpChallenge (RFC 9470 §3)', () => {
  it('names the insufficient_user_authentication error, with acr_values space-separated in preference order', () => {
    expect(stepUpChallenge({ acrValues: ['phrh', 'phr'], maxAge: undefined })).toBe(
      `${ERROR}, ${DESCRIPTION}, acr_values="phrh phr"`,
    );
  });

  it('carries max_age alone, as RFC 9470 §3 prints it (quoted)', () => {
    expect(stepUpChallenge({ acrValues: [], maxAge: 5 })).toBe(`${ERROR}, ${DESCRIPTION}, max_age="5"`);
  });

  it('carries max_age 0 (authenticate again now): zero is not "absent"', () => {
    expect(params(stepUpChallenge({ acrValues: ['urn:okta:loa:2fa:any'], maxAge: 0 }))).toEqual({
      error: 'insufficient_user_authentication',
      error_description: 'A different authentication level is required',
      acr_values: 'urn:okta:loa:2fa:any',
      max_age: '0',
    });
  });

  it('names only the error when the policy asks for no particular acr or age', () => {
    expect(stepUpChallenge({ acrValues: [], maxAge: undefined })).toBe(`${ERROR}, ${DESCRIPTION}`);
  });

  it('keeps quotes and backslashes of an acr value inside its quoted string: no parameter can be smuggled in', () => {
    const hostile = 'x", error="invalid_token", acr_values="anything';
    const challenge = stepUpChallenge({ acrValues: [hostile, 'a\\b'], maxAge: undefined });
    expect(params(challenge)).toEqual({
      error: 'insufficient_user_authentication',
      error_description: 'A different authentication level is required',
      acr_values: `${hostile} a\\b`,
    });
  });

  it('passes non-ASCII acr values through unchanged (they are the tenant policy’s)', () => {
    expect(params(stepUpChallenge({ acrValues: ['niveau-élevé'], maxAge: undefined }))['acr_values']).toBe(
      'niveau-élevé',
    );
  });
});
