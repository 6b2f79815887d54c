/**
 * The AuthnRequests we issued, by id, for every replica: a Response's `InResponseTo` must name one that is
 * still open, and it answers it once.
 */
export interface SamlRequestStore {
  /** Records an issued request, answerable for `ttlS`. */
  save(key: string, issuedAt: string, ttlS: number): Promise<void>;
  /** The issue instant of an open request, or undefined. */
  get(key: string): Promise<string | undefined>;
  /**
   * Closes an open request: true for exactly one caller across replicas, false when it was unknown, expired
   * or closed already.
   */
  take(key: string): Promise<boolean>;
}

/** One process's requests (tests, a single sidecar): not shared between replicas. */
export class MemorySamlRequestStore implements SamlRequestStore {
  readonly #open = new Map<string, { issuedAt: string; until: number }>();
  readonly #clock: () => number;

  constructor(clock: () => number = () => Math.floor(Date.now() / 1000)) {
    this.#clock = clock;
  }

  save(key: string, issuedAt: string, ttlS: number): Promise<void> {
    const now = this.#clock();
    for (const [k, v] of this.#open) if (v.until <= now) this.#open.delete(k);
    this.#open.set(key, { issuedAt, until: now + ttlS });
    return Promise.resolve();
  }

  get(key: string): Promise<string | undefined> {
    const entry = this.#open.get(key);
    return Promise.resolve(entry !== undefined && entry.until > this.#clock() ? entry.issuedAt : undefined);
  }

  take(key: string): Promise<boolean> {
    const entry = this.#open.get(key);
    this.#open.delete(key);
    return Promise.resolve(entry !== undefined && entry.until > this.#clock());
  }
}
