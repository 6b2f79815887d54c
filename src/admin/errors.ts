import { SidecarError } from '../errors.js';
import type { CodesOf } from '../errors.js';

/** A refused admin request; rendered as RFC 9457 problem details. */
export class AdminError extends SidecarError {
  readonly code: CodesOf<'ERR_ADMIN_'>;

  constructor(code: CodesOf<'ERR_ADMIN_'>, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
