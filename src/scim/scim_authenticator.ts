import { createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import { ScimError } from './errors.js';
import { TokenDigests, bearerToken } from '../bearer_token.js';

/** How one tenant's IdP authenticates to its SCIM endpoint. */
export interface ScimCredentials {
  /** SHA-256 (hex) of each accepted static bearer token (Entra, Okta); the tokens themselves are never stored. */
  readonly bearerTokenSha256: readonly string[];
  /**
   * OAuth access tokens (JWT) from the tenant's authorization server, which
   * the IdS obtained with RFC 7523 client authentication (IPSIE AL1 §3.1).
   */
  readonly oauth:
    | {
        readonly issuer: string;
        readonly jwksUri: string;
        /** Our SCIM endpoint's identifier, as the token's `aud`. */
        readonly audience: string;
      }
    | undefined;
}

/** Signature algorithms accepted on access tokens: IPSIE's three, plus RS256 that many AS still issue. */
const ALGORITHMS = ['PS256', 'ES256', 'EdDSA', 'RS256'];
const REQUIRED_SCOPE = 'scim';

/**
 * Authenticates SCIM requests per tenant. A credential of tenant A never
 * opens tenant B: each tenant has its own token hashes and its own AS.
 */
export class ScimAuthenticator {
  readonly #tenants: ReadonlyMap<
    string,
    { hashes: TokenDigests; oauth: ScimCredentials['oauth']; jwks: JWTVerifyGetKey | undefined }
  >;

  constructor(tenants: ReadonlyMap<string, ScimCredentials>) {
    const prepared = new Map<
      string,
      { hashes: TokenDigests; oauth: ScimCredentials['oauth']; jwks: JWTVerifyGetKey | undefined }
    >();
    for (const [tenantId, credentials] of tenants) {
      prepared.set(tenantId, {
        hashes: new TokenDigests(credentials.bearerTokenSha256),
        oauth: credentials.oauth,
        jwks: credentials.oauth === undefined ? undefined : createRemoteJWKSet(new URL(credentials.oauth.jwksUri)),
      });
    }
    this.#tenants = prepared;
  }

  /**
   * @throws {ScimError} `ERR_SCIM_UNAUTHORIZED` — the same for an unknown tenant as for a bad token,
   *   so the endpoint does not reveal which tenants exist
   */
  async authenticate(tenantId: string, authorization: string | undefined): Promise<void> {
    const tenant = this.#tenants.get(tenantId);
    const token = bearerToken(authorization);
    if (tenant === undefined || token === undefined)
      throw unauthorized('a valid Bearer token for this tenant is required');
    if (tenant.hashes.accepts(token)) return;
    if (tenant.oauth !== undefined && tenant.jwks !== undefined && token.split('.').length === 3) {
      await verifyAccessToken(token, tenant.oauth, tenant.jwks);
      return;
    }
    throw unauthorized('a valid Bearer token for this tenant is required');
  }
}

async function verifyAccessToken(
  token: string,
  oauth: NonNullable<ScimCredentials['oauth']>,
  jwks: JWTVerifyGetKey,
): Promise<void> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, jwks, {
      issuer: oauth.issuer,
      audience: oauth.audience,
      algorithms: ALGORITHMS,
      clockTolerance: 30,
      requiredClaims: ['exp'],
    }));
  } catch (error) {
    const reason = error instanceof joseErrors.JOSEError ? error.code : 'ERR_JWT_INVALID';
    throw unauthorized(`the access token was refused (${reason})`);
  }
  const scope = payload['scope'] ?? payload['scp'];
  const scopes = Array.isArray(scope) ? scope : typeof scope === 'string' ? scope.split(' ') : [];
  if (!scopes.includes(REQUIRED_SCOPE)) throw unauthorized(`the access token lacks the "${REQUIRED_SCOPE}" scope`);
}

function unauthorized(message: string): ScimError {
  return new ScimError('ERR_SCIM_UNAUTHORIZED', message);
}
