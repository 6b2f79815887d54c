import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';

/**
 * `ipsie_store_set_aside_total{reason}`: store files found unreadable at start,
 * moved aside and rebuilt from the stream. A process counts at most one, at
 * start, so alert on a value above 0 rather than on its rate.
 */
export function storeSetAsideCounter(registry: Registry): Counter<'reason'> {
  return new Counter({
    name: 'ipsie_store_set_aside_total',
    help: 'Store files found unreadable at start (corrupt, not_a_database, schema, check_timeout), moved aside and rebuilt from the stream',
    labelNames: ['reason'],
    registers: [registry],
  });
}
