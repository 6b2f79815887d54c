import { randomUUID } from 'node:crypto';
import type { AuditRecord } from './audit_record.js';

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
}

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

  record(tenant: string, data: DecisionRecordData): void {
    const rate = data.decision === 'allow' ? this.#options.rate : (this.#options.denyRate ?? this.#options.rate);
    if (rate <= 0 || this.#random() >= rate) return;
    if (this.#inFlight >= (this.#options.maxInFlight ?? 1_000)) {
      this.#dropped++;
      return;
    }
    const record: AuditRecord = { v: 1, id: randomUUID(), tenant, kind: 'decision', at: Date.now(), data: { ...data } };
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
