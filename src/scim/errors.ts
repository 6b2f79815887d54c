import { SidecarError } from '../errors.js';

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

export type ScimErrorCode =
  | 'ERR_SCIM_INVALID_SYNTAX'
  | 'ERR_SCIM_INVALID_VALUE'
  | 'ERR_SCIM_INVALID_FILTER'
  | 'ERR_SCIM_INVALID_PATH'
  | 'ERR_SCIM_NO_TARGET'
  | 'ERR_SCIM_MUTABILITY'
  | 'ERR_SCIM_UNIQUENESS'
  | 'ERR_SCIM_TOO_MANY'
  | 'ERR_SCIM_UNAUTHORIZED'
  | 'ERR_SCIM_NOT_FOUND'
  | 'ERR_SCIM_METHOD_NOT_ALLOWED'
  | 'ERR_SCIM_PRECONDITION_FAILED'
  | 'ERR_SCIM_PAYLOAD_TOO_LARGE'
  | 'ERR_SCIM_UNSUPPORTED_MEDIA_TYPE'
  | 'ERR_SCIM_RATE_LIMITED'
  | 'ERR_SCIM_NOT_IMPLEMENTED'
  | 'ERR_SCIM_UNAVAILABLE';

/** The one table from code to HTTP status and `scimType` (the SCIM edge's mapping). */
export const SCIM_STATUS: Readonly<Record<ScimErrorCode, { status: number; scimType?: ScimType }>> = {
  ERR_SCIM_INVALID_SYNTAX: { status: 400, scimType: 'invalidSyntax' },
  ERR_SCIM_INVALID_VALUE: { status: 400, scimType: 'invalidValue' },
  ERR_SCIM_INVALID_FILTER: { status: 400, scimType: 'invalidFilter' },
  ERR_SCIM_INVALID_PATH: { status: 400, scimType: 'invalidPath' },
  ERR_SCIM_NO_TARGET: { status: 400, scimType: 'noTarget' },
  ERR_SCIM_MUTABILITY: { status: 400, scimType: 'mutability' },
  ERR_SCIM_UNIQUENESS: { status: 409, scimType: 'uniqueness' },
  ERR_SCIM_TOO_MANY: { status: 400, scimType: 'tooMany' },
  ERR_SCIM_UNAUTHORIZED: { status: 401 },
  ERR_SCIM_NOT_FOUND: { status: 404 },
  ERR_SCIM_METHOD_NOT_ALLOWED: { status: 405 },
  ERR_SCIM_PRECONDITION_FAILED: { status: 412 },
  ERR_SCIM_PAYLOAD_TOO_LARGE: { status: 413 },
  ERR_SCIM_UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  ERR_SCIM_RATE_LIMITED: { status: 429 },
  ERR_SCIM_NOT_IMPLEMENTED: { status: 501 },
  ERR_SCIM_UNAVAILABLE: { status: 503 },
};

/** A request the SCIM endpoint refuses; `message` becomes the SCIM `detail`. */
export class ScimError extends SidecarError {
  readonly code: ScimErrorCode;
  /** Seconds, for 429 `Retry-After`. */
  readonly retryAfter: number | undefined;

  constructor(code: ScimErrorCode, message: string, options?: { retryAfter?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryAfter = options?.retryAfter;
  }

  get status(): number {
    return SCIM_STATUS[this.code].status;
  }

  get scimType(): ScimType | undefined {
    return SCIM_STATUS[this.code].scimType;
  }
}
