import type { VerifiedToken } from '../tokens/index.js';

/** What a verified assertion says about the session it starts. Times in Unix s. */
export interface AssertedSession {
  readonly acr: string | undefined;
  readonly amr: readonly string[];
  readonly authTime: number | undefined;
  /** The session ends here at the latest (IPSIE SL1). */
  readonly expiresAt: number;
  /** The IdP's own session id (`sid`), which its logout and CAEP events name. */
  readonly idpSessionId: string | undefined;
}

/**
 * IPSIE SL1: the app session lives as long as the assertion says
 * (`session_expiry`), never longer than the IdP's configured maximum after
 * authentication; without `session_expiry`, the configured default.
 */
export function sessionFromAssertion(token: VerifiedToken): AssertedSession {
  const { claims, idp } = token;
  const authTime = typeof claims['auth_time'] === 'number' ? claims['auth_time'] : undefined;
  const start = authTime ?? token.issuedAt;
  const cap = start + idp.maxSessionLifetimeS;
  const asserted = claims['session_expiry'];
  const expiresAt = Math.min(typeof asserted === 'number' ? asserted : start + idp.defaultSessionLifetimeS, cap);
  const amr = claims['amr'];
  return {
    acr: typeof claims['acr'] === 'string' ? claims['acr'] : undefined,
    amr: Array.isArray(amr) ? amr.filter((m): m is string => typeof m === 'string') : [],
    authTime,
    expiresAt,
    idpSessionId: typeof claims['sid'] === 'string' ? claims['sid'] : undefined,
  };
}
