import { PolicyEvaluationError, PolicyNotLoadedError } from './errors.js';
import { EvaluationPool } from './evaluation_pool.js';
import type { EvaluationOutcome } from './evaluation_pool.js';
import type { CompiledPolicy } from './opa_compiler.js';
import { BATCH_ENTRYPOINT, DECISION_ENTRYPOINT } from './opa_compiler.js';
import {
  policyDecisionFromResultSet,
  policyDecisionsFromResultSet,
  resultInvalidDecision,
  timeoutDecision,
} from './policy_decision.js';
import type { PolicyDecision } from './policy_decision.js';
import { encodePolicyInput } from './policy_input.js';
import type { EncodedPolicyInput, PolicyInput } from './policy_input.js';

/** One loaded, immutable policy version of one tenant, evaluated on the registry's worker pool. */
export class TenantPolicy {
  readonly tenantId: string;
  readonly version: string;
  readonly #pool: EvaluationPool;
  readonly #key: string;
  #inFlight = 0;
  #retired = false;

  constructor(tenantId: string, version: string, pool: EvaluationPool, key: string) {
    this.tenantId = tenantId;
    this.version = version;
    this.#pool = pool;
    this.#key = key;
  }

  /**
   * Evaluates `ipsie/authz/decision`. A policy whose rules conflict, or that
   * answers outside the contract, decides DENY `POLICY_RESULT_INVALID`; one
   * that runs out of its time budget, DENY `POLICY_TIMEOUT`. `input`'s bytes
   * are handed to a worker: do not use them again.
   *
   * @throws {PolicyEvaluationError} `ERR_POLICY_EVALUATION_FAILED` the Wasm trapped for another reason
   * @throws {PolicyOverloadedError} `ERR_POLICY_OVERLOADED`
   */
  async evaluate(input: PolicyInput | EncodedPolicyInput): Promise<PolicyDecision> {
    const encoded = 'bytes' in input ? input : encodePolicyInput(input);
    const outcome = await this.#run(DECISION_ENTRYPOINT, encoded);
    switch (outcome.kind) {
      case 'result':
        return policyDecisionFromResultSet(outcome.resultSet);
      case 'timeout':
        return timeoutDecision(outcome.budgetMs, outcome.throttled);
      case 'failed':
        return this.#failed(outcome);
    }
  }

  /**
   * Evaluates `ipsie/authz/batch_decisions` over an input from
   * `PolicyInputEncoder.encodeBatch`: one evaluation for every item.
   *
   * @throws {PolicyEvaluationError} `ERR_POLICY_EVALUATION_FAILED`
   * @throws {PolicyOverloadedError} `ERR_POLICY_OVERLOADED`
   */
  async evaluateBatch(input: EncodedPolicyInput, items: number): Promise<PolicyDecision[]> {
    const outcome = await this.#run(BATCH_ENTRYPOINT, input);
    switch (outcome.kind) {
      case 'result':
        return policyDecisionsFromResultSet(outcome.resultSet, items);
      case 'timeout':
        return Array.from({ length: items }, () => timeoutDecision(outcome.budgetMs, outcome.throttled));
      case 'failed': {
        const decision = this.#failed(outcome);
        return Array.from({ length: items }, () => decision);
      }
    }
  }

  /** Unloads this version from the workers once nothing evaluates it any more. */
  retire(): void {
    this.#retired = true;
    if (this.#inFlight === 0) this.#pool.unload(this.#key);
  }

  async #run(entrypoint: string, input: EncodedPolicyInput): Promise<EvaluationOutcome> {
    this.#inFlight++;
    try {
      return await this.#pool.evaluate(this.tenantId, this.#key, entrypoint, input.bytes);
    } finally {
      this.#inFlight--;
      if (this.#retired && this.#inFlight === 0) this.#pool.unload(this.#key);
    }
  }

  #failed(failure: Extract<EvaluationOutcome, { kind: 'failed' }>): PolicyDecision {
    const conflict = conflictOf(failure.message);
    if (conflict !== undefined) return resultInvalidDecision(conflict);
    // A builtin refusing what the policy asked (sprintf with a bad format): the policy's own answer is invalid.
    if (failure.origin === 'builtin') {
      return resultInvalidDecision(`a builtin the policy called failed: ${failure.message.slice(0, 200)}`);
    }
    throw new PolicyEvaluationError(`the policy of tenant "${this.tenantId}" failed to evaluate`, {
      detail: { version: this.version, error: failure.message },
    });
  }
}

/** Installs so far, by every registry of the process: they may share one pool. */
let installs = 0;

export interface PolicyRegistryOptions {
  /** Where policies are evaluated; without one the registry starts (and closes) its own. */
  readonly pool?: EvaluationPool;
}

/**
 * The active policy of each tenant. Installing loads the new Wasm into every
 * worker first and then swaps the reference, so a request holds one version
 * from start to end and a failed load leaves the previous version serving.
 */
export class PolicyRegistry {
  readonly #active = new Map<string, TenantPolicy>();
  readonly #pool: EvaluationPool;
  readonly #ownsPool: boolean;

  constructor(options: PolicyRegistryOptions = {}) {
    this.#ownsPool = options.pool === undefined;
    this.#pool = options.pool ?? new EvaluationPool({ size: 1 });
  }

  /** Loads `compiled` and makes it the tenant's active policy. */
  async install(compiled: CompiledPolicy): Promise<TenantPolicy> {
    // A key per install, unique in the process: the same version installed twice (a rollback, or registries
    // sharing a pool: dry-runs, explanations) is two loads, unloaded independently.
    const key = `${compiled.tenantId}@${compiled.version}#${++installs}`;
    await this.#pool.load(key, compiled.wasm, compiled.data);
    const policy = new TenantPolicy(compiled.tenantId, compiled.version, this.#pool, key);
    this.#active.get(compiled.tenantId)?.retire();
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
    this.#active.get(tenantId)?.retire();
    this.#active.delete(tenantId);
  }

  tenants(): string[] {
    return [...this.#active.keys()];
  }

  /** Unloads every policy; ends the pool when the registry started it. */
  async close(): Promise<void> {
    for (const tenantId of this.tenants()) this.remove(tenantId);
    if (this.#ownsPool) await this.#pool.close();
  }
}

/**
 * A Rego conflict (a complete rule or function with two values, an object key
 * with two) aborts the Wasm evaluation with a located message such as
 * `tenant/authz.rego:5:1: var assignment conflict`. It is the policy
 * answering two things at once: a result that does not fit.
 */
function conflictOf(message: string): string | undefined {
  if (!/conflict|multiple outputs/.test(message)) return undefined;
  return `the policy's rules produced conflicting values: ${message.replace(/^(tenant|platform)\//, '')}`;
}
