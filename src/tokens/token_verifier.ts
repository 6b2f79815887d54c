import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { IdentityProviderSettings, TenantSettings } from '../config/index.js';
import { IdentityProviderUnavailableError, TokenRejectedError } from './errors.js';
import { ReplayCache } from './replay_cache.js';

export interface TokenVerifierOptions {
  readonly tenants: readonly TenantSettings[];
  /** Tolerated clock difference with the IdP, in s. @defaultValue 60 */
  readonly clockToleranceS?: number;
  /**
   * Least time between two JWKS fetches for an unknown `kid`, in ms (jose's cooldown). Keys rotate:
   * a new `kid` is fetched, one still unknown after the fetch is refused. @defaultValue 30000
   */
  readonly jwksCooldownMs?: number;
  /** Time limit for a JWKS or discovery request, in ms. @defaultValue 5000 */
  readonly fetchTimeoutMs?: number;
  /** Unix s. @defaultValue the system clock */
  readonly clock?: () => number;
  /** Verified tokens remembered (until they expire) so a bearer token reused per request is verified once. 0 disables. @defaultValue 10000 */
  readonly cacheSize?: number;
}

/** A token that passed every check, and what it says. */
export interface VerifiedToken {
  readonly tenantId: string;
  readonly idp: IdentityProviderSettings;
  readonly issuer: string;
  readonly subject: string;
  /** Unix s. */
  readonly issuedAt: number;
  /** Unix s. */
  readonly expiresAt: number;
  readonly claims: Readonly<JWTPayload>;
}

export interface VerifyOptions {
  /** The nonce the RP sent in its authentication request; the token must carry exactly it. */
  readonly nonce?: string | undefined;
  /** Accept this assertion only once (sign-in). */
  readonly once?: boolean;
}

interface Provider {
  readonly settings: IdentityProviderSettings;
  jwks: JWTVerifyGetKey | undefined;
  discovering: Promise<JWTVerifyGetKey> | undefined;
}

/**
 * Verifies OIDC ID tokens and JWT access tokens for a tenant against that
 * tenant's IdPs only: the issuer must be one of them, the signature from its
 * current keys with an allowed algorithm (never `none`, never HMAC), the
 * audience our single client id (IPSIE SL1), `exp`/`iat` within tolerance,
 * and, when asked, the nonce and single use.
 */
export class TokenVerifier {
  readonly #providers = new Map<string, Map<string, Provider>>();
  readonly #tolerance: number;
  readonly #cooldownMs: number;
  readonly #timeoutMs: number;
  readonly #clock: () => number;
  readonly #replays = new ReplayCache();
  /** tenant + token -> verified result, least recently used first. */
  readonly #verified = new Map<string, VerifiedToken>();
  readonly #cacheSize: number;

  constructor(options: TokenVerifierOptions) {
    for (const tenant of options.tenants) {
      this.#providers.set(
        tenant.id,
        new Map(tenant.idps.map((idp) => [idp.issuer, { settings: idp, jwks: undefined, discovering: undefined }])),
      );
    }
    this.#tolerance = options.clockToleranceS ?? 60;
    this.#cooldownMs = options.jwksCooldownMs ?? 30_000;
    this.#timeoutMs = options.fetchTimeoutMs ?? 5_000;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.#cacheSize = options.cacheSize ?? 10_000;
  }

  /** Whether the tenant has any IdP configured. */
  hasProviders(tenantId: string): boolean {
    return (this.#providers.get(tenantId)?.size ?? 0) > 0;
  }

  /**
   * @throws {TokenRejectedError} with a code naming what is wrong
   * @throws {IdentityProviderUnavailableError} `ERR_TOKEN_IDP_UNAVAILABLE`
   */
  async verify(tenantId: string, token: string, options: VerifyOptions = {}): Promise<VerifiedToken> {
    // A sign-in (nonce, single use) is always verified in full; a bearer token
    // reused per request is verified once, and trusted until it expires.
    const cacheable = options.nonce === undefined && options.once !== true && this.#cacheSize > 0;
    const key = `${tenantId}\0${token}`;
    if (cacheable) {
      const hit = this.#verified.get(key);
      if (hit !== undefined) {
        if (hit.expiresAt + this.#tolerance >= this.#clock()) {
          this.#verified.delete(key);
          this.#verified.set(key, hit);
          return hit;
        }
        this.#verified.delete(key);
      }
    }
    const verified = await this.#verify(tenantId, token, options);
    if (cacheable) {
      if (this.#verified.size >= this.#cacheSize) {
        const oldest = this.#verified.keys().next();
        if (oldest.done !== true) this.#verified.delete(oldest.value);
      }
      this.#verified.set(key, verified);
    }
    return verified;
  }

  async #verify(tenantId: string, token: string, options: VerifyOptions): Promise<VerifiedToken> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (cause) {
      throw new TokenRejectedError('ERR_TOKEN_MALFORMED', 'the token is not a signed JWT', { cause });
    }
    const provider =
      typeof unverified.iss === 'string' ? this.#providers.get(tenantId)?.get(unverified.iss) : undefined;
    if (provider === undefined) {
      // Also what a token of another tenant's IdP gets: it never resolves here.
      throw new TokenRejectedError(
        'ERR_TOKEN_ISSUER_UNKNOWN',
        'the token is not from an identity provider of this tenant',
      );
    }
    const { settings } = provider;
    if (typeof header.alg !== 'string' || !settings.algorithms.includes(header.alg)) {
      throw new TokenRejectedError(
        'ERR_TOKEN_ALGORITHM_REFUSED',
        `algorithm ${String(header.alg)} is not accepted (allowed: ${settings.algorithms.join(', ')})`,
      );
    }
    const now = this.#clock();
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, await this.#keys(provider), {
        issuer: settings.issuer,
        algorithms: [...settings.algorithms],
        clockTolerance: this.#tolerance,
        currentDate: new Date(now * 1000),
        requiredClaims: ['exp', 'iat', 'sub'],
      }));
    } catch (error) {
      throw rejection(error);
    }
    if (typeof claims.aud !== 'string' || claims.aud !== settings.clientId) {
      throw new TokenRejectedError(
        'ERR_TOKEN_AUDIENCE_INVALID',
        'the audience must be exactly our client id, as a single string',
      );
    }
    const iat = claims.iat ?? 0;
    const exp = claims.exp ?? 0;
    if (iat > now + this.#tolerance)
      throw new TokenRejectedError('ERR_TOKEN_NOT_YET_VALID', 'the token is issued in the future');
    if (options.nonce !== undefined && claims['nonce'] !== options.nonce) {
      throw new TokenRejectedError(
        'ERR_TOKEN_NONCE_MISMATCH',
        'the nonce is not the one of this authentication request',
      );
    }
    if (options.once === true) {
      // Without a jti, the issuer's clock, the subject and the nonce identify the assertion.
      const id =
        typeof claims.jti === 'string' ? claims.jti : `${claims.sub ?? ''}\0${iat}\0${String(claims['nonce'])}`;
      this.#replays.remember(`${tenantId}\0${settings.issuer}\0${id}`, exp + this.#tolerance, now);
    }
    return {
      tenantId,
      idp: settings,
      issuer: settings.issuer,
      subject: claims.sub ?? '',
      issuedAt: iat,
      expiresAt: exp,
      claims,
    };
  }

  /**
   * The key set of one of the tenant's IdPs, as ID tokens are verified with
   * it (cached, refetched on an unknown `kid` at most once per cool-down):
   * for other JWTs that IdP signs (back-channel logout tokens).
   *
   * @returns undefined when the tenant has no IdP with this issuer
   * @throws {IdentityProviderUnavailableError} discovery failed
   */
  async keySet(tenantId: string, issuer: string): Promise<JWTVerifyGetKey | undefined> {
    const provider = this.#providers.get(tenantId)?.get(issuer);
    return provider === undefined ? undefined : await this.#keys(provider);
  }

  /** The IdP's key set: from `jwks_uri`, or found through discovery (once, then cached). */
  async #keys(provider: Provider): Promise<JWTVerifyGetKey> {
    if (provider.jwks !== undefined) return provider.jwks;
    const { settings } = provider;
    if (settings.jwksUri !== undefined) {
      provider.jwks = this.#remote(settings.jwksUri);
      return provider.jwks;
    }
    provider.discovering ??= this.#discover(settings).then(
      (jwks) => {
        provider.jwks = jwks;
        return jwks;
      },
      (error: unknown) => {
        provider.discovering = undefined;
        throw error;
      },
    );
    return await provider.discovering;
  }

  /** OIDC Discovery: the metadata's `issuer` must be exactly the configured one (IPSIE SL1-RP-04). */
  async #discover(settings: IdentityProviderSettings): Promise<JWTVerifyGetKey> {
    const url = `${settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    let metadata: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs), redirect: 'error' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      metadata = (await response.json()) as typeof metadata;
    } catch (cause) {
      throw new IdentityProviderUnavailableError(`discovery at ${url} failed`, { cause });
    }
    if (metadata.issuer !== settings.issuer) {
      throw new IdentityProviderUnavailableError(
        `discovery at ${url} names issuer ${String(metadata.issuer)}, not ${settings.issuer}: refusing its keys`,
      );
    }
    if (typeof metadata.jwks_uri !== 'string') {
      throw new IdentityProviderUnavailableError(`discovery at ${url} has no jwks_uri`);
    }
    return this.#remote(metadata.jwks_uri);
  }

  #remote(uri: string): JWTVerifyGetKey {
    return createRemoteJWKSet(new URL(uri), {
      cooldownDuration: this.#cooldownMs,
      timeoutDuration: this.#timeoutMs,
      cacheMaxAge: 10 * 60_000,
    });
  }
}

function rejection(error: unknown): TokenRejectedError | IdentityProviderUnavailableError {
  if (error instanceof joseErrors.JWTExpired)
    return new TokenRejectedError('ERR_TOKEN_EXPIRED', 'the token has expired');
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new TokenRejectedError('ERR_TOKEN_SIGNATURE_INVALID', 'the signature does not verify');
  }
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new TokenRejectedError('ERR_TOKEN_KEY_UNKNOWN', 'no key of the identity provider matches the token');
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return new TokenRejectedError('ERR_TOKEN_ALGORITHM_REFUSED', 'the algorithm is not accepted');
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return new TokenRejectedError('ERR_TOKEN_ISSUER_UNKNOWN', 'unexpected issuer');
    if (error.claim === 'nbf' || error.claim === 'iat') {
      return new TokenRejectedError('ERR_TOKEN_NOT_YET_VALID', 'the token is not valid yet');
    }
    return new TokenRejectedError('ERR_TOKEN_CLAIM_INVALID', `claim "${error.claim}" is missing or invalid`);
  }
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) {
    return new IdentityProviderUnavailableError('the identity provider keys could not be fetched', { cause: error });
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return new TokenRejectedError('ERR_TOKEN_MALFORMED', 'the token is not a valid JWT');
  }
  if (error instanceof IdentityProviderUnavailableError) return error;
  return new IdentityProviderUnavailableError('the token could not be verified', { cause: error });
}
