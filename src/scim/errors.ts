import { SidecarError } from '../errors.js';
import type { CodesOf } from '../errors.js';

/** RFC 7644 §3.12 `scimType` values. */
export type ScimType =
  | 'invalidFilter'
  | 'tooMany'
  | 'uniqueness'
  | 'mutability'
  | 'invalidSyntax'
  | 'invalidPath'
  | 'noTarget'
  | 'invalidValue'
  | 'invalidVers'
  | 'sensitive';

export type ScimErrorCode = CodesOf<'ERR_SCIM_'>;

/** The SCIM surface's own column of the error table: each SCIM code's `scimType`, when RFC 7644 names one. */
export const SCIM_TYPE: Readonly<Record<ScimErrorCode, ScimType | undefined>> = {
  ERR_SCIM_INVALID_SYNTAX: 'invalidSyntax',
  ERR_SCIM_INVALID_VALUE: 'invalidValue',
  ERR_SCIM_INVALID_FILTER: 'invalidFilter',
  ERR_SCIM_INVALID_PATH: 'invalidPath',
  ERR_SCIM_NO_TARGET: 'noTarget',
  ERR_SCIM_MUTABILITY: 'mutability',
  ERR_SCIM_UNIQUENESS: 'uniqueness',
  ERR_SCIM_TOO_MANY: 'tooMany',
  ERR_SCIM_UNAUTHORIZED: undefined,
  ERR_SCIM_NOT_FOUND: undefined,
  ERR_SCIM_METHOD_NOT_ALLOWED: undefined,
  ERR_SCIM_PRECONDITION_FAILED: undefined,
  ERR_SCIM_PAYLOAD_TOO_LARGE: undefined,
  ERR_SCIM_UNSUPPORTED_MEDIA_TYPE: undefined,
  ERR_SCIM_RATE_LIMITED: undefined,
  ERR_SCIM_NOT_IMPLEMENTED: undefined,
  ERR_SCIM_UNAVAILABLE: undefined,
};

/** A request the SCIM endpoint refuses; `message` becomes the SCIM `detail`. */
export class ScimError extends SidecarError {
  readonly code: ScimErrorCode;

  constructor(code: ScimErrorCode, message: string, options?: { retryAfterS?: number; cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  get scimType(): ScimType | undefined {
    return SCIM_TYPE[this.code];
  }
}
