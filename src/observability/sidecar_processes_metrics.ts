import { AggregatorRegistry, Counter, Registry } from 'prom-client';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** One process's series, as {@link SidecarMetrics.json} gives them. */
export type ProcessSeries = readonly MetricObjectWithValues<MetricValue<string>>[];

/**
 * `/metrics` of a sidecar run as several processes (the cluster primary's):
 * every process's series, each labelled `process="<slot>"`, and the
 * primary's own count of replaced processes.
 */
export class SidecarProcessesMetrics {
  readonly #own = new Registry();
  readonly #replaced: Counter<'process'>;
  readonly #collect: () => Promise<readonly ProcessSeries[]>;

  /** `collect` asks the processes serving now; one that does not answer is left out. */
  constructor(collect: () => Promise<readonly ProcessSeries[]>) {
    this.#collect = collect;
    this.#replaced = new Counter({
      name: 'ipsie_sidecar_processes_replaced_total',
      help: 'Sidecar processes that exited unasked and were started again, by process slot',
      labelNames: ['process'],
      registers: [this.#own],
    });
  }

  replaced(slot: number): void {
    this.#replaced.inc({ process: String(slot) });
  }

  async text(): Promise<string> {
    const processes = await this.#collect();
    // Series differ by their `process` label, so aggregating only puts each family's series together.
    const merged = AggregatorRegistry.aggregate(processes.map((series) => [...series]));
    return `${await merged.metrics()}\n${await this.#own.metrics()}`;
  }

  get contentType(): string {
    return this.#own.contentType;
  }
}
