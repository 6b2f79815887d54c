import { SidecarError } from '../errors.js';

/** `IPSIE_SSF_SIGNING_KEYS_FILE` cannot be read or holds no usable private signing key. */
export class SigningKeysInvalidError extends SidecarError {
  readonly code = 'ERR_TRANSMIT_SIGNING_KEYS_INVALID';
}

/** A stream management request from a tenant's receiver that is malformed or asks what we do not offer. */
export class StreamRequestInvalidError extends SidecarError {
  readonly code = 'ERR_TRANSMIT_STREAM_REQUEST_INVALID';
}

/** A stream management request without a bearer token some tenant's receiver holds. */
export class StreamReceiverUnauthorizedError extends SidecarError {
  readonly code = 'ERR_TRANSMIT_STREAM_UNAUTHORIZED';
}

/** No stream of this receiver has that id (another tenant's stream is never found either). */
export class StreamNotFoundError extends SidecarError {
  readonly code = 'ERR_TRANSMIT_STREAM_NOT_FOUND';
}

/** The receiver has a stream already: one per tenant (SSF §8.1.1.1: 409). */
export class StreamExistsError extends SidecarError {
  readonly code = 'ERR_TRANSMIT_STREAM_EXISTS';
}

/** A verification asked for sooner than `min_verification_interval` after the last (SSF §8.1.4.2: 429). */
export class VerificationTooFrequentError extends SidecarError {
  readonly code = 'ERR_TRANSMIT_VERIFICATION_TOO_FREQUENT';

  /** @param retryAfterS when the receiver may ask again */
  constructor(message: string, retryAfterS: number) {
    super(message, { retryAfterS });
  }
}
