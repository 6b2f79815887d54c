import { SidecarError } from '../errors.js';

/** A request body over the route's limit; nothing beyond the limit was read. */
export class RequestBodyTooLargeError extends SidecarError {
  readonly code = 'ERR_HTTP_BODY_TOO_LARGE';
}
