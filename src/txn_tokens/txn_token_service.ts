import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import type { JWTPayload } from 'jose';
import { TokenRejectedError } from '../tokens/index.js';
import { TXN_TOKEN_ALGORITHM } from './txn_key_ring.js';
import type { TxnKeyRing } from './txn_key_ring.js';

/** The JWT `typ` of a transaction token (draft-ietf-oauth-transaction-tokens). */
export const TXN_TOKEN_TYPE = 'txntoken+jwt';

/** What a transaction token authorizes: the action and resource of the one decision it was minted after. */
export interface TxnScope {
  readonly action: string;
  readonly resource: { readonly type: string; readonly id: string };
}

/** What a minted token says, and what a verified one is read back as. */
export interface TxnGrant {
  readonly tenantId: string;
  /** Our user id: the token's `sub`. */
  readonly userId: string;
  /** Our session id, when the decision was for a session; the session must still be live at verification. */
  readonly sessionId: string | undefined;
  /** The IdP binding of the user: the session's issuer and the user's subject there, when known. */
  readonly idp: { readonly iss: string; readonly sub: string | undefined } | undefined;
  readonly scope: TxnScope;
  readonly decisionId: string;
  readonly policyVersion: string;
  readonly purpose: string | undefined;
  /** Where the original request came from (`rctx.req_ip`). */
  readonly requestIp: string | undefined;
}

export interface VerifiedTxnToken extends TxnGrant {
  /** The transaction id (`txn`), the same for every hop of the call chain. */
  readonly txn: string;
  readonly expiresAt: number;
}

export interface TxnTokenServiceOptions {
  readonly keys: TxnKeyRing;
  /** The trust domain: the tokens' `iss`, and with the tenant their `aud`. */
  readonly trustDomain: string;
  /** Token lifetime, in s. */
  readonly lifetimeS: number;
  /** Leeway on `exp` and `iat`, in s. */
  readonly clockToleranceS: number;
  /** Unix seconds. @defaultValue the system clock */
  readonly clock?: () => number;
}

/**
 * Mints and verifies transaction tokens with the tenant's shared keys. A
 * token's `aud` is the tenant's trust domain (`<trust domain>:<tenant>`), so
 * a token of one tenant is never another's; its `scope` and `tctx` carry the
 * one decision it was minted after.
 */
export class TxnTokenService {
  readonly #keys: TxnKeyRing;
  readonly #trustDomain: string;
  readonly #lifetimeS: number;
  readonly #toleranceS: number;
  readonly #clock: () => number;

  constructor(options: TxnTokenServiceOptions) {
    this.#keys = options.keys;
    this.#trustDomain = options.trustDomain;
    this.#lifetimeS = options.lifetimeS;
    this.#toleranceS = options.clockToleranceS;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /** The `aud` of a tenant's tokens. */
  audience(tenantId: string): string {
    return `${this.#trustDomain}:${tenantId}`;
  }

  /** @throws {TxnKeysUnavailableError} `ERR_TXN_KEYS_UNAVAILABLE` */
  async mint(grant: TxnGrant): Promise<string> {
    const signing = await this.#keys.signingKey(grant.tenantId);
    const now = this.#clock();
    const { scope } = grant;
    return await new SignJWT({
      txn: randomUUID(),
      scope: scopeString(scope),
      tctx: {
        tenant: grant.tenantId,
        action: scope.action,
        resource: { type: scope.resource.type, id: scope.resource.id },
        decision_id: grant.decisionId,
        policy_version: grant.policyVersion,
        ...(grant.sessionId === undefined ? {} : { sid: grant.sessionId }),
        ...(grant.idp === undefined ? {} : { idp: { iss: grant.idp.iss, ...optional('sub', grant.idp.sub) } }),
        ...optional('purpose', grant.purpose),
      },
      rctx: { req_wl: 'ipsie-sidecar', ...optional('req_ip', grant.requestIp) },
    })
      .setProtectedHeader({ alg: signing.alg, typ: TXN_TOKEN_TYPE, kid: signing.kid })
      .setIssuer(this.#trustDomain)
      .setAudience(this.audience(grant.tenantId))
      .setSubject(grant.userId)
      .setIssuedAt(now)
      .setExpirationTime(now + this.#lifetimeS)
      .sign(signing.key);
  }

  /**
   * Verifies a token presented to `tenantId`: typed `txntoken+jwt`, signed ES256 by one of the tenant's keys,
   * issued by our trust domain for this tenant, not expired, no longer-lived than our lifetime.
   *
   * @throws {TokenRejectedError} `ERR_TOKEN_*`, the decision reason
   * @throws {TxnKeysUnavailableError} `ERR_TXN_KEYS_UNAVAILABLE` (an unknown `kid` could not be looked up)
   */
  async verify(tenantId: string, token: string): Promise<VerifiedTxnToken> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch (cause) {
      throw new TokenRejectedError('ERR_TOKEN_MALFORMED', 'the transaction token is not a JWS', { cause });
    }
    // RFC 8725 §3.11: an ID token, access token, logout token or SET is never taken for a transaction token.
    const typ = typeof header.typ === 'string' ? header.typ.toLowerCase().replace(/^application\//, '') : undefined;
    if (typ !== TXN_TOKEN_TYPE) {
      throw new TokenRejectedError(
        'ERR_TOKEN_TYPE_INVALID',
        `a token of type ${String(header.typ)} is not a txn token`,
      );
    }
    if (header.alg !== TXN_TOKEN_ALGORITHM) {
      throw new TokenRejectedError('ERR_TOKEN_ALGORITHM_REFUSED', `alg ${String(header.alg)} is not accepted`);
    }
    if (typeof header.kid !== 'string' || header.kid === '') {
      throw new TokenRejectedError('ERR_TOKEN_MALFORMED', 'the transaction token names no kid');
    }
    const key = await this.#keys.verificationKey(tenantId, header.kid);
    if (key === undefined) {
      throw new TokenRejectedError('ERR_TOKEN_KEY_UNKNOWN', `kid ${header.kid} is not a key of this tenant`);
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [TXN_TOKEN_ALGORITHM],
        typ: TXN_TOKEN_TYPE,
        issuer: this.#trustDomain,
        audience: this.audience(tenantId),
        clockTolerance: this.#toleranceS,
        currentDate: new Date(this.#clock() * 1000),
        requiredClaims: ['iat', 'exp', 'sub', 'txn'],
      }));
    } catch (error) {
      throw rejection(error);
    }
    return this.#read(tenantId, payload);
  }

  #read(tenantId: string, payload: JWTPayload): VerifiedTxnToken {
    const { iat, exp, sub } = payload;
    const tctx = payload['tctx'] as Record<string, unknown> | undefined;
    const resource = tctx?.['resource'] as Record<string, unknown> | undefined;
    const invalid = (what: string): TokenRejectedError =>
      new TokenRejectedError('ERR_TOKEN_CLAIM_INVALID', `the transaction token's ${what} is missing or invalid`);
    if (typeof iat !== 'number' || typeof exp !== 'number' || exp - iat > this.#lifetimeS) throw invalid('lifetime');
    if (typeof sub !== 'string' || sub === '' || typeof payload['txn'] !== 'string') throw invalid('sub or txn');
    if (typeof tctx !== 'object' || tctx['tenant'] !== tenantId) throw invalid('tctx.tenant');
    const action = tctx['action'];
    if (typeof action !== 'string' || typeof resource?.['type'] !== 'string' || typeof resource['id'] !== 'string') {
      throw invalid('tctx.action or tctx.resource');
    }
    const sid = tctx['sid'];
    if (sid !== undefined && (typeof sid !== 'string' || sid === '')) throw invalid('tctx.sid');
    const idp = tctx['idp'] as Record<string, unknown> | undefined;
    const rctx = payload['rctx'] as Record<string, unknown> | undefined;
    return {
      tenantId,
      userId: sub,
      sessionId: sid,
      idp:
        typeof idp?.['iss'] === 'string'
          ? { iss: idp['iss'], sub: typeof idp['sub'] === 'string' ? idp['sub'] : undefined }
          : undefined,
      scope: { action, resource: { type: resource['type'], id: resource['id'] } },
      decisionId: stringOr(tctx['decision_id']),
      policyVersion: stringOr(tctx['policy_version']),
      purpose: typeof tctx['purpose'] === 'string' ? tctx['purpose'] : undefined,
      requestIp: typeof rctx?.['req_ip'] === 'string' ? rctx['req_ip'] : undefined,
      txn: payload['txn'],
      expiresAt: exp,
    };
  }
}

/** Whether a request's action and resource are the ones the token was minted for (the resource id too). */
export function withinScope(scope: TxnScope, action: string, resource: { type: string; id: string }): boolean {
  return scope.action === action && scope.resource.type === resource.type && scope.resource.id === resource.id;
}

/** The draft's space-separated `scope`: one value, each part percent-encoded so no space or colon is ambiguous. */
function scopeString(scope: TxnScope): string {
  return [scope.action, scope.resource.type, scope.resource.id].map(encodeURIComponent).join(':');
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined || value === '' ? {} : ({ [key]: value } as Record<K, string>);
}

function stringOr(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function rejection(error: unknown): TokenRejectedError {
  if (error instanceof joseErrors.JWTExpired) {
    return new TokenRejectedError('ERR_TOKEN_EXPIRED', 'the transaction token has expired', { cause: error });
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new TokenRejectedError('ERR_TOKEN_SIGNATURE_INVALID', 'the signature does not verify', { cause: error });
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const code =
      error.claim === 'aud' || error.claim === 'iss'
        ? 'ERR_TOKEN_AUDIENCE_INVALID'
        : error.claim === 'iat' || error.claim === 'nbf'
          ? 'ERR_TOKEN_NOT_YET_VALID'
          : 'ERR_TOKEN_CLAIM_INVALID';
    return new TokenRejectedError(code, `the transaction token's ${error.claim} is not accepted`, { cause: error });
  }
  if (error instanceof joseErrors.JOSEError) {
    return new TokenRejectedError('ERR_TOKEN_MALFORMED', 'the transaction token cannot be verified', { cause: error });
  }
  throw error;
}
