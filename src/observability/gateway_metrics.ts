import { Counter, Gauge, Registry } from 'prom-client';

/** What the gateway's metrics read at scrape time. */
export interface GatewayState {
  readonly appliedSequence: number;
  readonly stale: boolean;
}

/**
 * The gateway's Prometheus metrics: requests of each IdP-facing API by
 * tenant and status, SETs by tenant, delivery and result (accepted or the
 * RFC 8935 error), and its replica's position.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'api' | 'tenant' | 'method' | 'status'>;
  readonly #sets: Counter<'tenant' | 'delivery' | 'result'>;

  constructor(state: () => GatewayState) {
    this.#requests = new Counter({
      name: 'ipsie_gateway_requests_total',
      help: 'HTTP requests by API (scim, ssf, admin), tenant, method and status',
      labelNames: ['api', 'tenant', 'method', 'status'],
      registers: [this.registry],
    });
    this.#sets = new Counter({
      name: 'ipsie_sets_total',
      help: 'Security Event Tokens received, by tenant, delivery (push, poll) and result (accepted or the error code)',
      labelNames: ['tenant', 'delivery', 'result'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'ipsie_store_applied_sequence',
      help: "Last state stream sequence applied to the gateway's replica",
      registers: [this.registry],
      collect() {
        this.set(state().appliedSequence);
      },
    });
    new Gauge({
      name: 'ipsie_ingest_stale',
      help: "1 while the gateway's replica is cut off longer than the staleness bound",
      registers: [this.registry],
      collect() {
        this.set(Number(state().stale));
      },
    });
  }

  request(api: string, tenant: string, method: string, status: number): void {
    this.#requests.inc({ api, tenant, method, status: String(status) });
  }

  set(tenant: string, delivery: string, result: string): void {
    this.#sets.inc({ tenant, delivery, result });
  }

  async text(): Promise<string> {
    return await this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
