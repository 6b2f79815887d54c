import type { AuditRecord, RecordSealerOf } from '../audit/index.js';
import { isDecisionId, sampledDecisionOf } from '../audit/index.js';
import { sidecarReasonMeaning } from '../check/index.js';
import type { ReplayedDecision } from '../check/index.js';
import type { ExplainedReason, FiredRule, PolicyExplanation, TenantPolicySource } from '../policy/index.js';
import { DecisionUnknownError, ExplainBusyError, ExplainRequestError } from './errors.js';
import { redactInput } from './input_redaction.js';

export interface DecisionExplainerOptions {
  /** The sampled decision recorded under this id on the tenant's audit trail, if it holds one. */
  readonly sampled: (tenant: string, decisionId: string) => Promise<AuditRecord | undefined>;
  /** A stored version's sources, as they were compiled. */
  readonly sources: (tenant: string, version: string) => Promise<TenantPolicySource>;
  /** The tenant's active version, if any. */
  readonly activeVersion: (tenant: string) => Promise<string | undefined>;
  /** `opa eval --explain full` of one input over a version's sources (PolicyCompiler.explain). */
  readonly explain: (
    source: TenantPolicySource,
    input: unknown,
    version: string,
  ) => Promise<PolicyExplanation & { readonly platformChanged: boolean }>;
  /** Decides a Check-shaped request again under a version, over the current state. */
  readonly replay: (tenant: string, version: string, request: unknown) => Promise<ReplayedDecision>;
  /** Explanations evaluated at once (each an `opa eval`); more are refused. @defaultValue 2 */
  readonly maxConcurrent?: number;
  /** Opens a recorded input a tenant's customer-managed key sealed. @defaultValue no tenant seals */
  readonly sealerOf?: RecordSealerOf;
}

/** Why a decision came out as it did, for the tenant's administrator (docs/policies.md, "Explain"). */
export interface Explanation {
  readonly decision_id: string;
  /** `sampled`: a decision a sidecar made and recorded; `replayed`: a request decided again now, for this. */
  readonly source: 'sampled' | 'replayed';
  /** Unix ms of the sampled decision; null for a replay. */
  readonly decided_at: number | null;
  readonly decision: string;
  readonly policy_version: string;
  /** The state-stream sequence the store was at. */
  readonly sequence: number;
  /** `sidecar`: decided before (or instead of) the tenant's policy, which the input then never reached. */
  readonly decided_by: 'policy' | 'sidecar';
  readonly reasons: readonly ExplainedReason[];
  /** The input the policy evaluated, personal values redacted; null when there was none or it was too large. */
  readonly input: unknown;
  readonly evaluation: {
    /** The decision `opa eval` reached on the same sources and input. */
    readonly decision: string;
    /** It reached the decision and reasons the sidecar gave. */
    readonly agrees: boolean;
    /** The platform rules here are not those the version was compiled with (an upgrade since). */
    readonly platform_changed: boolean;
    readonly fired: readonly FiredRule[];
    readonly truncated: boolean;
  } | null;
}

/**
 * Explains decisions: a sampled one by its decision id (the input it recorded, evaluated again with
 * `opa eval --explain full` on the version that decided), or a request decided again now under the
 * active or a named version. Reasons the sidecar gives itself (STALE_DATA, an unknown subject, a refused
 * token, a timeout) are explained by what they mean: no policy ran.
 */
export class DecisionExplainer {
  readonly #options: DecisionExplainerOptions;
  readonly #maxConcurrent: number;
  #running = 0;

  constructor(options: DecisionExplainerOptions) {
    const maxConcurrent = options.maxConcurrent ?? 2;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new TypeError('maxConcurrent must be a positive integer');
    }
    this.#options = options;
    this.#maxConcurrent = maxConcurrent;
  }

  /** Runs `work` within the concurrency bound, across tenants: the gateway serves them all. */
  async #bounded<T>(work: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#maxConcurrent) {
      throw new ExplainBusyError(`${String(this.#maxConcurrent)} explanations are being evaluated; retry shortly`);
    }
    this.#running++;
    try {
      return await work();
    } finally {
      this.#running--;
    }
  }

  /**
   * @throws {ExplainRequestError} `ERR_EXPLAIN_REQUEST_INVALID` not a decision id
   * @throws {DecisionUnknownError} `ERR_EXPLAIN_DECISION_UNKNOWN`
   */
  async explainDecision(tenant: string, decisionId: string): Promise<Explanation> {
    if (!isDecisionId(decisionId)) throw new ExplainRequestError(`"${decisionId}" is not a decision id`);
    const record = await this.#options.sampled(tenant, decisionId);
    if (record?.kind !== 'decision' || record.tenant !== tenant) {
      throw new DecisionUnknownError(
        `no sampled decision ${decisionId} of tenant ${tenant} (decisions are recorded at IPSIE_DECISION_AUDIT_RATE, for the audit stream's retention)`,
      );
    }
    const recorded = { ...sampledDecisionOf(record, this.#options.sealerOf), decisionId };
    const base = { source: 'sampled' as const, decided_at: record.at };
    if (recorded.input === undefined || recorded.input === null) {
      const omitted = recorded.inputOmitted;
      return this.#withoutPolicy(
        base,
        recorded,
        omitted === undefined ? undefined : `the input (${omitted}) was too large to record`,
      );
    }
    const input = recorded.input;
    return await this.#bounded(async () => await this.#evaluated(tenant, base, recorded, input));
  }

  /**
   * @param version the version to decide under; the active one when undefined
   * @throws {ExplainRequestError} `ERR_EXPLAIN_REQUEST_INVALID`
   */
  async explainRequest(tenant: string, request: unknown, version?: string): Promise<Explanation> {
    const chosen = version ?? (await this.#options.activeVersion(tenant));
    if (chosen === undefined) throw new ExplainRequestError(`tenant ${tenant} has no active policy version: name one`);
    return await this.#bounded(async () => {
      const replayed = await this.#options.replay(tenant, chosen, request);
      const base = { source: 'replayed' as const, decided_at: null };
      if (replayed.input === undefined) {
        return this.#withoutPolicy(base, replayed, undefined, replayed.messages);
      }
      return await this.#evaluated(tenant, base, replayed, replayed.input);
    });
  }

  async #evaluated(
    tenant: string,
    base: Pick<Explanation, 'source' | 'decided_at'>,
    decided: Decided,
    input: unknown,
  ): Promise<Explanation> {
    const source = await this.#options.sources(tenant, decided.policyVersion);
    const evaluated = await this.#options.explain(source, input, decided.policyVersion);
    const agrees =
      evaluated.decision === decided.decision &&
      evaluated.reasons.map((r) => r.code).join('\n') === decided.reasons.join('\n');
    return {
      decision_id: decided.decisionId,
      ...base,
      decision: decided.decision,
      policy_version: decided.policyVersion,
      sequence: decided.sequence,
      decided_by: 'policy',
      reasons: evaluated.reasons,
      input: redactInput(input),
      evaluation: {
        decision: evaluated.decision,
        agrees,
        platform_changed: evaluated.platformChanged,
        fired: evaluated.fired,
        truncated: evaluated.truncated,
      },
    };
  }

  #withoutPolicy(
    base: Pick<Explanation, 'source' | 'decided_at'>,
    decided: Decided,
    note: string | undefined,
    messages: readonly string[] = [],
  ): Explanation {
    const bySidecar = decided.reasons.some((code) => sidecarReasonMeaning(code) !== undefined);
    return {
      decision_id: decided.decisionId,
      ...base,
      decision: decided.decision,
      policy_version: decided.policyVersion,
      sequence: decided.sequence,
      decided_by: bySidecar ? 'sidecar' : 'policy',
      reasons: decided.reasons.map((code, i) => ({
        code,
        message: messages[i] ?? '',
        rules: [],
        note: sidecarReasonMeaning(code) ?? note ?? 'the decision was recorded without its input',
      })),
      input: null,
      evaluation: null,
    };
  }
}

interface Decided {
  readonly decisionId: string;
  readonly decision: string;
  readonly reasons: readonly string[];
  readonly policyVersion: string;
  readonly sequence: number;
}
