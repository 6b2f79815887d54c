import { createHash } from 'node:crypto';
import { createLocalJWKSet, errors as joseErrors } from 'jose';
import type { FlattenedJWSInput, JSONWebKeySet, JWTHeaderParameters, JWTVerifyGetKey } from 'jose';
import { IdentityProviderUnavailableError } from './errors.js';
import { fetchIdpDocument } from './idp_fetch.js';

export interface RemoteKeySetOptions {
  /** Unix s: the key set's age is measured on it. */
  readonly clock: () => number;
  /** Refetched before use once older than this, in s: a key the IdP removed stops verifying after it. */
  readonly maxAgeS: number;
  /** A `kid` missing after a fetch is not looked for again for this long, in ms. */
  readonly kidCooldownMs: number;
  /** Least time between two fetches, in ms; a request for a new `kid` waits for the next one. */
  readonly minIntervalMs: number;
  readonly timeoutMs: number;
  /** Told when a fetch finds other keys than the one before (not of the first fetch): which `kid`s came and went. */
  readonly onChange?: ((change: KeySetChange) => void) | undefined;
}

/** The keys an IdP publishes changed between two fetches. */
export interface KeySetChange {
  readonly uri: string;
  /** `kid`s (a key without one: its RFC 7638 thumbprint's place is taken by `(no kid)`). */
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

type VerifyKey = Awaited<ReturnType<JWTVerifyGetKey>>;

/** One fetched key set. `generation` grows with every fetch that finds other keys. */
interface Snapshot {
  readonly getKey: JWTVerifyGetKey;
  /** The document as fetched: a refetch finding the same keeps the generation. */
  readonly text: string;
  /** Unix s (the injected clock). */
  readonly fetchedAt: number;
  /** Refetched once older than this, in s: the IdP's `Cache-Control`, within the configured bounds. */
  readonly maxAgeS: number;
  /** Monotonic ms when its fetch began. */
  readonly startedMs: number;
  readonly generation: number;
}

/** Most `kid`s remembered as missing; beyond it the oldest are forgotten (a flood is held back by the interval). */
const MISSING_KIDS_CAPACITY = 10_000;

/**
 * Longest `kid` looked up, in characters; a longer one matches no key, without a fetch. A `kid` comes from an
 * unverified header: this bounds what a made-up one costs. Real ones are thumbprints or ids of at most ~100.
 */
export const MAX_KID_LENGTH = 256;

/**
 * An IdP's JWKS, as jose's remote key set but with bounds the sidecar
 * needs: the set is refetched once older than `maxAgeS`, so a removed key
 * stops verifying within that time; a `kid` not in the set triggers a fetch
 * unless that very `kid` was missing from a fetch within the cool-down, so
 * the first token after a rotation verifies; and fetches are never closer
 * than `minIntervalMs`, concurrent requests sharing one, so made-up `kid`s
 * cannot flood the IdP.
 */
export class RemoteKeySet {
  readonly #uri: string;
  readonly #options: RemoteKeySetOptions;
  #current: Snapshot | undefined;
  /** The next fetch (planned or running), which requests arriving before `startsMs` join. */
  #next: { readonly startsMs: number; readonly snapshot: Promise<Snapshot> } | undefined;
  #lastStartMs = Number.NEGATIVE_INFINITY;
  #generation = 0;
  /** SHA-256 of a kid -> monotonic ms at which a fetch began that did not hold it. */
  readonly #missing = new Map<string, number>();

  constructor(uri: string, options: RemoteKeySetOptions) {
    this.#uri = uri;
    this.#options = options;
  }

  /**
   * The key set to verify with: the current one, or a new one when it is
   * older than `maxAgeS` (or there is none yet).
   *
   * @throws {IdentityProviderUnavailableError}
   */
  async fresh(): Promise<{ readonly generation: number }> {
    return await this.#fresh();
  }

  /**
   * A key resolver for one verification that began at `startedMs`
   * (monotonic): the current key set, else one fetched after the request
   * began. Records the generation it used in `used`.
   */
  resolver(startedMs: number, used: { generation: number }): JWTVerifyGetKey {
    return async (header: JWTHeaderParameters, token: FlattenedJWSInput): Promise<VerifyKey> => {
      if (header.kid !== undefined && (typeof header.kid !== 'string' || header.kid.length > MAX_KID_LENGTH)) {
        // Never a key of ours: neither fetched for nor remembered.
        throw new joseErrors.JWKSNoMatchingKey();
      }
      let snapshot = await this.#fresh();
      used.generation = snapshot.generation;
      try {
        return await snapshot.getKey(header, token);
      } catch (error) {
        if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
        // Remembered by digest: a fixed size per entry, whatever the header held.
        const missingKey = createHash('sha256')
          .update(header.kid ?? '')
          .digest('base64url');
        // A set fetched after this request began is as new as it gets.
        if (snapshot.startedMs >= startedMs) throw error;
        const missingSince = this.#missing.get(missingKey);
        if (missingSince !== undefined && performance.now() - missingSince < this.#options.kidCooldownMs) throw error;
        snapshot = await this.#fetchAfter(startedMs);
        used.generation = snapshot.generation;
        try {
          return await snapshot.getKey(header, token);
        } catch (again) {
          if (again instanceof joseErrors.JWKSNoMatchingKey) this.#rememberMissing(missingKey, snapshot.startedMs);
          throw again;
        }
      }
    };
  }

  async #fresh(): Promise<Snapshot> {
    const current = this.#current;
    if (current !== undefined && this.#options.clock() - current.fetchedAt < current.maxAgeS) return current;
    // Any fetch under way is fresh enough.
    return await (this.#next?.snapshot ?? this.#fetchAfter(performance.now()));
  }

  /** A key set whose fetch begins at or after `notBeforeMs`: the planned one, or a new one. */
  async #fetchAfter(notBeforeMs: number): Promise<Snapshot> {
    const next = this.#next;
    if (next !== undefined && next.startsMs >= notBeforeMs) return await next.snapshot;
    const startsMs = Math.max(performance.now(), this.#lastStartMs + this.#options.minIntervalMs);
    this.#lastStartMs = startsMs;
    const snapshot = this.#fetch(startsMs);
    const planned = { startsMs, snapshot };
    this.#next = planned;
    const clear = (): void => {
      if (this.#next === planned) this.#next = undefined;
    };
    snapshot.then(clear, clear);
    return await snapshot;
  }

  async #fetch(startsMs: number): Promise<Snapshot> {
    const wait = startsMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const startedMs = performance.now();
    const { document, maxAgeS: served } = await fetchIdpDocument(this.#uri, this.#options.timeoutMs);
    const text = JSON.stringify(document);
    const previous = this.#current;
    // The IdP's word on freshness, never past our bound (a removed key must stop verifying within it) and never
    // below the least interval between fetches.
    const maxAgeS = Math.max(
      this.#options.minIntervalMs / 1000,
      Math.min(this.#options.maxAgeS, served ?? this.#options.maxAgeS),
    );
    let snapshot: Snapshot;
    if (previous?.text === text) {
      // The same keys: verified tokens stay verified (a flood of made-up kids must not empty the token cache).
      snapshot = { ...previous, fetchedAt: this.#options.clock(), startedMs, maxAgeS };
    } else {
      let getKey: JWTVerifyGetKey;
      try {
        getKey = createLocalJWKSet(document as JSONWebKeySet);
      } catch (cause) {
        throw new IdentityProviderUnavailableError(`${this.#uri} is not a JSON Web Key Set`, { cause });
      }
      snapshot = { getKey, text, fetchedAt: this.#options.clock(), startedMs, maxAgeS, generation: ++this.#generation };
      if (previous !== undefined && previous.startedMs < startedMs) this.#reportChange(previous.text, text);
    }
    // Fetches may complete out of order: the newest one wins.
    if (this.#current === undefined || this.#current.startedMs < startedMs) this.#current = snapshot;
    return this.#current;
  }

  #reportChange(before: string, after: string): void {
    const kids = (text: string): Set<string> =>
      new Set(
        ((JSON.parse(text) as { keys?: { kid?: unknown }[] }).keys ?? []).map((k) =>
          typeof k.kid === 'string' ? k.kid : '(no kid)',
        ),
      );
    const [was, is] = [kids(before), kids(after)];
    this.#options.onChange?.({
      uri: this.#uri,
      added: [...is].filter((kid) => !was.has(kid)),
      removed: [...was].filter((kid) => !is.has(kid)),
    });
  }

  #rememberMissing(missingKey: string, since: number): void {
    if (this.#missing.size >= MISSING_KIDS_CAPACITY) {
      const oldest = this.#missing.keys().next();
      if (oldest.done !== true) this.#missing.delete(oldest.value);
    }
    this.#missing.delete(missingKey);
    this.#missing.set(missingKey, since);
  }
}
