import { PLATFORM_POLICY_REASON_CODES, POLICY_TIMEOUT } from '../policy/index.js';
import { TOKEN_ERROR_CODES } from '../tokens/index.js';

/** Reasons the sidecar decides on before (or instead of) any policy, and what each means. */
const SIDECAR_REASONS = {
  STALE_DATA:
    'the sidecar had not applied the entitlement stream up to date (cut off for longer than IPSIE_STALE_AFTER_MS, ' +
    'catching up since its start, or rebuilding): it allows nothing until it is current',
  SUBJECT_UNKNOWN: "no user of the tenant's store matched the subject the request named",
  SESSION_UNKNOWN: "no session of the tenant's store matched the session the request presented",
  TXN_TOKEN_SCOPE_EXCEEDED:
    'the transaction token the request carried was minted for another action or resource than this request names',
} as const;

export const SIDECAR_REASON_CODES = Object.keys(SIDECAR_REASONS) as (keyof typeof SIDECAR_REASONS)[];

/**
 * Why the sidecar decided without the tenant's policy, for a reason it gives itself (a token refused,
 * a stale store, an unknown subject, an evaluation over its budget); undefined for a policy's reason.
 */
export function sidecarReasonMeaning(code: string): string | undefined {
  if (Object.hasOwn(SIDECAR_REASONS, code)) return SIDECAR_REASONS[code as keyof typeof SIDECAR_REASONS];
  if (code === POLICY_TIMEOUT) {
    return (
      "the policy's evaluation ran longer than its budget (IPSIE_POLICY_BUDGET_MS) and was abandoned, or the " +
      'tenant, throttled after its evaluations kept doing so, was not given a worker within one budget'
    );
  }
  if (TOKEN_REASONS.has(code)) return 'the token the request carried was refused before any policy was consulted';
  return undefined;
}

const TOKEN_REASONS: ReadonlySet<string> = new Set(TOKEN_ERROR_CODES.map((code) => code.slice('ERR_'.length)));

/** What a tenant-defined reason code is counted as: tenants cannot add label values. */
export const TENANT_DEFINED_REASON = 'TENANT_DEFINED';

const PLATFORM_REASONS: ReadonlySet<string> = new Set<string>([
  ...PLATFORM_POLICY_REASON_CODES,
  POLICY_TIMEOUT,
  ...SIDECAR_REASON_CODES,
  ...TOKEN_ERROR_CODES.map((code) => code.slice('ERR_'.length)),
]);

/**
 * A decision's reason as a bounded label value: a platform code as itself,
 * any code a tenant's `deny` made up as `TENANT_DEFINED`, none as ''.
 */
export function reasonLabel(code: string | undefined): string {
  if (code === undefined) return '';
  return PLATFORM_REASONS.has(code) ? code : TENANT_DEFINED_REASON;
}
