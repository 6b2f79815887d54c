import { SidecarError } from '../errors.js';

export type AdminErrorCode =
  'ERR_ADMIN_UNAUTHORIZED' | 'ERR_ADMIN_NOT_FOUND' | 'ERR_ADMIN_INVALID_REQUEST' | 'ERR_ADMIN_UNAVAILABLE';

const STATUS: Readonly<Record<AdminErrorCode, number>> = {
  ERR_ADMIN_UNAUTHORIZED: 401,
  ERR_ADMIN_NOT_FOUND: 404,
  ERR_ADMIN_INVALID_REQUEST: 400,
  ERR_ADMIN_UNAVAILABLE: 503,
};

/** A refused admin request; rendered as RFC 9457 problem details. */
export class AdminError extends SidecarError {
  readonly code: AdminErrorCode;

  constructor(code: AdminErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get status(): number {
    return STATUS[this.code];
  }
}
