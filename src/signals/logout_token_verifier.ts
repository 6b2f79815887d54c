import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, JWTVerifyGetKey, ProtectedHeaderParameters } from 'jose';
import type { BackchannelLogoutSettings, IdentityProviderSettings, TenantSettings } from '../config/index.js';
import { LogoutTokenRefusedError, LogoutUnavailableError } from './errors.js';

/** The `events` member that makes a JWT a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** Longest `sid`, `sub` or `jti` accepted (what the store takes), and `kid` looked up. */
const MAX_ID = 256;

/** A logout token whose signature, issuer, audience, age and shape were checked. */
export interface VerifiedLogoutToken {
  readonly tenantId: string;
  readonly idp: IdentityProviderSettings & { readonly backchannelLogout: BackchannelLogoutSettings };
  readonly jti: string;
  /** Unix s. */
  readonly issuedAt: number;
  /** The IdP session logged out; at least one of `sid` and `sub` is set. */
  readonly sid: string | undefined;
  /** The IdP's subject whose sessions are logged out (all of them when there is no `sid`). */
  readonly sub: string | undefined;
  readonly alg: string;
  readonly kid: string | undefined;
}

export interface LogoutTokenVerifierOptions {
  readonly tenants: readonly TenantSettings[];
  /**
   * The key set of a tenant's IdP, the one its ID tokens are verified with;
   * undefined when the tenant has no IdP with that issuer.
   */
  readonly keys: (tenantId: string, issuer: string) => Promise<JWTVerifyGetKey | undefined>;
  /** Tolerated clock difference with IdPs, in s. @defaultValue 60 */
  readonly clockToleranceS?: number;
  /** Unix s. */
  readonly clock?: () => number;
}

/**
 * Verifies OpenID Connect Back-Channel Logout 1.0 logout tokens (§2.6) from
 * a tenant's IdPs that have `backchannel_logout` configured: signed by the
 * IdP's ID-token keys with an allowed algorithm, explicitly typed
 * `logout+jwt` (unless the IdP is configured otherwise), addressed to our
 * client id, recent, with a `jti`, the back-channel logout event, a `sid`
 * and/or `sub`, no `nonce` — so an ID token can never pass for one — and,
 * where the IdP has a tenant claim, this tenant's value of it.
 * Single use (`jti`) is the receiver's to enforce.
 */
export class LogoutTokenVerifier {
  readonly #idps: ReadonlyMap<string, ReadonlyMap<string, IdentityProviderSettings>>;
  readonly #keys: LogoutTokenVerifierOptions['keys'];
  readonly #tolerance: number;
  readonly #clock: () => number;

  constructor(options: LogoutTokenVerifierOptions) {
    this.#idps = new Map(options.tenants.map((t) => [t.id, new Map(t.idps.map((i) => [i.issuer, i]))]));
    this.#keys = options.keys;
    this.#tolerance = options.clockToleranceS ?? 60;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * @throws {LogoutTokenRefusedError} naming what is wrong
   * @throws {LogoutUnavailableError} the IdP's keys could not be fetched
   */
  async verify(tenantId: string, token: string): Promise<VerifiedLogoutToken> {
    let header: ProtectedHeaderParameters;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch (cause) {
      throw new LogoutTokenRefusedError('the logout token is not a signed JWT', { cause });
    }
    // Unknown tenant, unknown issuer: the same answer, so neither is revealed.
    const idp = typeof unverified.iss === 'string' ? this.#idps.get(tenantId)?.get(unverified.iss) : undefined;
    if (idp === undefined) throw new LogoutTokenRefusedError('the logout token is not from an IdP of this tenant');
    const settings = idp.backchannelLogout;
    if (settings === undefined) {
      throw new LogoutTokenRefusedError('back-channel logout is not enabled for this IdP');
    }
    // §2.6 / RFC 8725 §3.11: explicit typing keeps an ID token (or a SET) from passing for a logout token.
    const typ = header.typ?.toLowerCase().replace(/^application\//, '');
    const generic = typ === undefined || typ === 'jwt';
    if (typ !== 'logout+jwt' && (settings.typRequired || !generic)) {
      throw new LogoutTokenRefusedError(`the JWT "typ" is ${String(header.typ)}, not logout+jwt`);
    }
    if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > MAX_ID)) {
      // From an unverified header: a made-up kid must be small before it reaches the key set.
      throw new LogoutTokenRefusedError(`"kid" must be a string of at most ${MAX_ID} characters`);
    }
    const alg = header.alg;
    if (alg === undefined || !idp.algorithms.includes(alg)) {
      throw new LogoutTokenRefusedError(`alg ${String(alg)} is not accepted from this IdP`);
    }
    let claims: JWTPayload;
    try {
      const keys = await this.#keys(tenantId, idp.issuer);
      if (keys === undefined) throw new LogoutUnavailableError(`no key set for ${idp.issuer}`);
      ({ payload: claims } = await jwtVerify(token, keys, {
        issuer: idp.issuer,
        audience: idp.clientId,
        algorithms: [...idp.algorithms],
        clockTolerance: this.#tolerance,
        currentDate: new Date(this.#clock() * 1000),
        requiredClaims: ['iat', 'jti'],
      }));
    } catch (error) {
      throw refusal(error);
    }
    const now = this.#clock();
    const iat = claims.iat ?? 0;
    if (iat > now + this.#tolerance) throw new LogoutTokenRefusedError('the logout token is issued in the future');
    if (now - iat > settings.maxTokenAgeS + this.#tolerance) {
      throw new LogoutTokenRefusedError(
        `the logout token was issued ${now - iat} s ago; this IdP's are accepted up to ${settings.maxTokenAgeS} s old`,
      );
    }
    const events = claims['events'];
    if (!isObject(events) || !isObject(events[BACKCHANNEL_LOGOUT_EVENT])) {
      throw new LogoutTokenRefusedError(`"events" has no ${BACKCHANNEL_LOGOUT_EVENT} object: not a logout token`);
    }
    // §2.4: a logout token MUST NOT carry a nonce (an ID token does: it is not one).
    if (claims['nonce'] !== undefined) throw new LogoutTokenRefusedError('a logout token must not contain "nonce"');
    // One OP application serving several customers: a logout for another customer's session (or a `sub`
    // that is the same person there) must not end this tenant's sessions. As for its ID tokens.
    const tenant = idp.tenantClaim;
    if (tenant !== undefined && claims[tenant.claim] !== tenant.value) {
      throw new LogoutTokenRefusedError(`the logout token is for another customer of this IdP (${tenant.claim})`);
    }
    const jti = identifier(claims, 'jti');
    const sid = identifier(claims, 'sid');
    const sub = identifier(claims, 'sub');
    if (jti === undefined) throw new LogoutTokenRefusedError('the logout token has no "jti"');
    if (sid === undefined && sub === undefined) {
      throw new LogoutTokenRefusedError('the logout token names neither a "sid" nor a "sub"');
    }
    return {
      tenantId,
      idp: { ...idp, backchannelLogout: settings },
      jti,
      issuedAt: iat,
      sid,
      sub,
      alg,
      kid: header.kid,
    };
  }
}

/** An optional string claim, bounded like every id the store takes. */
function identifier(claims: JWTPayload, name: string): string | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.length > MAX_ID) {
    throw new LogoutTokenRefusedError(`"${name}" must be a string of 1 to ${MAX_ID} characters`);
  }
  return value;
}

function refusal(error: unknown): Error {
  if (error instanceof LogoutTokenRefusedError || error instanceof LogoutUnavailableError) return error;
  if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return new LogoutTokenRefusedError('no key of the IdP matches the logout token', { cause: error });
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new LogoutTokenRefusedError('the logout token signature does not verify', { cause: error });
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) {
    return new LogoutTokenRefusedError('the logout token key or algorithm is not accepted', { cause: error });
  }
  if (error instanceof joseErrors.JWTExpired) {
    return new LogoutTokenRefusedError('the logout token has expired', { cause: error });
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new LogoutTokenRefusedError(`logout token claim "${error.claim}" is missing or invalid`, { cause: error });
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return new LogoutTokenRefusedError('the logout token is not a valid JWS', { cause: error });
  }
  return new LogoutUnavailableError("the IdP's keys could not be fetched", { cause: error });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
