import { SidecarError } from '../errors.js';

export type SignInErrorCode =
  | 'ERR_SIGNIN_NOT_PROVISIONED'
  | 'ERR_SIGNIN_ACCOUNT_INACTIVE'
  | 'ERR_SIGNIN_UNAVAILABLE'
  | 'ERR_SIGNIN_SESSION_EXPIRED'
  | 'ERR_SIGNIN_SESSION_REVOKED';

/** A verified sign-in that cannot start a session. */
export class SignInRefusedError extends SidecarError {
  readonly code: SignInErrorCode;

  constructor(code: SignInErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
