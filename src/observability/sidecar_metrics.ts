import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { registerRebuildMetrics } from './rebuild_metrics.js';
import type { RebuildState } from './rebuild_metrics.js';
import { storeSetAsideCounter } from './store_metrics.js';

/** What the metrics read at scrape time: the stream consumer and the loaded policies. */
export interface SidecarState {
  readonly ingest:
    | (RebuildState & {
        readonly appliedSequence: number;
        readonly pending: number;
        readonly connected: boolean;
        readonly stale: boolean;
        readonly rejected: number;
      })
    | undefined;
  /** tenant -> active policy version. */
  readonly policies: ReadonlyMap<string, string>;
}

/**
 * The sidecar's Prometheus metrics: decisions by tenant, decision and first
 * reason; decision latency; the stream consumer's position and health; the
 * policy version each tenant runs.
 */
export class SidecarMetrics {
  readonly registry = new Registry();
  readonly #decisions: Counter<'tenant' | 'decision' | 'reason'>;
  readonly #seconds: Histogram<'call'>;
  readonly #timeouts: Counter<'tenant'>;
  readonly #storeSetAside: Counter<'reason'>;

  constructor(state: () => SidecarState) {
    this.#decisions = new Counter({
      name: 'ipsie_decisions_total',
      help: 'Decisions made, by tenant, decision and first reason code',
      labelNames: ['tenant', 'decision', 'reason'],
      registers: [this.registry],
    });
    this.#seconds = new Histogram({
      name: 'ipsie_check_duration_seconds',
      help: 'Time to decide a Check or a BatchCheck (AuthZEN and ext_authz included), waiting for min_sequence included',
      labelNames: ['call'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [this.registry],
    });
    this.#timeouts = new Counter({
      name: 'ipsie_policy_timeouts_total',
      help: 'Policy evaluations abandoned for running out of their time budget (their worker was replaced), by tenant',
      labelNames: ['tenant'],
      registers: [this.registry],
    });
    this.#storeSetAside = storeSetAsideCounter(this.registry);
    const gauge = (name: string, help: string, read: (s: SidecarState) => number | undefined): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const value = read(state());
          if (value !== undefined) this.set(value);
        },
      });
    };
    gauge(
      'ipsie_store_applied_sequence',
      'Last state stream sequence applied to the store',
      (s) => s.ingest?.appliedSequence,
    );
    gauge(
      'ipsie_ingest_pending',
      'Messages of the state stream not yet applied (consumer lag)',
      (s) => s.ingest?.pending,
    );
    gauge('ipsie_ingest_connected', '1 while connected to NATS', (s) =>
      s.ingest === undefined ? undefined : Number(s.ingest.connected),
    );
    gauge('ipsie_ingest_stale', '1 while cut off longer than the staleness bound (decisions fail closed)', (s) =>
      s.ingest === undefined ? undefined : Number(s.ingest.stale),
    );
    registerRebuildMetrics(this.registry, () => state().ingest);
    gauge('ipsie_ingest_rejected_messages', 'Malformed stream messages skipped since start', (s) => s.ingest?.rejected);
    new Gauge({
      name: 'ipsie_policy_info',
      help: 'The active policy version of each tenant (value 1)',
      labelNames: ['tenant', 'version'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [tenant, version] of state().policies) this.set({ tenant, version }, 1);
      },
    });
  }

  decided(tenant: string, decision: string, reason: string | undefined): void {
    this.#decisions.inc({ tenant, decision, reason: reason ?? '' });
  }

  /** `tenant` is a tenant with a loaded policy: a bounded label. */
  policyTimedOut(tenant: string): void {
    this.#timeouts.inc({ tenant });
  }

  timed(call: string, seconds: number): void {
    this.#seconds.observe({ call }, seconds);
  }

  /** The store file was unreadable at start and moved aside; `reason` is one of the store's closed set. */
  storeSetAside(reason: string): void {
    this.#storeSetAside.inc({ reason });
  }

  /** One of the sidecar's cluster processes: every series carries `process="<slot>"`. */
  labelProcess(slot: number): void {
    this.registry.setDefaultLabels({ process: String(slot) });
  }

  /** The series as data, for the cluster primary to collect. */
  async json(): Promise<MetricObjectWithValues<MetricValue<string>>[]> {
    return await this.registry.getMetricsAsJSON();
  }

  async text(): Promise<string> {
    return await this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
