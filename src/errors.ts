/**
 * Every error code the sidecar raises, in one table, and the base class of
 * every domain error. A code is what a client or an operator switches on;
 * its kind is what each surface maps to its own status (gRPC in
 * `src/check/status.ts`, HTTP in `src/http/http_status.ts`), through a
 * table typed over every kind. A code missing here does not compile as a
 * `SidecarError`'s code; a kind missing from a surface's table does not
 * compile either.
 *
 * Each concept folder owns one prefix (`ERR_CHECK_` is `src/check/`'s) and
 * its error classes live in its `errors.ts`.
 */

/** What went wrong, as a surface sees it: a client error, a retryable one, or ours. */
export type ErrorKind =
  /** The request is malformed or names something impossible. */
  | 'invalid_request'
  /** The request is well-formed but what it carries cannot be accepted (a policy that does not compile). */
  | 'unprocessable'
  | 'unauthenticated'
  | 'permission_denied'
  | 'not_found'
  | 'method_not_allowed'
  /** It conflicts with the current state: it exists already, or another writer was first. */
  | 'conflict'
  /** A condition the caller set is not met (yet): `If-Match`, `min_sequence`. */
  | 'precondition_failed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  /** Too much at once: retry later. */
  | 'resource_exhausted'
  /** A dependency (store, stream, IdP) cannot be reached now: retry. */
  | 'unavailable'
  /** A server we called answered wrongly. */
  | 'upstream_failed'
  | 'timeout'
  | 'not_implemented'
  /** Not the caller's doing and not transient: configuration, corrupt data. */
  | 'internal';

/** A surface's wire value for every kind; leaving one out does not compile. */
export type KindTable<T> = Readonly<Record<ErrorKind, T>>;

interface CodeEntry {
  readonly kind: ErrorKind;
  /**
   * The stable name gRPC clients switch on (`google.rpc.ErrorInfo.reason`)
   * and Check reports in decision reasons. Defaults to the code without `ERR_`.
   */
  readonly reason?: string;
}

export const ERROR_CODES = {
  // src/admin
  ERR_ADMIN_UNAUTHORIZED: { kind: 'unauthenticated' },
  ERR_ADMIN_NOT_FOUND: { kind: 'not_found' },
  ERR_ADMIN_INVALID_REQUEST: { kind: 'invalid_request' },
  ERR_ADMIN_UNAVAILABLE: { kind: 'unavailable' },

  // src/resources
  ERR_RESOURCE_UNAUTHORIZED: { kind: 'unauthenticated' },
  ERR_RESOURCE_INVALID_REQUEST: { kind: 'invalid_request' },
  ERR_RESOURCE_NOT_FOUND: { kind: 'not_found' },
  ERR_RESOURCE_CONFLICT: { kind: 'conflict' },
  ERR_RESOURCE_PAYLOAD_TOO_LARGE: { kind: 'payload_too_large' },
  ERR_RESOURCE_UNSUPPORTED_MEDIA_TYPE: { kind: 'unsupported_media_type' },
  ERR_RESOURCE_UNAVAILABLE: { kind: 'unavailable' },

  // src/audit
  ERR_AUDIT_RECORD_EXISTS: { kind: 'conflict' },
  ERR_AUDIT_REQUEST_INVALID: { kind: 'invalid_request' },
  /** A record was sealed under the tenant's customer-managed key, and the tenant has none configured now. */
  ERR_AUDIT_SEALED_WITHOUT_KEY: { kind: 'internal' },

  // src/authzen
  ERR_AUTHZEN_REQUEST_INVALID: { kind: 'invalid_request' },
  ERR_AUTHZEN_UNAUTHORIZED: { kind: 'unauthenticated' },
  ERR_AUTHZEN_PDP_UNKNOWN: { kind: 'not_found' },

  // src/explain
  ERR_EXPLAIN_DECISION_UNKNOWN: { kind: 'not_found' },
  ERR_EXPLAIN_REQUEST_INVALID: { kind: 'invalid_request' },
  ERR_EXPLAIN_BUSY: { kind: 'resource_exhausted' },

  // src/changes
  ERR_CHANGE_MALFORMED: { kind: 'invalid_request' },
  ERR_CHANGE_VERSION_UNSUPPORTED: { kind: 'invalid_request' },
  ERR_CHANGE_KIND_UNKNOWN: { kind: 'invalid_request' },
  ERR_CHANGE_INVALID: { kind: 'invalid_request' },
  ERR_CHANGE_SUBJECT_MISMATCH: { kind: 'invalid_request' },
  /** A tenant's data is sealed but it has no key to open it with (its customer-managed key was removed from the tenants file). */
  ERR_CHANGE_SEALED_WITHOUT_KEY: { kind: 'internal' },

  // src/check
  ERR_CHECK_TENANT_MISSING: { kind: 'invalid_request', reason: 'TENANT_MISSING' },
  ERR_CHECK_TENANT_INVALID: { kind: 'invalid_request', reason: 'TENANT_INVALID' },
  ERR_CHECK_SUBJECT_MISSING: { kind: 'invalid_request', reason: 'SUBJECT_MISSING' },
  ERR_CHECK_ACTION_MISSING: { kind: 'invalid_request', reason: 'ACTION_MISSING' },
  ERR_CHECK_RESOURCE_MISSING: { kind: 'invalid_request', reason: 'RESOURCE_MISSING' },
  ERR_CHECK_BATCH_EMPTY: { kind: 'invalid_request', reason: 'BATCH_EMPTY' },
  ERR_CHECK_BATCH_TOO_LARGE: { kind: 'invalid_request', reason: 'BATCH_TOO_LARGE' },
  ERR_CHECK_WATCH_TOO_MANY_USERS: { kind: 'invalid_request', reason: 'WATCH_TOO_MANY_USERS' },
  ERR_CHECK_TOKEN_MISSING: { kind: 'invalid_request', reason: 'TOKEN_MISSING' },
  ERR_CHECK_SIGNIN_INVALID: { kind: 'invalid_request', reason: 'SIGNIN_INVALID' },
  ERR_CHECK_SEQUENCE_NOT_REACHED: { kind: 'precondition_failed', reason: 'SEQUENCE_NOT_REACHED' },
  ERR_CHECK_SUBJECT_UNSUPPORTED: { kind: 'not_implemented', reason: 'SUBJECT_UNSUPPORTED' },
  ERR_CHECK_SESSION_EVENTS_UNAVAILABLE: { kind: 'unavailable', reason: 'SESSION_EVENTS_UNAVAILABLE' },
  ERR_CHECK_WATCHER_TOO_SLOW: { kind: 'resource_exhausted', reason: 'WATCHER_TOO_SLOW' },
  ERR_CHECK_CALLER_UNAUTHENTICATED: { kind: 'unauthenticated', reason: 'CALLER_UNAUTHENTICATED' },
  ERR_CHECK_DRY_RUN_INVALID: { kind: 'invalid_request' },
  ERR_CHECK_TXN_TOKEN_UNSUPPORTED: { kind: 'invalid_request', reason: 'TXN_TOKEN_UNSUPPORTED' },

  // src/config
  ERR_CONFIG_INVALID: { kind: 'internal' },

  // src/distribution (the policy catalog)
  ERR_CATALOG_VERSION_NOT_FOUND: { kind: 'not_found' },
  ERR_CATALOG_CONFLICT: { kind: 'conflict' },
  ERR_CATALOG_UPLOAD_INVALID: { kind: 'invalid_request' },
  ERR_CATALOG_BUNDLE_INVALID: { kind: 'internal' },
  ERR_CATALOG_DRY_RUN_FAILED: { kind: 'unprocessable' },
  ERR_CATALOG_ATTRIBUTES_BREAKING: { kind: 'conflict' },

  // src/distribution (promotion from a tenant's sandbox to production)
  ERR_CATALOG_PROMOTION_NO_SANDBOX: { kind: 'not_found' },
  ERR_CATALOG_PROMOTION_SOURCE_FORBIDDEN: { kind: 'permission_denied' },
  ERR_CATALOG_PROMOTION_REVIEW_UNKNOWN: { kind: 'not_found' },
  ERR_CATALOG_PROMOTION_STALE: { kind: 'conflict' },
  ERR_CATALOG_PROMOTION_INVALID: { kind: 'invalid_request' },

  // src/http (the HTTP layer every HTTP surface shares)
  ERR_HTTP_BODY_TOO_LARGE: { kind: 'payload_too_large' },

  // src/ingest
  ERR_INGEST_STREAM_UNREACHABLE: { kind: 'unavailable' },
  ERR_INGEST_STOPPED: { kind: 'unavailable' },

  // src/policy
  ERR_POLICY_COMPILE_FAILED: { kind: 'unprocessable' },
  ERR_POLICY_TEST_FAILED: { kind: 'unprocessable' },
  ERR_POLICY_MODULE_REJECTED: { kind: 'unprocessable' },
  ERR_POLICY_COMPILE_TIMEOUT: { kind: 'unprocessable' },
  ERR_POLICY_COMPILE_MEMORY: { kind: 'unprocessable' },
  ERR_POLICY_OPA_UNAVAILABLE: { kind: 'unavailable' },
  ERR_POLICY_NOT_LOADED: { kind: 'unavailable' },
  // A tenant's Wasm that traps: nothing the caller can change, and not transient.
  ERR_POLICY_EVALUATION_FAILED: { kind: 'internal' },
  ERR_POLICY_POOL_CLOSED: { kind: 'unavailable' },
  ERR_POLICY_OVERLOADED: { kind: 'resource_exhausted' },

  // src/saml (SAML 2.0 sign-in)
  ERR_SAML_MALFORMED: { kind: 'unauthenticated' },
  ERR_SAML_SIGNATURE_INVALID: { kind: 'unauthenticated' },
  ERR_SAML_ISSUER_UNKNOWN: { kind: 'unauthenticated' },
  ERR_SAML_AUDIENCE_INVALID: { kind: 'unauthenticated' },
  ERR_SAML_RECIPIENT_INVALID: { kind: 'unauthenticated' },
  ERR_SAML_DESTINATION_INVALID: { kind: 'unauthenticated' },
  ERR_SAML_EXPIRED: { kind: 'unauthenticated' },
  ERR_SAML_NOT_YET_VALID: { kind: 'unauthenticated' },
  ERR_SAML_UNSOLICITED: { kind: 'unauthenticated' },
  ERR_SAML_REQUEST_UNKNOWN: { kind: 'unauthenticated' },
  ERR_SAML_IDP_STATUS: { kind: 'unauthenticated' },
  ERR_SAML_NOT_CONFIGURED: { kind: 'invalid_request' },
  ERR_SAML_METADATA_UNAVAILABLE: { kind: 'unavailable', reason: 'SAML_METADATA_UNAVAILABLE' },

  // src/scim
  ERR_SCIM_INVALID_SYNTAX: { kind: 'invalid_request' },
  ERR_SCIM_INVALID_VALUE: { kind: 'invalid_request' },
  ERR_SCIM_INVALID_FILTER: { kind: 'invalid_request' },
  ERR_SCIM_INVALID_PATH: { kind: 'invalid_request' },
  ERR_SCIM_NO_TARGET: { kind: 'invalid_request' },
  ERR_SCIM_MUTABILITY: { kind: 'invalid_request' },
  ERR_SCIM_TOO_MANY: { kind: 'invalid_request' },
  ERR_SCIM_UNIQUENESS: { kind: 'conflict' },
  ERR_SCIM_UNAUTHORIZED: { kind: 'unauthenticated' },
  ERR_SCIM_NOT_FOUND: { kind: 'not_found' },
  ERR_SCIM_METHOD_NOT_ALLOWED: { kind: 'method_not_allowed' },
  ERR_SCIM_PRECONDITION_FAILED: { kind: 'precondition_failed' },
  ERR_SCIM_PAYLOAD_TOO_LARGE: { kind: 'payload_too_large' },
  ERR_SCIM_UNSUPPORTED_MEDIA_TYPE: { kind: 'unsupported_media_type' },
  ERR_SCIM_RATE_LIMITED: { kind: 'resource_exhausted' },
  ERR_SCIM_NOT_IMPLEMENTED: { kind: 'not_implemented' },
  ERR_SCIM_UNAVAILABLE: { kind: 'unavailable' },

  // src/session (sign-in)
  ERR_SIGNIN_NOT_PROVISIONED: { kind: 'permission_denied', reason: 'USER_NOT_PROVISIONED' },
  ERR_SIGNIN_ACCOUNT_INACTIVE: { kind: 'permission_denied', reason: 'ACCOUNT_INACTIVE' },
  ERR_SIGNIN_UNAVAILABLE: { kind: 'unavailable', reason: 'SIGNIN_UNAVAILABLE' },
  ERR_SIGNIN_SESSION_EXPIRED: { kind: 'unauthenticated', reason: 'SESSION_EXPIRED' },
  ERR_SIGNIN_SESSION_REVOKED: { kind: 'unauthenticated', reason: 'SESSION_REVOKED' },

  // src/signals (the receiver): SETs refused with RFC 8935's `err`, logout tokens, stream administration
  ERR_SET_INVALID_REQUEST: { kind: 'invalid_request' },
  ERR_SET_INVALID_KEY: { kind: 'invalid_request' },
  ERR_SET_INVALID_ISSUER: { kind: 'invalid_request' },
  ERR_SET_INVALID_AUDIENCE: { kind: 'invalid_request' },
  ERR_SET_INVALID_STATE: { kind: 'invalid_request' },
  ERR_SET_AUTHENTICATION_FAILED: { kind: 'unauthenticated' },
  ERR_SET_ACCESS_DENIED: { kind: 'permission_denied' },
  ERR_SET_TRANSMITTER_UNAVAILABLE: { kind: 'unavailable' },
  ERR_LOGOUT_TOKEN_INVALID: { kind: 'invalid_request' },
  ERR_LOGOUT_UNAVAILABLE: { kind: 'unavailable' },
  ERR_SSF_ADMIN_REQUEST_INVALID: { kind: 'invalid_request' },
  ERR_SSF_TRANSMITTER_NOT_FOUND: { kind: 'not_found' },
  ERR_SSF_OPERATION_UNAVAILABLE: { kind: 'conflict' },
  ERR_SSF_MANAGEMENT_FAILED: { kind: 'upstream_failed' },
  ERR_SSF_VERIFICATION_TIMEOUT: { kind: 'timeout' },

  // src/store
  ERR_STORE_TENANT_UNKNOWN: { kind: 'not_found', reason: 'TENANT_UNKNOWN' },
  ERR_STORE_UNAVAILABLE: { kind: 'unavailable', reason: 'STORE_UNAVAILABLE' },

  // src/stream
  ERR_STREAM_CONFIG_CONFLICT: { kind: 'internal' },
  ERR_STREAM_PUBLISH_FAILED: { kind: 'unavailable' },
  ERR_STREAM_SEQUENCE_CONFLICT: { kind: 'conflict' },

  // src/tokens
  ERR_TOKEN_MALFORMED: { kind: 'unauthenticated' },
  ERR_TOKEN_TYPE_INVALID: { kind: 'unauthenticated' },
  ERR_TOKEN_ISSUER_UNKNOWN: { kind: 'unauthenticated' },
  ERR_TOKEN_ALGORITHM_REFUSED: { kind: 'unauthenticated' },
  ERR_TOKEN_SIGNATURE_INVALID: { kind: 'unauthenticated' },
  ERR_TOKEN_KEY_UNKNOWN: { kind: 'unauthenticated' },
  ERR_TOKEN_EXPIRED: { kind: 'unauthenticated' },
  ERR_TOKEN_NOT_YET_VALID: { kind: 'unauthenticated' },
  ERR_TOKEN_AUDIENCE_INVALID: { kind: 'unauthenticated' },
  ERR_TOKEN_NONCE_MISMATCH: { kind: 'unauthenticated' },
  ERR_TOKEN_REPLAYED: { kind: 'unauthenticated' },
  ERR_TOKEN_REVOKED: { kind: 'unauthenticated' },
  ERR_TOKEN_CLAIM_INVALID: { kind: 'unauthenticated' },
  ERR_TOKEN_IDP_UNAVAILABLE: { kind: 'unavailable', reason: 'IDP_UNAVAILABLE' },

  // src/tenant_keys (customer-managed keys: a tenant's personal data sealed under its own key)
  /** The tenant's key was revoked (crypto-shredded): its personal data cannot be read, by design. */
  ERR_TENANT_KEY_REVOKED: { kind: 'permission_denied', reason: 'TENANT_KEY_REVOKED' },
  /** The tenant's keys are not loaded yet, or its key service cannot be reached: retry. */
  ERR_TENANT_KEY_UNAVAILABLE: { kind: 'unavailable', reason: 'TENANT_KEY_UNAVAILABLE' },
  /** A sealed value does not open with any of the tenant's data keys: forged, truncated or another tenant's. */
  ERR_TENANT_KEY_SEALED_INVALID: { kind: 'internal', reason: 'TENANT_KEY_SEALED_INVALID' },
  /** The tenants file names a key the provider does not have, or the provider refused the request. */
  ERR_TENANT_KEY_PROVIDER_FAILED: { kind: 'upstream_failed', reason: 'TENANT_KEY_PROVIDER_FAILED' },
  /** A key admin request that cannot be done as asked: no confirmation, an unknown field, a malformed key id. */
  ERR_TENANT_KEY_REQUEST_INVALID: { kind: 'invalid_request' },
  /** The tenant has no customer-managed key (its data is kept in clear). */
  ERR_TENANT_KEY_NOT_CONFIGURED: { kind: 'not_found' },

  // src/txn_tokens (transaction tokens: the tenants' shared signing keys)
  ERR_TXN_KEYS_UNAVAILABLE: { kind: 'unavailable', reason: 'TXN_KEYS_UNAVAILABLE' },

  // src/transmit (our SSF transmitter and the stream management it offers)
  ERR_TRANSMIT_SIGNING_KEYS_INVALID: { kind: 'internal' },
  ERR_TRANSMIT_STREAM_REQUEST_INVALID: { kind: 'invalid_request' },
  ERR_TRANSMIT_STREAM_UNAUTHORIZED: { kind: 'unauthenticated' },
  ERR_TRANSMIT_STREAM_NOT_FOUND: { kind: 'not_found' },
  ERR_TRANSMIT_STREAM_EXISTS: { kind: 'conflict' },
  ERR_TRANSMIT_VERIFICATION_TOO_FREQUENT: { kind: 'resource_exhausted' },
} as const satisfies Record<`ERR_${string}`, CodeEntry>;

/** Every error code, the one union every surface's mapping is typed over. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes that begin with `prefix`, e.g. `CodesOf<'ERR_SCIM_'>`. */
export type CodesOf<Prefix extends string> = Extract<ErrorCode, `${Prefix}${string}`>;

export function kindOf(code: ErrorCode): ErrorKind {
  return ERROR_CODES[code].kind;
}

/** The stable reason clients switch on: `ERR_TOKEN_EXPIRED` -> `TOKEN_EXPIRED` unless the table names another. */
export function reasonOf(code: ErrorCode): string {
  const entry: CodeEntry = ERROR_CODES[code];
  return entry.reason ?? code.slice('ERR_'.length);
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CODES, value);
}

export interface SidecarErrorOptions {
  readonly cause?: unknown;
  readonly detail?: Record<string, unknown>;
  /** Seconds after which the caller may retry (HTTP `Retry-After`), for transient refusals. */
  readonly retryAfterS?: number;
}

/**
 * The base of every domain error. `message` is safe to show a client;
 * `detail` is for logs only.
 */
export abstract class SidecarError extends Error {
  /** Stable, grep-able identifier, e.g. `ERR_POLICY_COMPILE_FAILED`. */
  abstract readonly code: ErrorCode;
  /** Extra facts for operators' logs; never sent to a client. */
  readonly detail: Record<string, unknown> | undefined;
  readonly retryAfterS: number | undefined;

  constructor(message: string, options?: SidecarErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.detail = options?.detail;
    this.retryAfterS = options?.retryAfterS;
  }

  get kind(): ErrorKind {
    return kindOf(this.code);
  }
}

export function isSidecarError(value: unknown): value is SidecarError {
  return value instanceof SidecarError;
}
