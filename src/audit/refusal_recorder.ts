import { randomUUID } from 'node:crypto';
import type { AuditRecord } from './audit_record.js';

/** A request whose credential was missing or not accepted: what it asked, never what it presented. */
export interface RefusedAuthentication {
  /** The surface: `scim`, `ssf`, `admin`, `authzen`. */
  readonly api: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** `missing` (no Authorization header), `malformed` (not a Bearer token) or `not_accepted`. */
  readonly credential: 'missing' | 'malformed' | 'not_accepted';
  /** The error code the caller was answered with, when the surface has one. */
  readonly code?: string;
  readonly remote_address?: string;
  readonly user_agent?: string;
}

export interface RefusalRecorderOptions {
  /** The tenants whose trails exist; a refusal naming any other tenant is not recorded anywhere. */
  readonly tenants: Iterable<string>;
  /** Stores one record durably (the audit stream). */
  readonly publish: (record: AuditRecord) => Promise<void>;
  /** Records per tenant per minute; more are counted and reported with the next record. @defaultValue 60 */
  readonly perMinute?: number;
  /** Records in flight beyond this are dropped (and counted), never queued without bound. @defaultValue 100 */
  readonly maxInFlight?: number;
  readonly clock?: () => number;
  readonly onError?: (error: unknown, tenant: string) => void;
}

interface Window {
  minute: number;
  recorded: number;
  suppressed: number;
}

/**
 * Puts refused authentications in the tenant's audit trail (kind
 * `auth.refused`), off the request path and bounded: someone guessing tokens
 * cannot grow a trail faster than `perMinute` records; what is left out is
 * counted in the next record's `suppressed`.
 */
export class RefusalRecorder {
  readonly #tenants: ReadonlySet<string>;
  readonly #publish: RefusalRecorderOptions['publish'];
  readonly #perMinute: number;
  readonly #maxInFlight: number;
  readonly #clock: () => number;
  readonly #onError: (error: unknown, tenant: string) => void;
  readonly #windows = new Map<string, Window>();
  #inFlight = 0;

  constructor(options: RefusalRecorderOptions) {
    const perMinute = options.perMinute ?? 60;
    if (!Number.isInteger(perMinute) || perMinute < 1) throw new TypeError('perMinute must be a positive integer');
    this.#tenants = new Set(options.tenants);
    this.#publish = options.publish;
    this.#perMinute = perMinute;
    this.#maxInFlight = options.maxInFlight ?? 100;
    this.#clock = options.clock ?? Date.now;
    this.#onError = options.onError ?? (() => undefined);
  }

  refused(tenant: string, refusal: RefusedAuthentication): void {
    if (!this.#tenants.has(tenant)) return;
    const now = this.#clock();
    const minute = Math.floor(now / 60_000);
    let window = this.#windows.get(tenant);
    if (window === undefined) {
      window = { minute, recorded: 0, suppressed: 0 };
      this.#windows.set(tenant, window);
    }
    if (window.minute !== minute) {
      window.minute = minute;
      window.recorded = 0;
    }
    if (window.recorded >= this.#perMinute || this.#inFlight >= this.#maxInFlight) {
      window.suppressed++;
      return;
    }
    window.recorded++;
    const suppressed = window.suppressed;
    window.suppressed = 0;
    const record: AuditRecord = {
      v: 1,
      id: randomUUID(),
      tenant,
      kind: 'auth.refused',
      at: now,
      data: { ...refusal, ...(suppressed > 0 ? { suppressed } : {}) },
    };
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
