import { SidecarError } from '../errors.js';

export type ChangeRejectedCode =
  | 'ERR_CHANGE_MALFORMED'
  | 'ERR_CHANGE_VERSION_UNSUPPORTED'
  | 'ERR_CHANGE_KIND_UNKNOWN'
  | 'ERR_CHANGE_INVALID'
  | 'ERR_CHANGE_SUBJECT_MISMATCH'
  | 'ERR_CHANGE_SEALED_WITHOUT_KEY';

/** A message that is not a change this build can apply. Nothing of it is applied. */
export class ChangeRejectedError extends SidecarError {
  readonly code: ChangeRejectedCode;
  /** JSON path of the offending field, when one is at fault (e.g. `data.user_name`). */
  readonly field: string | undefined;

  constructor(code: ChangeRejectedCode, message: string, field?: string) {
    super(message);
    this.code = code;
    this.field = field;
  }
}
