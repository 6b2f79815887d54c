import { SidecarError } from '../errors.js';

/** Every way a token is refused; at Check each is a decision reason (`TOKEN_EXPIRED`). */
export const TOKEN_ERROR_CODES = [
  'ERR_TOKEN_MALFORMED',
  'ERR_TOKEN_TYPE_INVALID',
  'ERR_TOKEN_ISSUER_UNKNOWN',
  'ERR_TOKEN_ALGORITHM_REFUSED',
  'ERR_TOKEN_SIGNATURE_INVALID',
  'ERR_TOKEN_KEY_UNKNOWN',
  'ERR_TOKEN_EXPIRED',
  'ERR_TOKEN_NOT_YET_VALID',
  'ERR_TOKEN_AUDIENCE_INVALID',
  'ERR_TOKEN_NONCE_MISMATCH',
  'ERR_TOKEN_REPLAYED',
  'ERR_TOKEN_REVOKED',
  'ERR_TOKEN_CLAIM_INVALID',
] as const;

export type TokenErrorCode = (typeof TOKEN_ERROR_CODES)[number];

/** A token this tenant's IdPs did not issue for us, or no longer valid. The `reason` is what Check reports. */
export class TokenRejectedError extends SidecarError {
  readonly code: TokenErrorCode;

  constructor(code: TokenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** The decision reason code: `ERR_TOKEN_EXPIRED` -> `TOKEN_EXPIRED`. */
  get reason(): string {
    return this.code.slice('ERR_'.length);
  }
}

/** The IdP's keys or metadata could not be fetched: not the token's fault, retry. */
export class IdentityProviderUnavailableError extends SidecarError {
  readonly code = 'ERR_TOKEN_IDP_UNAVAILABLE';
}
