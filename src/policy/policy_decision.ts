export type DecisionKind = 'allow' | 'deny' | 'step_up';

export interface Reason {
  readonly code: string;
  readonly message: string;
}

/** RFC 9470 step-up parameters. */
export interface StepUpChallenge {
  readonly acrValues: readonly string[];
  /** Seconds; absent when any authentication age will do. */
  readonly maxAge: number | undefined;
}

/** What `ipsie/authz/decision` answered. */
export interface PolicyDecision {
  readonly kind: DecisionKind;
  readonly reasons: readonly Reason[];
  readonly stepUp: StepUpChallenge | undefined;
}

const KINDS: ReadonlySet<string> = new Set<DecisionKind>(['allow', 'deny', 'step_up']);

/** The reason of every decision whose policy answered outside its contract. */
export const POLICY_RESULT_INVALID = 'POLICY_RESULT_INVALID';

/**
 * What a policy that answered outside its contract decides: DENY, whatever it
 * said. A broken policy is the tenant's to fix; it is not an error of the call
 * (policies/README.md).
 */
export function resultInvalidDecision(problem: string): PolicyDecision {
  return { kind: 'deny', reasons: [{ code: POLICY_RESULT_INVALID, message: problem }], stepUp: undefined };
}

/** The reason of every decision whose evaluation ran out of its time budget. */
export const POLICY_TIMEOUT = 'POLICY_TIMEOUT';

/** What a policy that did not finish within its budget decides: DENY. */
export function timeoutDecision(budgetMs: number, throttled = false): PolicyDecision {
  const message = throttled
    ? `the tenant policy did not decide within ${budgetMs} ms: its evaluations keep running out of budget, and it is throttled`
    : `the tenant policy did not decide within ${budgetMs} ms`;
  return { kind: 'deny', reasons: [{ code: POLICY_TIMEOUT, message }], stepUp: undefined };
}

/** Reads the raw Wasm result set. Anything unexpected is a DENY, never an allow. */
export function policyDecisionFromResultSet(resultSet: unknown): PolicyDecision {
  const result = singleResult(resultSet);
  return typeof result === 'string' ? resultInvalidDecision(result) : policyDecisionFrom(result.value);
}

/** Reads the result of `ipsie/authz/batch_decisions`: one decision per item. */
export function policyDecisionsFromResultSet(resultSet: unknown, items: number): PolicyDecision[] {
  const result = singleResult(resultSet);
  if (typeof result === 'string') return Array.from({ length: items }, () => resultInvalidDecision(result));
  if (!Array.isArray(result.value) || result.value.length !== items) {
    const problem = `the batch result does not hold ${items} decisions`;
    return Array.from({ length: items }, () => resultInvalidDecision(problem));
  }
  return result.value.map(policyDecisionFrom);
}

/** The one result, or what is wrong with the set. */
function singleResult(resultSet: unknown): { value: unknown } | string {
  if (!Array.isArray(resultSet) || resultSet.length !== 1) {
    return 'the policy produced no decision (is ipsie/authz/decision defined?)';
  }
  return { value: (resultSet[0] as { result?: unknown }).result };
}

function policyDecisionFrom(result: unknown): PolicyDecision {
  if (!isObject(result) || typeof result['decision'] !== 'string' || !KINDS.has(result['decision'])) {
    return resultInvalidDecision('the decision document has no valid "decision"');
  }
  const kind = result['decision'] as DecisionKind;
  const rawReasons = result['reasons'] ?? [];
  if (!Array.isArray(rawReasons)) return resultInvalidDecision('"reasons" is not an array');
  const reasons: Reason[] = [];
  for (const r of rawReasons as unknown[]) {
    if (!isObject(r) || typeof r['code'] !== 'string') return resultInvalidDecision('a reason has no string "code"');
    reasons.push({ code: r['code'], message: typeof r['message'] === 'string' ? r['message'] : '' });
  }
  if (kind !== 'step_up') return { kind, reasons, stepUp: undefined };
  const stepUp = stepUpFrom(result['step_up']);
  return typeof stepUp === 'string' ? resultInvalidDecision(stepUp) : { kind, reasons, stepUp };
}

function stepUpFrom(raw: unknown): StepUpChallenge | string {
  if (raw === undefined) return { acrValues: [], maxAge: undefined };
  if (!isObject(raw)) return '"step_up" is not an object';
  const acr = raw['acr_values'] ?? [];
  if (!Array.isArray(acr) || !acr.every((v) => typeof v === 'string')) {
    return '"step_up.acr_values" is not an array of strings';
  }
  const maxAge = raw['max_age'];
  if (maxAge !== undefined && !(typeof maxAge === 'number' && Number.isInteger(maxAge) && maxAge >= 0)) {
    return '"step_up.max_age" is not a non-negative integer';
  }
  return { acrValues: acr, maxAge };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
