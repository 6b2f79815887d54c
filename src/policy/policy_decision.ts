import { PolicyResultInvalidError } from './errors.js';

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

/**
 * Validates the raw Wasm result set. Anything unexpected is an error, never
 * an allow: a policy that answers garbage fails closed.
 *
 * @throws {PolicyResultInvalidError} `ERR_POLICY_RESULT_INVALID`
 */
export function policyDecisionFromResultSet(resultSet: unknown): PolicyDecision {
  return policyDecisionFrom(singleResult(resultSet));
}

/**
 * Validates the result of `ipsie/authz/batch_decisions`: one decision per item.
 *
 * @throws {PolicyResultInvalidError} `ERR_POLICY_RESULT_INVALID`
 */
export function policyDecisionsFromResultSet(resultSet: unknown, items: number): PolicyDecision[] {
  const result = singleResult(resultSet);
  if (!Array.isArray(result) || result.length !== items) {
    throw new PolicyResultInvalidError(`the batch result does not hold ${items} decisions`);
  }
  return result.map(policyDecisionFrom);
}

function singleResult(resultSet: unknown): unknown {
  if (!Array.isArray(resultSet) || resultSet.length !== 1) {
    throw new PolicyResultInvalidError('the policy produced no decision (is ipsie/authz/decision defined?)');
  }
  return (resultSet[0] as { result?: unknown }).result;
}

function policyDecisionFrom(result: unknown): PolicyDecision {
  if (!isObject(result) || typeof result['decision'] !== 'string' || !KINDS.has(result['decision'])) {
    throw new PolicyResultInvalidError('the decision document has no valid "decision"');
  }
  const kind = result['decision'] as DecisionKind;
  const rawReasons = result['reasons'] ?? [];
  if (!Array.isArray(rawReasons)) throw new PolicyResultInvalidError('"reasons" is not an array');
  const reasons = rawReasons.map((r: unknown): Reason => {
    if (!isObject(r) || typeof r['code'] !== 'string') {
      throw new PolicyResultInvalidError('a reason has no string "code"');
    }
    return { code: r['code'], message: typeof r['message'] === 'string' ? r['message'] : '' };
  });
  return { kind, reasons, stepUp: kind === 'step_up' ? stepUpFrom(result['step_up']) : undefined };
}

function stepUpFrom(raw: unknown): StepUpChallenge {
  if (raw === undefined) return { acrValues: [], maxAge: undefined };
  if (!isObject(raw)) throw new PolicyResultInvalidError('"step_up" is not an object');
  const acr = raw['acr_values'] ?? [];
  if (!Array.isArray(acr) || !acr.every((v) => typeof v === 'string')) {
    throw new PolicyResultInvalidError('"step_up.acr_values" is not an array of strings');
  }
  const maxAge = raw['max_age'];
  if (maxAge !== undefined && !(typeof maxAge === 'number' && Number.isInteger(maxAge) && maxAge >= 0)) {
    throw new PolicyResultInvalidError('"step_up.max_age" is not a non-negative integer');
  }
  return { acrValues: acr, maxAge };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
