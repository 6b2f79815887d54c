import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import type { IdentityProviderSettings, TenantSettings } from '../config/index.js';
import { IdentityProviderUnavailableError, TokenRejectedError } from './errors.js';
import { fetchIdpDocument } from './idp_fetch.js';
import { MAX_KID_LENGTH, RemoteKeySet } from './remote_key_set.js';
import { ReplayCache } from './replay_cache.js';

export interface TokenVerifierOptions {
  readonly tenants: readonly TenantSettings[];
  /** Tolerated clock difference with the IdP, in s. @defaultValue 60 */
  readonly clockToleranceS?: number;
  /**
   * A `kid` still missing from the IdP's key set after a fetch is not looked for again for this long, in ms.
   * Per `kid`: the first token signed with a new key is fetched for at once. @defaultValue 30000
   */
  readonly jwksCooldownMs?: number;
  /** The key set is refetched before use once older than this, in s: a key the IdP removed stops verifying. @defaultValue 300 */
  readonly jwksMaxAgeS?: number;
  /** Least time between two fetches of one IdP's key set, in ms; concurrent requests share a fetch. @defaultValue 1000 */
  readonly jwksMinIntervalMs?: number;
  /** Time limit for a JWKS or discovery request, in ms. @defaultValue 5000 */
  readonly fetchTimeoutMs?: number;
  /** Unix s. @defaultValue the system clock */
  readonly clock?: () => number;
  /**
   * Verified tokens remembered (until `exp`, or `iat` + the IdP's `max_token_age_s`, whichever is first) so a
   * bearer token reused per request is verified once. 0 disables. @defaultValue 10000
   */
  readonly cacheSize?: number;
  /**
   * Told when an IdP's published keys change (a fetch finds `kid`s added or removed) or its discovery names
   * another `jwks_uri`: for the log and the tenant's audit trail (seed 4.1: federation metadata that maintains
   * itself, with its changes on record).
   */
  readonly onIdpChange?: (change: IdpChange) => void;
}

/** What changed at one of a tenant's IdPs. */
export type IdpChange =
  | {
      readonly kind: 'keys';
      readonly tenantId: string;
      readonly issuer: string;
      readonly jwksUri: string;
      readonly added: readonly string[];
      readonly removed: readonly string[];
    }
  | {
      readonly kind: 'jwks_uri';
      readonly tenantId: string;
      readonly issuer: string;
      readonly from: string;
      readonly to: string;
    };

/** Discovery metadata is fetched again once older than its `Cache-Control` says, within these bounds, in s. */
const DISCOVERY_MAX_AGE_S = 86_400;
const DISCOVERY_MIN_AGE_S = 60;

/** A token that passed every check, and what it says. */
export interface VerifiedToken {
  readonly tenantId: string;
  readonly idp: IdentityProviderSettings;
  /** An OIDC ID token, or (where the IdP's `access_tokens` allows them, at Check only) an RFC 9068 access token. */
  readonly type: 'id_token' | 'access_token';
  readonly issuer: string;
  readonly subject: string;
  /** Unix s. */
  readonly issuedAt: number;
  /** Unix s. */
  readonly expiresAt: number;
  /** Identifies the assertion (NIST 800-63C §3.12.1): its `jti`, else its subject, `iat` and `nonce`. */
  readonly assertionId: string;
  readonly claims: Readonly<JWTPayload>;
}

/** What a token is presented for. */
export type VerifyPurpose =
  /**
   * A Check's `subject.token`: an ID token, or an RFC 9068 access token where the IdP accepts them. Bearer
   * tokens are reused by design: verified once, then trusted until they expire or their key is removed.
   */
  | { readonly kind: 'bearer' }
  /** StartSession: an ID token only, carrying the nonce of the request, accepted once. */
  | { readonly kind: 'sign-in'; readonly nonce: string | undefined };

const BEARER: VerifyPurpose = { kind: 'bearer' };

/**
 * Longest token accepted, in characters (a JWS compact serialization is ASCII: bytes): refused as
 * `TOKEN_MALFORMED` before it is decoded. ID tokens and access tokens of the IdPs we serve are 1-4 KiB; this
 * leaves room for large group claims.
 */
export const MAX_TOKEN_LENGTH = 16 * 1024;

interface Provider {
  readonly tenantId: string;
  readonly settings: IdentityProviderSettings;
  keys: RemoteKeySet | undefined;
  discovering: Promise<RemoteKeySet> | undefined;
  /** Through discovery: its `jwks_uri`, and until when (Unix s, the clock) it is not asked again. */
  discovered: { readonly jwksUri: string; readonly freshUntil: number } | undefined;
}

/** A verified bearer token, and the key-set generation it was verified with. */
interface CachedToken {
  readonly verified: VerifiedToken;
  readonly generation: number;
}

/**
 * Verifies OIDC ID tokens and RFC 9068 access tokens for a tenant against
 * that tenant's IdPs only: the issuer must be one of them, the signature from
 * its current keys with an allowed algorithm (never `none`, never HMAC), the
 * type what the call expects (a logout token or SET is never an ID token),
 * the audience our single client id (IPSIE SL1) or, for an access token, the
 * API, `exp`/`iat`/`auth_time` within tolerance, and at sign-in the nonce and
 * single use.
 */
export class TokenVerifier {
  readonly #providers = new Map<string, Map<string, Provider>>();
  readonly #tolerance: number;
  readonly #cooldownMs: number;
  readonly #maxAgeS: number;
  readonly #minIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #clock: () => number;
  readonly #replays = new ReplayCache();
  /** tenant + token -> verified result, least recently used first. */
  readonly #verified = new Map<string, CachedToken>();
  readonly #cacheSize: number;
  readonly #onIdpChange: ((change: IdpChange) => void) | undefined;

  constructor(options: TokenVerifierOptions) {
    for (const tenant of options.tenants) {
      this.#providers.set(
        tenant.id,
        new Map(
          tenant.idps.map((idp) => [
            idp.issuer,
            { tenantId: tenant.id, settings: idp, keys: undefined, discovering: undefined, discovered: undefined },
          ]),
        ),
      );
    }
    this.#tolerance = options.clockToleranceS ?? 60;
    this.#cooldownMs = options.jwksCooldownMs ?? 30_000;
    this.#maxAgeS = options.jwksMaxAgeS ?? 300;
    this.#minIntervalMs = options.jwksMinIntervalMs ?? 1_000;
    this.#timeoutMs = options.fetchTimeoutMs ?? 5_000;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.#cacheSize = options.cacheSize ?? 10_000;
    this.#onIdpChange = options.onIdpChange;
  }

  /** Whether the tenant has any IdP configured. */
  hasProviders(tenantId: string): boolean {
    return (this.#providers.get(tenantId)?.size ?? 0) > 0;
  }

  /**
   * @throws {TokenRejectedError} with a code naming what is wrong
   * @throws {IdentityProviderUnavailableError} `ERR_TOKEN_IDP_UNAVAILABLE`
   */
  async verify(tenantId: string, token: string, purpose: VerifyPurpose = BEARER): Promise<VerifiedToken> {
    if (token.length > MAX_TOKEN_LENGTH) {
      // Unauthenticated input: bounded before it is decoded, cached or looked up.
      throw new TokenRejectedError('ERR_TOKEN_MALFORMED', `the token is over ${MAX_TOKEN_LENGTH} characters`);
    }
    // A sign-in (nonce, single use) is always verified in full; a bearer token
    // reused per request is verified once, and trusted until it expires.
    const cacheable = purpose.kind === 'bearer' && this.#cacheSize > 0;
    // Keyed by a digest: the cache holds at most `cacheSize` small keys, whatever the tokens' size.
    const key = digest(`${tenantId}\0${token}`);
    if (cacheable) {
      const hit = this.#verified.get(key);
      this.#verified.delete(key);
      if (hit !== undefined && (await this.#stillValid(tenantId, hit))) {
        this.#verified.set(key, hit);
        return hit.verified;
      }
    }
    const verified = await this.#verify(tenantId, token, purpose);
    if (cacheable) {
      if (this.#verified.size >= this.#cacheSize) {
        const oldest = this.#verified.keys().next();
        if (oldest.done !== true) this.#verified.delete(oldest.value);
      }
      this.#verified.set(key, verified);
    }
    return verified.verified;
  }

  /**
   * A cached token is served while the fresh path would accept its times - before `exp`, and issued no longer
   * than `max_token_age_s` ago, both with the tolerance, as jose judges them - and while it was verified with
   * the IdP's current key set; a refetched set (the old one aged out) means verifying again, so a token signed
   * by a removed key is dropped.
   */
  async #stillValid(tenantId: string, hit: CachedToken): Promise<boolean> {
    const { expiresAt, issuedAt, idp } = hit.verified;
    const now = this.#clock();
    if (now >= expiresAt + this.#tolerance || now - issuedAt > idp.maxTokenAgeS + this.#tolerance) return false;
    const provider = this.#providers.get(tenantId)?.get(hit.verified.issuer);
    if (provider === undefined) return false;
    const { generation } = await (await this.#keys(provider)).fresh();
    return generation === hit.generation;
  }

  async #verify(tenantId: string, token: string, purpose: VerifyPurpose): Promise<CachedToken> {
    const startedMs = performance.now();
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (cause) {
      throw new TokenRejectedError('ERR_TOKEN_MALFORMED', 'the token is not a signed JWT', { cause });
    }
    if (header.crit !== undefined) {
      // RFC 7515 §4.1.11: a critical extension we do not implement makes the token invalid - for us, not the IdP.
      throw new TokenRejectedError('ERR_TOKEN_MALFORMED', 'the token has critical header parameters (crit)');
    }
    if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > MAX_KID_LENGTH)) {
      // A made-up kid is remembered as missing from the key set: it must be small before any lookup.
      throw new TokenRejectedError(
        'ERR_TOKEN_MALFORMED',
        `kid must be a string of at most ${MAX_KID_LENGTH} characters`,
      );
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
    const type = tokenType(header.typ, unverified, settings, purpose);
    const now = this.#clock();
    const used = { generation: 0 };
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, (await this.#keys(provider)).resolver(startedMs, used), {
        issuer: settings.issuer,
        algorithms: [...settings.algorithms],
        clockTolerance: this.#tolerance,
        currentDate: new Date(now * 1000),
        // RFC 9068 §2.2: an access token also names its client and itself.
        requiredClaims: type === 'access_token' ? ['exp', 'iat', 'sub', 'jti', 'client_id'] : ['exp', 'iat', 'sub'],
        // OIDC Core §3.1.3.7 (10): iat bounds how long an assertion stays usable, whatever its exp.
        maxTokenAge: settings.maxTokenAgeS,
      }));
    } catch (error) {
      throw rejection(error);
    }
    if (typeof claims.sub !== 'string' || claims.sub === '') {
      // The identity is (iss, sub): anything but a non-empty string cannot name one.
      throw new TokenRejectedError('ERR_TOKEN_CLAIM_INVALID', 'sub must be a non-empty string');
    }
    checkAudience(claims, type, settings);
    const authTime = claims['auth_time'];
    if (authTime !== undefined && (typeof authTime !== 'number' || authTime > now + this.#tolerance)) {
      // A future auth_time would make the session look fresher, and last longer, than it is.
      throw new TokenRejectedError('ERR_TOKEN_CLAIM_INVALID', 'auth_time must be a time not in the future');
    }
    for (const name of ['session_expiry', 'session_lifetime']) {
      if (claims[name] !== undefined && typeof claims[name] !== 'number') {
        throw new TokenRejectedError('ERR_TOKEN_CLAIM_INVALID', `${name} must be a NumericDate`);
      }
    }
    const iat = claims.iat ?? 0;
    const exp = claims.exp ?? 0;
    const nonce = claims['nonce'];
    if (purpose.kind === 'sign-in') checkNonce(nonce, purpose.nonce, settings);
    const assertionId =
      typeof claims.jti === 'string' ? claims.jti : `${claims.sub}\0${iat}\0${typeof nonce === 'string' ? nonce : ''}`;
    if (purpose.kind === 'sign-in') {
      // Remembered for as long as it could be accepted: until exp, or until iat makes it too old.
      const until = Math.min(exp, iat + settings.maxTokenAgeS) + this.#tolerance;
      this.#replays.remember(digest(`${tenantId}\0${settings.issuer}\0${assertionId}`), until, now);
    }
    return {
      verified: {
        tenantId,
        idp: settings,
        type,
        issuer: settings.issuer,
        subject: claims.sub,
        issuedAt: iat,
        expiresAt: exp,
        assertionId,
        claims,
      },
      generation: used.generation,
    };
  }

  /**
   * A key resolver over one of the tenant's IdPs' key set, as ID tokens are
   * verified with it (cached, aged out, refetched for an unknown `kid` per
   * its cool-down): for other JWTs that IdP signs (back-channel logout tokens).
   *
   * @returns undefined when the tenant has no IdP with this issuer
   * @throws {IdentityProviderUnavailableError} discovery failed
   */
  async keySet(tenantId: string, issuer: string): Promise<JWTVerifyGetKey | undefined> {
    const provider = this.#providers.get(tenantId)?.get(issuer);
    if (provider === undefined) return undefined;
    return (await this.#keys(provider)).resolver(performance.now(), { generation: 0 });
  }

  /**
   * The IdP's key set: from `jwks_uri`, or found through discovery, asked again once the metadata is older than
   * its `Cache-Control` allows (a failed refresh keeps the keys found before).
   */
  async #keys(provider: Provider): Promise<RemoteKeySet> {
    const { settings } = provider;
    if (provider.keys !== undefined) {
      const stale = provider.discovered !== undefined && this.#clock() >= provider.discovered.freshUntil;
      if (stale && provider.discovering === undefined) {
        provider.discovering = this.#rediscover(provider).finally(() => {
          provider.discovering = undefined;
        });
      }
      return provider.keys;
    }
    if (settings.jwksUri !== undefined) {
      provider.keys = this.#remote(provider, settings.jwksUri);
      return provider.keys;
    }
    provider.discovering ??= this.#discover(provider).then(
      (keys) => {
        provider.keys = keys;
        provider.discovering = undefined;
        return keys;
      },
      (error: unknown) => {
        provider.discovering = undefined;
        throw error;
      },
    );
    return await provider.discovering;
  }

  /** Discovery again: a new `jwks_uri` replaces the key set (and is reported); a failure keeps the old one. */
  async #rediscover(provider: Provider): Promise<RemoteKeySet> {
    const before = provider.discovered;
    const current = provider.keys;
    try {
      const keys = await this.#discover(provider);
      const after = provider.discovered;
      if (before !== undefined && after !== undefined && after.jwksUri !== before.jwksUri) {
        provider.keys = keys;
        this.#onIdpChange?.({
          kind: 'jwks_uri',
          tenantId: provider.tenantId,
          issuer: provider.settings.issuer,
          from: before.jwksUri,
          to: after.jwksUri,
        });
      }
      return provider.keys ?? keys;
    } catch {
      // Unreachable or refusing now: keep the keys it gave, and ask again after the least interval.
      if (before !== undefined) {
        provider.discovered = { jwksUri: before.jwksUri, freshUntil: this.#clock() + DISCOVERY_MIN_AGE_S };
      }
      if (current === undefined) throw new IdentityProviderUnavailableError('discovery failed');
      return current;
    }
  }

  /** OIDC Discovery: the metadata's `issuer` must be exactly the configured one (IPSIE SL1-RP-04). */
  async #discover(provider: Provider): Promise<RemoteKeySet> {
    const { settings } = provider;
    const url = `${settings.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const fetched = await fetchIdpDocument(url, this.#timeoutMs);
    const metadata = fetched.document as { issuer?: unknown; jwks_uri?: unknown } | null;
    if (metadata?.issuer !== settings.issuer) {
      throw new IdentityProviderUnavailableError(
        `discovery at ${url} names issuer ${String(metadata?.issuer)}, not ${settings.issuer}: refusing its keys`,
      );
    }
    if (typeof metadata.jwks_uri !== 'string') {
      throw new IdentityProviderUnavailableError(`discovery at ${url} has no jwks_uri`);
    }
    const maxAgeS = Math.max(
      DISCOVERY_MIN_AGE_S,
      Math.min(DISCOVERY_MAX_AGE_S, fetched.maxAgeS ?? DISCOVERY_MAX_AGE_S),
    );
    provider.discovered = { jwksUri: metadata.jwks_uri, freshUntil: this.#clock() + maxAgeS };
    return this.#remote(provider, metadata.jwks_uri);
  }

  #remote(provider: Provider, uri: string): RemoteKeySet {
    const onChange = this.#onIdpChange;
    return new RemoteKeySet(uri, {
      clock: this.#clock,
      maxAgeS: this.#maxAgeS,
      kidCooldownMs: this.#cooldownMs,
      minIntervalMs: this.#minIntervalMs,
      timeoutMs: this.#timeoutMs,
      onChange:
        onChange === undefined
          ? undefined
          : (change) => {
              onChange({
                kind: 'keys',
                tenantId: provider.tenantId,
                issuer: provider.settings.issuer,
                jwksUri: change.uri,
                added: change.added,
                removed: change.removed,
              });
            },
    });
  }
}

/**
 * What the token is, by its `typ` (RFC 8725 §3.11: explicit typing keeps one kind of JWT from being taken
 * for another). An ID token is untyped or `JWT`; `at+jwt` is an RFC 9068 access token, accepted only at
 * Check and only where the IdP's `access_tokens` allows it; anything else (`logout+jwt`, `secevent+jwt`, ...)
 * is refused.
 *
 * @throws {TokenRejectedError} `ERR_TOKEN_TYPE_INVALID`
 */
function tokenType(
  typ: unknown,
  claims: JWTPayload,
  settings: IdentityProviderSettings,
  purpose: VerifyPurpose,
): VerifiedToken['type'] {
  // RFC 7515 §4.1.9: compared without case, "application/" may be left out.
  const normalized = typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : typ;
  if (normalized === 'at+jwt') {
    if (purpose.kind === 'bearer' && settings.accessTokens !== undefined) return 'access_token';
    throw new TokenRejectedError(
      'ERR_TOKEN_TYPE_INVALID',
      purpose.kind === 'sign-in'
        ? 'an access token is not an ID token: sign-in needs the ID token'
        : "this identity provider's access tokens are not accepted (no access_tokens setting)",
    );
  }
  if (normalized !== undefined && normalized !== 'jwt') {
    throw new TokenRejectedError('ERR_TOKEN_TYPE_INVALID', `a token of type ${String(typ)} is not an ID token`);
  }
  // An untyped logout token (OIDC Back-Channel Logout §2.4) or SET (RFC 8417 §2.2) still has "events".
  if (claims['events'] !== undefined) {
    throw new TokenRejectedError('ERR_TOKEN_TYPE_INVALID', 'a token with "events" is a logout token or a SET');
  }
  return 'id_token';
}

/**
 * An ID token's `aud` is our client id as a single string (IPSIE SL1-RP-10) and its `azp`, if any, our client
 * id too (OIDC Core §3.1.3.7); an access token's `aud` holds the API (RFC 9068 §4) and its `client_id` is one
 * of this tenant's clients (RFC 9068 §2.2: the API is shared by every customer of the IdP; the client is not).
 * At a multi-tenant IdP the tenant claim must name this tenant.
 *
 * @throws {TokenRejectedError} `ERR_TOKEN_AUDIENCE_INVALID`
 */
function checkAudience(claims: JWTPayload, type: VerifiedToken['type'], settings: IdentityProviderSettings): void {
  const { aud } = claims;
  if (type === 'access_token') {
    const { audience, clientIds } = settings.accessTokens ?? { audience: undefined, clientIds: [] };
    if (audience === undefined || (aud !== audience && !(Array.isArray(aud) && aud.includes(audience)))) {
      throw new TokenRejectedError('ERR_TOKEN_AUDIENCE_INVALID', 'the access token is not for this API');
    }
    const clientId = claims['client_id'];
    if (typeof clientId !== 'string' || !clientIds.includes(clientId)) {
      throw new TokenRejectedError(
        'ERR_TOKEN_AUDIENCE_INVALID',
        "the access token was issued to a client that is not this tenant's (client_id)",
      );
    }
  } else {
    if (typeof aud !== 'string' || aud !== settings.clientId) {
      throw new TokenRejectedError(
        'ERR_TOKEN_AUDIENCE_INVALID',
        'the audience must be exactly our client id, as a single string',
      );
    }
    if (claims['azp'] !== undefined && claims['azp'] !== settings.clientId) {
      throw new TokenRejectedError('ERR_TOKEN_AUDIENCE_INVALID', 'the token was issued to another party (azp)');
    }
  }
  const tenant = settings.tenantClaim;
  if (tenant !== undefined && claims[tenant.claim] !== tenant.value) {
    throw new TokenRejectedError(
      'ERR_TOKEN_AUDIENCE_INVALID',
      `the token is for another customer of this identity provider (${tenant.claim})`,
    );
  }
}

/**
 * OIDC Core §3.1.3.7 (11): the token carries exactly the nonce of the request. A token with a nonce and a
 * request without one is a mismatch too (someone else's sign-in), and where the IdP requires a nonce (the
 * default) both must carry one.
 *
 * @throws {TokenRejectedError} `ERR_TOKEN_NONCE_MISMATCH`
 */
function checkNonce(carried: unknown, requested: string | undefined, settings: IdentityProviderSettings): void {
  if (requested === undefined && carried === undefined && !settings.requireNonce) return;
  if (requested === undefined || carried !== requested) {
    throw new TokenRejectedError(
      'ERR_TOKEN_NONCE_MISMATCH',
      requested === undefined
        ? 'the sign-in request carries no nonce'
        : 'the nonce is not the one of this authentication request',
    );
  }
}

function rejection(error: unknown): TokenRejectedError | IdentityProviderUnavailableError {
  if (error instanceof TokenRejectedError || error instanceof IdentityProviderUnavailableError) return error;
  if (error instanceof joseErrors.JWTExpired) {
    return new TokenRejectedError(
      'ERR_TOKEN_EXPIRED',
      error.claim === 'iat' ? 'the token was issued too long ago' : 'the token has expired',
    );
  }
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
    // A claim that is missing or not of its type is the token's fault, whichever claim it is.
    if (error.reason === 'missing' || error.reason === 'invalid') {
      return new TokenRejectedError('ERR_TOKEN_CLAIM_INVALID', `claim "${error.claim}" is missing or invalid`);
    }
    if (error.claim === 'iss') return new TokenRejectedError('ERR_TOKEN_ISSUER_UNKNOWN', 'unexpected issuer');
    if (error.claim === 'nbf' || error.claim === 'iat') {
      return new TokenRejectedError('ERR_TOKEN_NOT_YET_VALID', 'the token is not valid yet');
    }
    return new TokenRejectedError('ERR_TOKEN_CLAIM_INVALID', `claim "${error.claim}" is invalid`);
  }
  if (error instanceof joseErrors.JWKSTimeout || error instanceof joseErrors.JWKSInvalid) {
    return new IdentityProviderUnavailableError('the identity provider keys could not be fetched', { cause: error });
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return new TokenRejectedError('ERR_TOKEN_MALFORMED', 'the token is not a valid JWT');
  }
  return new IdentityProviderUnavailableError('the token could not be verified', { cause: error });
}

/** A fixed-size key for a string of any length. */
function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url');
}
