import { SidecarError } from '../errors.js';

export type CheckRequestErrorCode =
  | 'ERR_CHECK_TENANT_MISSING'
  | 'ERR_CHECK_TENANT_INVALID'
  | 'ERR_CHECK_SUBJECT_MISSING'
  | 'ERR_CHECK_ACTION_MISSING'
  | 'ERR_CHECK_RESOURCE_MISSING'
  | 'ERR_CHECK_BATCH_EMPTY'
  | 'ERR_CHECK_BATCH_TOO_LARGE'
  | 'ERR_CHECK_WATCH_TOO_MANY_USERS'
  | 'ERR_CHECK_TOKEN_MISSING'
  | 'ERR_CHECK_TXN_TOKEN_UNSUPPORTED'
  | 'ERR_CHECK_SIGNIN_INVALID';

/** The caller sent a request that cannot be decided as it stands. */
export class CheckRequestError extends SidecarError {
  readonly code: CheckRequestErrorCode;

  constructor(code: CheckRequestErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** The store has not yet applied the `min_sequence` the caller demanded. */
export class SequenceNotReachedError extends SidecarError {
  readonly code = 'ERR_CHECK_SEQUENCE_NOT_REACHED';
}

/** The subject form is part of the API but not served by this build. */
export class SubjectFormUnsupportedError extends SidecarError {
  readonly code = 'ERR_CHECK_SUBJECT_UNSUPPORTED';
}

/** This sidecar has no stream of session events (it runs without NATS). */
export class SessionEventsUnavailableError extends SidecarError {
  readonly code = 'ERR_CHECK_SESSION_EVENTS_UNAVAILABLE';
}

/** A watcher did not read its events fast enough; it should reconnect. */
export class WatcherTooSlowError extends SidecarError {
  readonly code = 'ERR_CHECK_WATCHER_TOO_SLOW';
}

/** A call without a caller credential this sidecar accepts (IPSIE_GRPC_CALLER_TOKEN_SHA256). */
export class CallerUnauthenticatedError extends SidecarError {
  readonly code = 'ERR_CHECK_CALLER_UNAUTHENTICATED';
}

/** A dry-run request that is not a Check: says which field. */
export class DryRunRequestError extends SidecarError {
  readonly code = 'ERR_CHECK_DRY_RUN_INVALID';
}
