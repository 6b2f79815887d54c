import { isSidecarError } from '../errors.js';
import type { ErrorCode, KindTable } from '../errors.js';
import type { Logger } from '../logging/index.js';

/** The HTTP status of each kind, at every HTTP surface (admin, SCIM, SSF, AuthZEN, logout). */
export const HTTP_STATUS: KindTable<number> = {
  invalid_request: 400,
  unprocessable: 422,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  resource_exhausted: 429,
  unavailable: 503,
  upstream_failed: 502,
  timeout: 504,
  not_implemented: 501,
  internal: 500,
};

/** What an HTTP surface may tell the client of an error. */
export interface HttpFailure {
  readonly status: number;
  /** The error code, or `ERR_INTERNAL` for an error without one (a bug; its message is withheld). */
  readonly code: ErrorCode | 'ERR_INTERNAL';
  readonly message: string;
  readonly retryAfterS: number | undefined;
  /** A fault of ours or of what we depend on (status 500 and up), not a refusal of the request. */
  readonly ours: boolean;
}

/**
 * Logs a failed request at the level it deserves: an error without a code
 * (a bug) with its stack, a coded server-side failure as a warning, a
 * refusal of the client's request at info.
 */
export function logFailure(
  logger: Pick<Logger, 'error' | 'warn' | 'info'>,
  failure: HttpFailure,
  error: unknown,
  fields: Record<string, unknown>,
  message: string,
): void {
  if (failure.code === 'ERR_INTERNAL') logger.error({ err: error, ...fields }, message);
  else if (failure.ours) logger.warn({ err: error, ...fields }, message);
  else logger.info({ code: failure.code, detail: failure.message, ...fields }, message);
}

export function httpFailureOf(error: unknown): HttpFailure {
  if (!isSidecarError(error)) {
    return { status: 500, code: 'ERR_INTERNAL', message: 'internal error', retryAfterS: undefined, ours: true };
  }
  const status = HTTP_STATUS[error.kind];
  return { status, code: error.code, message: error.message, retryAfterS: error.retryAfterS, ours: status >= 500 };
}
