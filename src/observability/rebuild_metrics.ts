import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/** What the rebuild metrics read at scrape time. */
export interface RebuildState {
  /** Rebuilds since start, by reason (a closed set of reasons). */
  readonly rebuilds: Readonly<Record<string, number>>;
  /** The reason of the rebuild in progress. */
  readonly rebuilding: string | undefined;
}

/**
 * `ipsie_store_rebuilds_total{reason}` and `ipsie_store_rebuilding`: the
 * alert that a store was found not to materialize the state stream (a
 * recreated stream, a store ahead of it) and is being replayed from scratch.
 */
export function registerRebuildMetrics(registry: Registry, read: () => RebuildState | undefined): void {
  new Counter({
    name: 'ipsie_store_rebuilds_total',
    help: 'Times the store was emptied and rebuilt from the state stream, by reason (alert on any increase)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const state = read();
      if (state === undefined) return;
      this.reset();
      for (const [reason, count] of Object.entries(state.rebuilds)) this.inc({ reason }, count);
    },
  });
  new Gauge({
    name: 'ipsie_store_rebuilding',
    help: '1 while the store is being rebuilt from the state stream (decisions fail closed)',
    registers: [registry],
    collect() {
      const state = read();
      if (state !== undefined) this.set(Number(state.rebuilding !== undefined));
    },
  });
}
