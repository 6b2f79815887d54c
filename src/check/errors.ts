import { SidecarError } from '../errors.js';

export type CheckRequestErrorCode =
  | 'ERR_CHECK_TENANT_MISSING'
  | 'ERR_CHECK_TENANT_INVALID'
  | 'ERR_CHECK_SUBJECT_MISSING'
  | 'ERR_CHECK_ACTION_MISSING'
  | 'ERR_CHECK_RESOURCE_MISSING'
  | 'ERR_CHECK_BATCH_EMPTY'
  | 'ERR_CHECK_BATCH_TOO_LARGE';

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
