import { SidecarError } from '../errors.js';

/** The error codes of RFC 8935 §2.4 (shared by RFC 8936 `setErrs`), and SSF's `invalid_state`. */
export type SetErrorCode =
  | 'invalid_request'
  | 'invalid_key'
  | 'invalid_issuer'
  | 'invalid_audience'
  | 'authentication_failed'
  | 'access_denied'
  | 'invalid_state';

/**
 * A SET refused for what it is or who sent it. Nothing of it was stored
 * (but the refusal, in the audit stream). `err` and the message are what the
 * transmitter receives.
 */
export class SetRefusedError extends SidecarError {
  readonly code: `ERR_SET_${Uppercase<SetErrorCode>}`;
  readonly err: SetErrorCode;

  constructor(err: SetErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.err = err;
    this.code = `ERR_SET_${err.toUpperCase() as Uppercase<SetErrorCode>}`;
  }
}

/**
 * This very SET was accepted before (a redelivery). Push answers it like any
 * replay; poll acknowledges it, since its effects are stored.
 */
export class SetAlreadyAcceptedError extends SetRefusedError {
  constructor(jti: string) {
    super('invalid_request', `the SET with jti ${jti} was already received and applied`);
  }
}

/** The transmitter's keys or metadata could not be fetched: not the SET's fault, retry. */
export class TransmitterUnavailableError extends SidecarError {
  readonly code = 'ERR_SET_TRANSMITTER_UNAVAILABLE';
}

/**
 * A stream management call failed at the transmitter: unreachable, an error
 * status (`status`), or an answer that is not what SSF says.
 */
export class StreamManagementError extends SidecarError {
  readonly code = 'ERR_SSF_MANAGEMENT_FAILED';
  /** The transmitter's HTTP status, when it answered. */
  readonly status: number | undefined;

  constructor(message: string, status: number | undefined, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/** The operation cannot be asked of this transmitter now: no endpoint for it, no credentials, no stream id. */
export class StreamOperationUnavailableError extends SidecarError {
  readonly code = 'ERR_SSF_OPERATION_UNAVAILABLE';
}

/** A stream administration request that is wrong in itself. */
export class StreamAdminRequestError extends SidecarError {
  readonly code = 'ERR_SSF_ADMIN_REQUEST_INVALID';
}

/** A stream administration request naming no transmitter of this tenant with stream management. */
export class TransmitterNotFoundError extends SidecarError {
  readonly code = 'ERR_SSF_TRANSMITTER_NOT_FOUND';
}

/** The verification event we asked for did not arrive in time. */
export class VerificationTimeoutError extends SidecarError {
  readonly code = 'ERR_SSF_VERIFICATION_TIMEOUT';
}

/**
 * A back-channel logout request refused for what it carries (OpenID Connect
 * Back-Channel Logout 1.0 §2.8: 400 with an OAuth-style error). Nothing of
 * it was stored.
 */
export class LogoutTokenRefusedError extends SidecarError {
  readonly code = 'ERR_LOGOUT_TOKEN_INVALID';
}

/** The logout could not be stored now (the IdP's keys, the stream or this replica unreachable): send it again. */
export class LogoutUnavailableError extends SidecarError {
  readonly code = 'ERR_LOGOUT_UNAVAILABLE';
}
