import { randomUUID } from 'node:crypto';
import type { AuditRecord } from './audit_record.js';

/** A request whose credential was missing or not accepted: what it asked, never what it presented. */
export interface RefusedAuthentication {
  /** The surface: `scim`, `ssf`, `admin`, `authzen`. */
  readonly api: string;
  readonly method: string;
  /** At most {@link MAX_PATH_LENGTH} characters. */
  readonly path: string;
  readonly status: number;
  /** `missing` (no Authorization header), `malformed` (not a Bearer token) or `not_accepted`. */
  readonly credential: 'missing' | 'malformed' | 'not_accepted';
  /** The error code the caller was answered with, when the surface has one. */
  readonly code?: string;
  readonly remote_address?: string;
  readonly user_agent?: string;
}

/** Longest path or user agent kept in a record: whoever is refused chooses both. */
export const MAX_PATH_LENGTH = 256;

export interface RefusalRecorderOptions {
  /** The tenants whose trails exist; a refusal naming any other tenant is not recorded anywhere. */
  readonly tenants: Iterable<string>;
  /** Stores one record durably (the audit stream). */
  readonly publish: (record: AuditRecord) => Promise<void>;
  /** Refusals recorded one by one per tenant per minute; the rest are summed up. @defaultValue 10 */
  readonly perTenantPerMinute?: number;
  /** Refusals recorded one by one per minute over all tenants. @defaultValue 300 */
  readonly perMinute?: number;
  /** Records in flight beyond this are dropped (and counted), never queued without bound. @defaultValue 100 */
  readonly maxInFlight?: number;
  readonly clock?: () => number;
  readonly onError?: (error: unknown, tenant: string) => void;
}

interface Window {
  recorded: number;
  /** Refusals not recorded one by one this minute, by API and by credential. */
  summed: number;
  readonly apis: Map<string, number>;
  readonly credentials: Map<string, number>;
}

/**
 * Puts refused authentications in the tenant's audit trail (kind
 * `auth.refused`), off the request path and bounded, since whoever is refused
 * decides how many there are: each minute the first few per tenant (and a
 * few hundred over all tenants) are recorded one by one, the rest summed up
 * in one record per tenant and minute (`summary: true`, counts by API and by
 * credential). The caller also gives the records a short life on the stream.
 */
export class RefusalRecorder {
  readonly #tenants: ReadonlySet<string>;
  readonly #publish: RefusalRecorderOptions['publish'];
  readonly #perTenant: number;
  readonly #perMinute: number;
  readonly #maxInFlight: number;
  readonly #clock: () => number;
  readonly #onError: (error: unknown, tenant: string) => void;
  readonly #windows = new Map<string, Window>();
  #minute = Number.NaN;
  #recordedThisMinute = 0;
  #inFlight = 0;
  #dropped = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(options: RefusalRecorderOptions) {
    const perTenant = options.perTenantPerMinute ?? 10;
    const perMinute = options.perMinute ?? 300;
    for (const [name, value] of [
      ['perTenantPerMinute', perTenant],
      ['perMinute', perMinute],
    ] as const) {
      if (!Number.isInteger(value) || value < 0) throw new TypeError(`${name} must be a non-negative integer`);
    }
    this.#tenants = new Set(options.tenants);
    this.#publish = options.publish;
    this.#perTenant = perTenant;
    this.#perMinute = perMinute;
    this.#maxInFlight = options.maxInFlight ?? 100;
    this.#clock = options.clock ?? Date.now;
    this.#onError = options.onError ?? (() => undefined);
    // Sums are written when their minute is over, even if no refusal follows.
    this.#timer = setInterval(() => {
      this.#turnMinute();
    }, 60_000);
    this.#timer.unref();
  }

  /** Records not stored because too many were in flight (the stream is slow or away). */
  get dropped(): number {
    return this.#dropped;
  }

  refused(tenant: string, refusal: RefusedAuthentication): void {
    if (!this.#tenants.has(tenant)) return;
    this.#turnMinute();
    let window = this.#windows.get(tenant);
    if (window === undefined) {
      window = { recorded: 0, summed: 0, apis: new Map(), credentials: new Map() };
      this.#windows.set(tenant, window);
    }
    if (window.recorded < this.#perTenant && this.#recordedThisMinute < this.#perMinute) {
      window.recorded++;
      this.#recordedThisMinute++;
      this.#store(tenant, { ...refusal, path: refusal.path.slice(0, MAX_PATH_LENGTH) });
      return;
    }
    window.summed++;
    window.apis.set(refusal.api, (window.apis.get(refusal.api) ?? 0) + 1);
    window.credentials.set(refusal.credential, (window.credentials.get(refusal.credential) ?? 0) + 1);
  }

  /** Writes the sums of every minute that is over; idempotent within a minute. */
  flush(): void {
    this.#turnMinute();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #turnMinute(): void {
    const minute = Math.floor(this.#clock() / 60_000);
    if (minute === this.#minute) return;
    const ended = this.#minute;
    this.#minute = minute;
    this.#recordedThisMinute = 0;
    for (const [tenant, window] of this.#windows) {
      if (window.summed > 0) {
        this.#store(tenant, {
          summary: true,
          minute_start: ended * 60_000,
          refused: window.summed,
          by_api: Object.fromEntries(window.apis),
          by_credential: Object.fromEntries(window.credentials),
        });
      }
    }
    this.#windows.clear();
  }

  #store(tenant: string, data: Record<string, unknown>): void {
    if (this.#inFlight >= this.#maxInFlight) {
      this.#dropped++;
      return;
    }
    const record: AuditRecord = { v: 1, id: randomUUID(), tenant, kind: 'auth.refused', at: this.#clock(), data };
    this.#inFlight++;
    void this.#publish(record)
      .catch((error: unknown) => {
        this.#onError(error, tenant);
      })
      .finally(() => {
        this.#inFlight--;
      });
  }
}
