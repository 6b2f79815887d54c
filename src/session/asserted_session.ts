import type { IdentityProviderSettings } from '../config/index.js';

/**
 * A verified sign-in assertion, whatever its protocol (an OIDC ID token, a SAML assertion), as the one session
 * lifecycle reads it: the identity (issuer, subject), the assertion's id and times, its claims by their OIDC
 * names, and what the IdP's settings say about linking, roles and session lifetimes.
 */
export interface SignInAssertion {
  readonly tenantId: string;
  readonly issuer: string;
  readonly subject: string;
  /** Unix s. */
  readonly issuedAt: number;
  /** Unix s. */
  readonly expiresAt: number;
  /** Claimed once across replicas. */
  readonly assertionId: string;
  readonly claims: Readonly<Record<string, unknown>>;
  readonly idp: Pick<IdentityProviderSettings, 'link' | 'roles' | 'defaultSessionLifetimeS' | 'maxSessionLifetimeS'>;
}

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

/** The claims that end the session, by their names in the SL1 drafts (both are NumericDates). */
const SESSION_EXPIRY_CLAIMS = ['session_expiry', 'session_lifetime'] as const;

/**
 * IPSIE SL1: the app session lives as long as the assertion says
 * (`session_expiry`, or `session_lifetime` as some drafts name it; the
 * earlier if both), never longer than the IdP's configured maximum after
 * authentication; without either, the configured default.
 */
export function sessionFromAssertion(token: SignInAssertion): AssertedSession {
  const { claims, idp } = token;
  const authTime = typeof claims['auth_time'] === 'number' ? claims['auth_time'] : undefined;
  const start = authTime ?? token.issuedAt;
  const cap = start + idp.maxSessionLifetimeS;
  const asserted = SESSION_EXPIRY_CLAIMS.map((name) => claims[name]).filter((v) => typeof v === 'number');
  const expiresAt = Math.min(asserted.length > 0 ? Math.min(...asserted) : start + idp.defaultSessionLifetimeS, cap);
  const amr = claims['amr'];
  return {
    acr: typeof claims['acr'] === 'string' ? claims['acr'] : undefined,
    amr: Array.isArray(amr) ? amr.filter((m): m is string => typeof m === 'string') : [],
    authTime,
    expiresAt,
    idpSessionId: typeof claims['sid'] === 'string' ? claims['sid'] : undefined,
  };
}
