import { TokenRejectedError } from './errors.js';

/**
 * Remembers assertions already presented, until they expire (NIST 800-63C
 * §4.11.2: an assertion is accepted at most once in its validity window).
 * Bounded: when full, the entries closest to expiry go first.
 */
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  readonly #capacity: number;

  constructor(capacity = 100_000) {
    this.#capacity = capacity;
  }

  /**
   * @param key the assertion's identity (issuer + jti)
   * @param expiresAt Unix s after which the assertion is refused anyway
   * @throws {TokenRejectedError} `ERR_TOKEN_REPLAYED`
   */
  remember(key: string, expiresAt: number, now: number): void {
    const until = this.#seen.get(key);
    if (until !== undefined && until >= now) {
      throw new TokenRejectedError('ERR_TOKEN_REPLAYED', 'this assertion was already presented');
    }
    if (this.#seen.size >= this.#capacity) this.#evict(now);
    this.#seen.set(key, expiresAt);
  }

  #evict(now: number): void {
    for (const [key, until] of this.#seen) if (until < now) this.#seen.delete(key);
    if (this.#seen.size < this.#capacity) return;
    const byExpiry = [...this.#seen.entries()].sort((a, b) => a[1] - b[1]);
    for (const [key] of byExpiry.slice(0, Math.ceil(this.#capacity / 10))) this.#seen.delete(key);
  }
}
