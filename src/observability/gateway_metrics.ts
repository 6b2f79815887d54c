import { Counter, Gauge, Registry } from 'prom-client';
import { registerRebuildMetrics } from './rebuild_metrics.js';
import type { RebuildState } from './rebuild_metrics.js';
import { storeSetAsideCounter } from './store_metrics.js';

/** What the gateway's metrics read at scrape time. */
export interface GatewayState extends RebuildState {
  readonly appliedSequence: number;
  readonly stale: boolean;
}

/** The APIs the gateway counts requests of (the first segment of their path). */
export const GATEWAY_APIS = ['scim', 'ssf', 'admin', 'oidc', 'resources'] as const;
export type GatewayApi = (typeof GATEWAY_APIS)[number];

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * The gateway's Prometheus metrics: requests of each IdP-facing API by
 * tenant and status, SETs by tenant, delivery and result (accepted or the
 * RFC 8935 error), and its replica's position.
 *
 * Every label value comes from a bounded set: a tenant label only for the
 * configured tenants (requests naming any other are counted without one),
 * methods outside the standard ones as OTHER. No request can create a series.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #tenants: ReadonlySet<string>;
  readonly #requests: Counter<'api' | 'tenant' | 'method' | 'status'>;
  readonly #unknownTenant: Counter<'api'>;
  readonly #sets: Counter<'tenant' | 'delivery' | 'result'>;
  readonly #storeSetAside: Counter<'reason'>;

  constructor(tenants: Iterable<string>, state: () => GatewayState) {
    this.#tenants = new Set(tenants);
    this.#requests = new Counter({
      name: 'ipsie_gateway_requests_total',
      help: 'HTTP requests by API (scim, ssf, admin), tenant, method and status',
      labelNames: ['api', 'tenant', 'method', 'status'],
      registers: [this.registry],
    });
    this.#unknownTenant = new Counter({
      name: 'ipsie_gateway_requests_unknown_tenant_total',
      help: 'HTTP requests by API for a tenant this gateway does not serve',
      labelNames: ['api'],
      registers: [this.registry],
    });
    for (const api of GATEWAY_APIS) this.#unknownTenant.inc({ api }, 0);
    this.#sets = new Counter({
      name: 'ipsie_sets_total',
      help: 'Security Event Tokens received, by tenant, delivery (push, poll) and result (accepted or the error code)',
      labelNames: ['tenant', 'delivery', 'result'],
      registers: [this.registry],
    });
    this.#storeSetAside = storeSetAsideCounter(this.registry);
    new Gauge({
      name: 'ipsie_store_applied_sequence',
      help: "Last state stream sequence applied to the gateway's replica",
      registers: [this.registry],
      collect() {
        this.set(state().appliedSequence);
      },
    });
    registerRebuildMetrics(this.registry, state);
    new Gauge({
      name: 'ipsie_ingest_stale',
      help: "1 while the gateway's replica is cut off longer than the staleness bound",
      registers: [this.registry],
      collect() {
        this.set(Number(state().stale));
      },
    });
  }

  request(api: GatewayApi, tenant: string, method: string, status: number): void {
    if (!this.#tenants.has(tenant)) {
      this.#unknownTenant.inc({ api });
      return;
    }
    const known = METHODS.has(method) ? method : 'OTHER';
    const code = Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'other';
    this.#requests.inc({ api, tenant, method: known, status: code });
  }

  /**
   * A security event's outcome (a SET pushed or polled, a back-channel logout token); `result` is `accepted`,
   * `unavailable` or the protocol's error code (closed sets).
   */
  set(tenant: string, delivery: 'push' | 'poll' | 'backchannel_logout', result: string): void {
    if (!this.#tenants.has(tenant)) return;
    this.#sets.inc({ tenant, delivery, result });
  }

  /** The replica's store file was unreadable at start and moved aside; `reason` is one of the store's closed set. */
  storeSetAside(reason: string): void {
    this.#storeSetAside.inc({ reason });
  }

  async text(): Promise<string> {
    return await this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
