import { SidecarError } from '../errors.js';

/** A payload that is not an AuthZEN request: HTTP 400 with the message (AuthZEN 1.0 §Errors). */
export class AuthzenRequestError extends SidecarError {
  readonly code = 'ERR_AUTHZEN_REQUEST_INVALID';
}

/** A call without the tenant's AuthZEN bearer token. */
export class AuthzenUnauthorizedError extends SidecarError {
  readonly code = 'ERR_AUTHZEN_UNAUTHORIZED';
}

/** No PDP for that tenant: not one this sidecar serves, or one without AuthZEN callers. */
export class AuthzenPdpUnknownError extends SidecarError {
  readonly code = 'ERR_AUTHZEN_PDP_UNKNOWN';
}
