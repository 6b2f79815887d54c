import type { VerifiedSamlAssertion } from '../saml/index.js';
import type { SignInAssertion } from './asserted_session.js';

/**
 * Claims the session lifecycle sets from what the assertion itself says: an attribute of the same name never
 * takes their place (an IdP attribute named `acr` or `email_verified` is whatever the user or an admin typed).
 */
const RESERVED = new Set([
  'iss',
  'sub',
  'aud',
  'jti',
  'iat',
  'exp',
  'nonce',
  'acr',
  'amr',
  'sid',
  'auth_time',
  'session_expiry',
  'session_lifetime',
  'email',
  'email_verified',
  'name',
  'given_name',
  'family_name',
]);

/**
 * A verified SAML assertion as the sign-in lifecycle reads any assertion: the NameID is the subject (also
 * `name_id` for linking), the assertion ID the single-use id, AuthnContextClassRef (mapped) the acr,
 * AuthnInstant the auth_time, SessionNotOnOrAfter the session_expiry (IPSIE SL1), SessionIndex the sid; the
 * configured attributes give the e-mail (verified only where the IdP's settings say it verifies them) and the
 * profile, and every other attribute is a claim of its name (one value as a string, several as a list) that
 * linking and roles may name.
 */
export function signInFromSaml(verified: VerifiedSamlAssertion): SignInAssertion {
  const { idp, attributes } = verified;
  const one = (name: string | undefined): string | undefined =>
    name === undefined ? undefined : attributes[name]?.find((v) => v !== '');
  const claims: Record<string, unknown> = {};
  for (const [name, values] of Object.entries(attributes)) {
    if (RESERVED.has(name)) continue;
    claims[name] = values.length === 1 ? values[0] : [...values];
  }
  const email = one(idp.emailAttribute);
  const set = (name: string, value: unknown): void => {
    if (value !== undefined) claims[name] = value;
  };
  set('name_id', verified.subject);
  set('sub', verified.subject);
  set('jti', verified.assertionId);
  set('acr', verified.acr);
  set('auth_time', verified.authTime);
  set('session_expiry', verified.sessionNotOnOrAfter);
  set('sid', verified.sessionIndex);
  set('email', email);
  if (email !== undefined) claims['email_verified'] = idp.emailVerified;
  set('name', one(idp.nameAttributes.displayName));
  set('given_name', one(idp.nameAttributes.givenName));
  set('family_name', one(idp.nameAttributes.familyName));
  return {
    tenantId: verified.tenantId,
    issuer: verified.issuer,
    subject: verified.subject,
    issuedAt: verified.issuedAt,
    expiresAt: verified.expiresAt,
    assertionId: verified.assertionId,
    claims,
    idp,
  };
}
