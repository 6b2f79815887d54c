import { createRequire } from 'node:module';
import type * as OpaWasm from '@open-policy-agent/opa-wasm';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { PolicyEvaluationError, PolicyNotLoadedError } from './errors.js';
import type { CompiledPolicy } from './opa_compiler.js';
import { BATCH_ENTRYPOINT, DECISION_ENTRYPOINT } from './opa_compiler.js';
import { policyDecisionFromResultSet, policyDecisionsFromResultSet, resultInvalidDecision } from './policy_decision.js';
import type { PolicyDecision } from './policy_decision.js';
import { encodePolicyInput } from './policy_input.js';
import type { EncodedPolicyInput, PolicyInput } from './policy_input.js';

// The SDK's ESM entry re-exports a CommonJS module; load that directly.
const { loadPolicy } = createRequire(import.meta.url)('@open-policy-agent/opa-wasm') as typeof OpaWasm;

/** Wasm pages (64 KiB each): start small, cap what one tenant's policy may take. */
const MEMORY = { initial: 8, maximum: 2048 };

/** One loaded, immutable policy version of one tenant. */
export class TenantPolicy {
  readonly tenantId: string;
  readonly version: string;
  readonly #instance: LoadedPolicy;

  constructor(tenantId: string, version: string, instance: LoadedPolicy) {
    this.tenantId = tenantId;
    this.version = version;
    this.#instance = instance;
  }

  /**
   * Evaluates `ipsie/authz/decision`. Synchronous: one Wasm call. A policy
   * whose rules conflict, or that answers outside the contract, decides DENY
   * with reason `POLICY_RESULT_INVALID`.
   *
   * @throws {PolicyEvaluationError} `ERR_POLICY_EVALUATION_FAILED` the Wasm trapped for another reason
   */
  evaluate(input: PolicyInput | EncodedPolicyInput): PolicyDecision {
    const encoded = 'bytes' in input ? input : encodePolicyInput(input);
    let resultSet: unknown;
    try {
      resultSet = this.#instance.evaluate(encoded.bytes, DECISION_ENTRYPOINT);
    } catch (cause) {
      const conflict = conflictOf(cause);
      if (conflict !== undefined) return resultInvalidDecision(conflict);
      throw this.#evaluationError(cause);
    }
    return policyDecisionFromResultSet(resultSet);
  }

  /**
   * Evaluates `ipsie/authz/batch_decisions` over an input from
   * `PolicyInputEncoder.encodeBatch`: one Wasm call for every item.
   *
   * @throws {PolicyEvaluationError} `ERR_POLICY_EVALUATION_FAILED`
   */
  evaluateBatch(input: EncodedPolicyInput, items: number): PolicyDecision[] {
    let resultSet: unknown;
    try {
      resultSet = this.#instance.evaluate(input.bytes, BATCH_ENTRYPOINT);
    } catch (cause) {
      const conflict = conflictOf(cause);
      if (conflict !== undefined) return Array.from({ length: items }, () => resultInvalidDecision(conflict));
      throw this.#evaluationError(cause);
    }
    return policyDecisionsFromResultSet(resultSet, items);
  }

  #evaluationError(cause: unknown): PolicyEvaluationError {
    return new PolicyEvaluationError(`the policy of tenant "${this.tenantId}" failed to evaluate`, {
      cause,
      detail: { version: this.version },
    });
  }
}

/**
 * A Rego conflict (a complete rule or function with two values, an object key
 * with two) aborts the Wasm evaluation with a located message such as
 * `tenant/authz.rego:5:1: var assignment conflict`. It is the policy
 * answering two things at once: a result that does not fit.
 */
function conflictOf(cause: unknown): string | undefined {
  const message = typeof cause === 'string' ? cause : cause instanceof Error ? cause.message : '';
  if (!/conflict|multiple outputs/.test(message)) return undefined;
  return `the policy's rules produced conflicting values: ${message.replace(/^(tenant|platform)\//, '')}`;
}

/**
 * The active policy of each tenant. Installing loads the new Wasm first and
 * then swaps the reference, so a request holds one version from start to
 * end and a failed load leaves the previous version serving.
 */
export class PolicyRegistry {
  readonly #active = new Map<string, TenantPolicy>();

  /** Loads `compiled` and makes it the tenant's active policy. */
  async install(compiled: CompiledPolicy): Promise<TenantPolicy> {
    let instance: LoadedPolicy;
    try {
      instance = await loadPolicy(compiled.wasm, MEMORY);
      instance.setData(compiled.data);
    } catch (cause) {
      throw new PolicyEvaluationError(`the compiled policy of tenant "${compiled.tenantId}" does not load`, {
        cause,
        detail: { version: compiled.version },
      });
    }
    const policy = new TenantPolicy(compiled.tenantId, compiled.version, instance);
    this.#active.set(compiled.tenantId, policy);
    return policy;
  }

  /** @throws {PolicyNotLoadedError} `ERR_POLICY_NOT_LOADED` */
  get(tenantId: string): TenantPolicy {
    const policy = this.#active.get(tenantId);
    if (policy === undefined) throw new PolicyNotLoadedError(`no policy is loaded for tenant "${tenantId}"`);
    return policy;
  }

  has(tenantId: string): boolean {
    return this.#active.has(tenantId);
  }

  remove(tenantId: string): void {
    this.#active.delete(tenantId);
  }

  tenants(): string[] {
    return [...this.#active.keys()];
  }
}
