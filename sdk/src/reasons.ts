/**
 * The sidecar's stable codes, as this package knows them. Kept equal to the
 * sidecar's own tables by test/sdk/reasons.test.ts (src/errors.ts,
 * src/check/decision_reasons.ts, docs/errors.md), so the unions below do not
 * drift from what the sidecar sends.
 */

/**
 * Reasons a decision can carry that the platform itself gives (not a tenant
 * policy): the platform rules, the sidecar's own refusals (`STALE_DATA`: the
 * sidecar is cut off from its entitlement stream and fails closed), and a
 * refused `subject.token`.
 */
export const PLATFORM_DECISION_REASONS = [
  // platform policy rules (policies/ipsie)
  'POLICY_RESULT_INVALID',
  'ACCOUNT_INACTIVE',
  'ACCOUNT_DISABLED',
  'SESSION_REVOKED',
  'SESSION_EXPIRED',
  'REAUTHENTICATION_REQUIRED',
  'ASSURANCE_LEVEL_DECREASED',
  'POLICY_DENIED',
  'DEVICE_NOT_COMPLIANT',
  'RISK_TOO_HIGH',
  'AUTHENTICATION_REQUIRED',
  'AUTHN_LEVEL_INSUFFICIENT',
  'AUTHN_METHOD_INSUFFICIENT',
  'AUTHN_TOO_OLD',
  'POLICY_ALLOWED',
  'POLICY_TIMEOUT',
  // the sidecar, before any policy
  'STALE_DATA',
  'SUBJECT_UNKNOWN',
  'SESSION_UNKNOWN',
  // a subject.txn_token asked about another action or resource than it was minted for
  'TXN_TOKEN_SCOPE_EXCEEDED',
  // a refused subject.token or subject.txn_token
  'TOKEN_MALFORMED',
  'TOKEN_TYPE_INVALID',
  'TOKEN_ISSUER_UNKNOWN',
  'TOKEN_ALGORITHM_REFUSED',
  'TOKEN_SIGNATURE_INVALID',
  'TOKEN_KEY_UNKNOWN',
  'TOKEN_EXPIRED',
  'TOKEN_NOT_YET_VALID',
  'TOKEN_AUDIENCE_INVALID',
  'TOKEN_NONCE_MISMATCH',
  'TOKEN_REPLAYED',
  'TOKEN_REVOKED',
  'TOKEN_CLAIM_INVALID',
] as const;

export type PlatformDecisionReason = (typeof PLATFORM_DECISION_REASONS)[number];

/**
 * A decision reason: one of the platform's, or any code a tenant's policy
 * names in its `deny` (open-ended; `string & {}` keeps editor completion of
 * the platform codes).
 */
export type DecisionReasonCode = PlatformDecisionReason | (string & {});

const PLATFORM: ReadonlySet<string> = new Set(PLATFORM_DECISION_REASONS);

export function isPlatformDecisionReason(code: string): code is PlatformDecisionReason {
  return PLATFORM.has(code);
}

/**
 * The `google.rpc.ErrorInfo` reasons (domain `ipsie-sidecar`) a failed call
 * carries; docs/errors.md says when each is raised.
 */
export const SIDECAR_ERROR_REASONS = [
  'CALLER_UNAUTHENTICATED',
  'TENANT_MISSING',
  'TENANT_INVALID',
  'SUBJECT_MISSING',
  'ACTION_MISSING',
  'RESOURCE_MISSING',
  'BATCH_EMPTY',
  'BATCH_TOO_LARGE',
  'TENANT_UNKNOWN',
  'SEQUENCE_NOT_REACHED',
  'SUBJECT_UNSUPPORTED',
  'POLICY_NOT_LOADED',
  'STORE_UNAVAILABLE',
  'POLICY_EVALUATION_FAILED',
  'POLICY_OVERLOADED',
  'INTERNAL',
  // StartSession and token subjects
  'TOKEN_MISSING',
  'TOKEN_MALFORMED',
  'TOKEN_TYPE_INVALID',
  'TOKEN_ISSUER_UNKNOWN',
  'TOKEN_ALGORITHM_REFUSED',
  'TOKEN_KEY_UNKNOWN',
  'TOKEN_SIGNATURE_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_NOT_YET_VALID',
  'TOKEN_AUDIENCE_INVALID',
  'TOKEN_NONCE_MISMATCH',
  'TOKEN_REPLAYED',
  'TOKEN_REVOKED',
  'TOKEN_CLAIM_INVALID',
  'IDP_UNAVAILABLE',
  'USER_NOT_PROVISIONED',
  'ACCOUNT_INACTIVE',
  'SESSION_EXPIRED',
  'SESSION_REVOKED',
  'SIGNIN_UNAVAILABLE',
  // transaction tokens
  'TXN_TOKEN_UNSUPPORTED',
  'TXN_KEYS_UNAVAILABLE',
  'SIGNIN_INVALID',
  // SAML sign-in
  'SAML_MALFORMED',
  'SAML_SIGNATURE_INVALID',
  'SAML_ISSUER_UNKNOWN',
  'SAML_AUDIENCE_INVALID',
  'SAML_RECIPIENT_INVALID',
  'SAML_DESTINATION_INVALID',
  'SAML_EXPIRED',
  'SAML_NOT_YET_VALID',
  'SAML_UNSOLICITED',
  'SAML_REQUEST_UNKNOWN',
  'SAML_IDP_STATUS',
  'SAML_NOT_CONFIGURED',
  'SAML_METADATA_UNAVAILABLE',
  // WatchSessions
  'WATCH_TOO_MANY_USERS',
  'SESSION_EVENTS_UNAVAILABLE',
  'WATCHER_TOO_SLOW',
] as const;

export type SidecarErrorReason = (typeof SIDECAR_ERROR_REASONS)[number];

/**
 * Reasons this client gives a failure that carries no ErrorInfo: the
 * sidecar could not be reached, the call's deadline passed, the caller
 * cancelled it, or the answer was not one this client understands
 * (`UNRECOGNIZED`, e.g. a reason added by a newer sidecar: see `wireReason`).
 */
export const CLIENT_ERROR_REASONS = ['SIDECAR_UNREACHABLE', 'DEADLINE_EXCEEDED', 'CANCELLED', 'UNRECOGNIZED'] as const;

export type ClientErrorReason = (typeof CLIENT_ERROR_REASONS)[number];

/** What a `SidecarClientError` can say: switch on it. */
export type ErrorReason = SidecarErrorReason | ClientErrorReason;

const SIDECAR_ERRORS: ReadonlySet<string> = new Set(SIDECAR_ERROR_REASONS);

export function isSidecarErrorReason(reason: string): reason is SidecarErrorReason {
  return SIDECAR_ERRORS.has(reason);
}
