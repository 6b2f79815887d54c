/**
 * Every reason code the platform rules (policies/ipsie) can give. A tenant's
 * `deny` may name codes of its own; those are open-ended, so anything that
 * counts reasons (metrics labels) keeps them apart from these.
 * test/policy/platform_reasons.test.ts keeps this list equal to the Rego.
 */
export const PLATFORM_POLICY_REASON_CODES = [
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
] as const;

export type PlatformPolicyReasonCode = (typeof PLATFORM_POLICY_REASON_CODES)[number];
