import type { SubjectRead, SubjectRef } from './records.js';

export const DEFAULT_SUBJECT_CACHE_SIZE = 10_000;

/** The cache size option, validated (a programmer error is a TypeError at open). */
export function subjectCacheSizeOf(size: number | undefined): number {
  const resolved = size ?? DEFAULT_SUBJECT_CACHE_SIZE;
  if (!Number.isSafeInteger(resolved) || resolved < 0) {
    throw new TypeError('subjectCacheSize must be a non-negative integer');
  }
  return resolved;
}

/**
 * Subject reads kept in memory, least recently used evicted first. Valid for
 * one `PRAGMA data_version`: a commit by another connection empties it.
 */
export class SubjectCache {
  /** Reads by key, in least-recently-used order (a Map keeps insertion order). */
  readonly #reads = new Map<string, SubjectRead>();
  readonly #size: number;
  /** `PRAGMA data_version` when the cache was last known valid: it moves when another connection commits. */
  #dataVersion = 0;

  constructor(size: number) {
    this.#size = size;
  }

  get enabled(): boolean {
    return this.#size > 0;
  }

  /** Empties the cache when `dataVersion` moved since the last call. */
  syncTo(dataVersion: number): void {
    if (dataVersion === this.#dataVersion) return;
    this.#reads.clear();
    this.#dataVersion = dataVersion;
  }

  get(tenantId: string, ref: SubjectRef, deviceId: string | undefined): SubjectRead | undefined {
    const key = cacheKey(tenantId, ref, deviceId);
    const hit = this.#reads.get(key);
    if (hit !== undefined) {
      this.#reads.delete(key);
      this.#reads.set(key, hit);
    }
    return hit;
  }

  set(tenantId: string, ref: SubjectRef, deviceId: string | undefined, read: SubjectRead): void {
    if (this.#reads.size >= this.#size) {
      const oldest = this.#reads.keys().next();
      if (oldest.done !== true) this.#reads.delete(oldest.value);
    }
    this.#reads.set(cacheKey(tenantId, ref, deviceId), read);
  }

  clear(): void {
    this.#reads.clear();
  }
}

function cacheKey(tenantId: string, ref: SubjectRef, deviceId: string | undefined): string {
  const id =
    ref.kind === 'user'
      ? ref.userId
      : ref.kind === 'session'
        ? ref.sessionId
        : `${ref.issuer}\0${ref.subject}\0${ref.sessionId ?? ''}`;
  return `${tenantId}\0${ref.kind}\0${id}\0${deviceId ?? ''}`;
}
