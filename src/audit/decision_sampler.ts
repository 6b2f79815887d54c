import { randomUUID } from 'node:crypto';
import type { AuditRecord } from './audit_record.js';
import { AuditSealedWithoutKeyError } from './errors.js';

export interface DecisionSamplerOptions {
  /** Share of decisions recorded, 0 to 1. Denials and step-ups are recorded at `denyRate`. */
  readonly rate: number;
  /** @defaultValue `rate` */
  readonly denyRate?: number;
  /** Stores one record durably (the audit stream). */
  readonly publish: (record: AuditRecord) => Promise<void>;
  /** Records in flight beyond this are dropped (and counted), never queued without bound. @defaultValue 1000 */
  readonly maxInFlight?: number;
  readonly random?: () => number;
  /**
   * The sealer of a tenant with a customer-managed key: its recorded input (the subject's profile) is sealed.
   * @defaultValue no tenant seals
   */
  readonly sealerOf?: RecordSealerOf;
}

/** A tenant's cipher (src/tenant_keys' TenantCipher), seen only as what a record's input needs. */
export interface RecordSealer {
  seal(plaintext: string, context: string): string;
  open(sealed: string, context: string): string;
}

/** A tenant's sealer; undefined: it keeps its records in clear; throws when its key cannot be used. */
export type RecordSealerOf = (tenant: string) => RecordSealer | undefined;

/** A decision as recorded: what was decided about whom, never a token. */
export interface DecisionRecordData {
  readonly decision_id: string;
  readonly decision: string;
  readonly reasons: readonly string[];
  readonly subject: Readonly<Record<string, unknown>>;
  readonly action: string;
  readonly resource: { readonly type: string; readonly id: string };
  readonly policy_version: string;
  readonly sequence: number;
}

/** A recorded input larger than this is left out (and said so): the audit trail is not a data lake. */
export const MAX_RECORDED_INPUT_BYTES = 64 * 1024;

/**
 * Sends a sample of the sidecar's decisions to the tenant's audit trail,
 * off the Check path: publishing is asynchronous and bounded, so a slow or
 * absent stream costs dropped samples, never slower decisions.
 */
export class DecisionSampler {
  readonly #options: DecisionSamplerOptions;
  readonly #random: () => number;
  #inFlight = 0;
  #dropped = 0;

  constructor(options: DecisionSamplerOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /**
   * @param input the policy input, built only for a decision that is recorded; kept whole (the trail
   *   is the tenant's own, inside the cluster) so that the decision can be explained by evaluating it again.
   */
  record(tenant: string, data: DecisionRecordData, input?: () => unknown): void {
    const rate = data.decision === 'allow' ? this.#options.rate : (this.#options.denyRate ?? this.#options.rate);
    if (rate <= 0 || this.#random() >= rate) return;
    if (this.#inFlight >= (this.#options.maxInFlight ?? 1_000)) {
      this.#dropped++;
      return;
    }
    let recorded: Record<string, unknown>;
    try {
      recorded = recordedInput(tenant, data.decision_id, input, this.#options.sealerOf?.(tenant));
    } catch {
      // The tenant's key cannot seal (revoked, not loaded): no record rather than one in clear.
      this.#dropped++;
      return;
    }
    const record: AuditRecord = {
      v: 1,
      id: randomUUID(),
      tenant,
      kind: 'decision',
      at: Date.now(),
      data: { ...data, ...recorded },
    };
    this.#inFlight++;
    void this.#options
      .publish(record)
      .catch(() => {
        this.#dropped++;
      })
      .finally(() => {
        this.#inFlight--;
      });
  }
}

function recordedInput(
  tenant: string,
  decisionId: string,
  input: (() => unknown) | undefined,
  sealer: RecordSealer | undefined,
): Record<string, unknown> {
  if (input === undefined) return {};
  const value = input();
  const text = JSON.stringify(value);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_RECORDED_INPUT_BYTES) return { input: null, input_omitted: `${String(bytes)} bytes` };
  return sealer === undefined
    ? { input: value }
    : { input_sealed: sealer.seal(text, inputContext(tenant, decisionId)) };
}

// A sealed input opens only as the input of the decision it was recorded with.
const inputContext = (tenant: string, decisionId: string): string => `decision:${tenant}:${decisionId}`;

/** A sampled decision as read back from the trail (explanations, dry-runs over recorded traffic). */
export interface SampledDecision {
  readonly decisionId: string;
  readonly decision: string;
  readonly reasons: readonly string[];
  readonly policyVersion: string;
  readonly sequence: number;
  /** Unix ms it was recorded at. */
  readonly at: number;
  /** The input its policy evaluated; undefined when the sidecar decided without the policy, or it was too large. */
  readonly input: unknown;
  /** Why the input was left out (its size), when it was. */
  readonly inputOmitted: string | undefined;
}

/**
 * The one reading of a `decision` record's data; absent members read as empty. A sealed input is opened
 * with `sealerOf`.
 *
 * @throws whatever the tenant's sealer throws when its key cannot open the input
 */
export function sampledDecisionOf(record: AuditRecord, sealerOf?: RecordSealerOf): SampledDecision {
  const data = record.data as Partial<DecisionRecordData> & {
    input?: unknown;
    input_omitted?: unknown;
    input_sealed?: unknown;
  };
  const sealed = typeof data.input_sealed === 'string' ? data.input_sealed : undefined;
  const opener = sealed === undefined ? undefined : sealerOf?.(record.tenant);
  if (sealed !== undefined && opener === undefined) {
    throw new AuditSealedWithoutKeyError(
      `a decision of ${record.tenant} was recorded sealed, and the tenant has no key`,
    );
  }
  const input =
    sealed === undefined || opener === undefined
      ? data.input
      : (JSON.parse(opener.open(sealed, inputContext(record.tenant, data.decision_id ?? ''))) as unknown);
  return {
    decisionId: data.decision_id ?? '',
    decision: data.decision ?? '',
    reasons: data.reasons ?? [],
    policyVersion: data.policy_version ?? '',
    sequence: data.sequence ?? 0,
    at: record.at,
    input: input ?? undefined,
    inputOmitted: typeof data.input_omitted === 'string' ? data.input_omitted : undefined,
  };
}
