import { PLATFORM_POLICY_REASON_CODES, POLICY_TIMEOUT } from '../policy/index.js';
import { TOKEN_ERROR_CODES } from '../tokens/index.js';

/** Reasons the sidecar decides on before (or instead of) any policy. */
export const SIDECAR_REASON_CODES = [
  'STALE_DATA',
  'SUBJECT_UNKNOWN',
  'SESSION_UNKNOWN',
  // A `subject.txn_token` presented for an action or resource other than the one it was minted for.
  'TXN_TOKEN_SCOPE_EXCEEDED',
] as const;

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
