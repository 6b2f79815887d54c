import { SidecarError } from '../errors.js';
import type { CodesOf } from '../errors.js';

/** A refused request of the app's resource API; rendered as RFC 9457 problem details. */
export class ResourceApiError extends SidecarError {
  readonly code: CodesOf<'ERR_RESOURCE_'>;

  constructor(code: CodesOf<'ERR_RESOURCE_'>, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
