import { ScimError } from './errors.js';

export interface RateLimit {
  /** Sustained requests per second. */
  readonly requestsPerSecond: number;
  /** Requests allowed in a burst above the sustained rate. */
  readonly burst: number;
}

/** A token bucket per tenant (IPSIE AL1 §3.2.2.5: rate-limit with 429 and Retry-After). */
export class RateLimiter {
  readonly #limits: ReadonlyMap<string, RateLimit>;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  readonly #clock: () => number;

  constructor(limits: ReadonlyMap<string, RateLimit>, clock: () => number = Date.now) {
    for (const [tenant, limit] of limits) {
      if (!(limit.requestsPerSecond > 0) || !(limit.burst >= 1)) throw new TypeError(`bad rate limit for ${tenant}`);
    }
    this.#limits = limits;
    this.#clock = clock;
  }

  /** @throws {ScimError} `ERR_SCIM_RATE_LIMITED` with the seconds to wait */
  take(tenantId: string): void {
    const limit = this.#limits.get(tenantId);
    if (limit === undefined) return;
    const now = this.#clock();
    const bucket = this.#buckets.get(tenantId) ?? { tokens: limit.burst, at: now };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((now - bucket.at) / 1000) * limit.requestsPerSecond);
    bucket.at = now;
    this.#buckets.set(tenantId, bucket);
    if (bucket.tokens < 1) {
      const retryAfterS = Math.max(1, Math.ceil((1 - bucket.tokens) / limit.requestsPerSecond));
      throw new ScimError('ERR_SCIM_RATE_LIMITED', 'too many requests for this tenant', { retryAfterS });
    }
    bucket.tokens -= 1;
  }
}
