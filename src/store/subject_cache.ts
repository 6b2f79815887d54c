import type { SubjectRef, SubjectSlice } from './records.js';

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
 * What a cached read depends on, so that a write drops exactly the reads it
 * can change: each read carries the tags of the rows it joined (or, for a
 * subject not found, could have joined), each write names the tags it touched.
 * Ids go through {@link tagId}: a read names a row it found as SQLite gave it
 * back, a write as it was given.
 */
export const cacheTag = {
  /** The user row and everything keyed by the user: memberships, posture, sign-out, re-authentication. */
  user: (tenantId: string, userId: string): string => `u\0${tenantId}\0${tagId(userId)}`,
  session: (tenantId: string, sessionId: string): string => `s\0${tenantId}\0${tagId(sessionId)}`,
  identity: (tenantId: string, issuer: string, subject: string): string =>
    `i\0${tenantId}\0${tagId(issuer)}\0${tagId(subject)}`,
  group: (tenantId: string, groupId: string): string => `g\0${tenantId}\0${tagId(groupId)}`,
  device: (tenantId: string, deviceId: string): string => `d\0${tenantId}\0${tagId(deviceId)}`,
  /** An IdP session id (`sid`) whose revocation the read joined. */
  sid: (tenantId: string, sid: string): string => `r\0${tenantId}\0${tagId(sid)}`,
  /** Every read of the tenant. */
  tenant: (tenantId: string): string => `t\0${tenantId}`,
  /** The tenant's reads that found no subject: any new user, binding or session may answer them. */
  notFound: (tenantId: string): string => `n\0${tenantId}`,
} as const;

/** Code units that SQLite may not give back as written: surrogates (lone ones) and the replacement character. */
const UNSTABLE_TEXT = /[\uD800-\uDFFF\uFFFD]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * An id as a tag names it. A string with a lone surrogate is bound as its
 * WTF-8 bytes and read back with a U+FFFD for each of them, so the row a
 * write names with the one is read as the other: both become the same tag
 * (each run of lone surrogates and U+FFFD one U+FFFD). Ids that differ only
 * there share a tag, which drops a read more than needed, never less.
 */
function tagId(id: string): string {
  if (!UNSTABLE_TEXT.test(id)) return id;
  return id.replace(LONE_SURROGATE, '\uFFFD').replace(/\uFFFD+/g, '\uFFFD');
}

/** The tags of the read of `ref` that found `slice`. */
function tagsOf(
  tenantId: string,
  ref: SubjectRef,
  deviceId: string | undefined,
  slice: SubjectSlice | undefined,
): Set<string> {
  const tags = new Set<string>([cacheTag.tenant(tenantId)]);
  if (ref.kind === 'user') tags.add(cacheTag.user(tenantId, ref.userId));
  if (ref.kind === 'session') tags.add(cacheTag.session(tenantId, ref.sessionId));
  if (ref.kind === 'identity') {
    tags.add(cacheTag.identity(tenantId, ref.issuer, ref.subject));
    if (ref.sessionId !== undefined) {
      tags.add(cacheTag.session(tenantId, ref.sessionId));
      tags.add(cacheTag.sid(tenantId, ref.sessionId));
    }
  }
  if (slice === undefined) {
    tags.add(cacheTag.notFound(tenantId));
    return tags;
  }
  tags.add(cacheTag.user(tenantId, slice.user.id));
  for (const group of slice.groups) tags.add(cacheTag.group(tenantId, group.id));
  const { session } = slice;
  if (session !== undefined) {
    tags.add(cacheTag.session(tenantId, session.id));
    if (session.idpSessionId !== undefined) tags.add(cacheTag.sid(tenantId, session.idpSessionId));
  }
  const device = deviceId ?? session?.deviceId;
  if (device !== undefined) tags.add(cacheTag.device(tenantId, device));
  return tags;
}

interface Entry {
  readonly slice: SubjectSlice | undefined;
  readonly tags: ReadonlySet<string>;
}

/**
 * Subject slices kept in memory, least recently used evicted first. A local
 * write drops the reads that carry a tag it touched ({@link cacheTag}); the
 * store clears it when another connection committed.
 */
export class SubjectCache {
  /** Entries by key, in least-recently-used order (a Map keeps insertion order). */
  readonly #entries = new Map<string, Entry>();
  readonly #keysByTag = new Map<string, Set<string>>();
  readonly #size: number;
  #hits = 0;
  #misses = 0;

  constructor(size: number) {
    this.#size = size;
  }

  get enabled(): boolean {
    return this.#size > 0;
  }

  /** Reads answered from memory and from the database since open. */
  get stats(): { readonly hits: number; readonly misses: number; readonly size: number } {
    return { hits: this.#hits, misses: this.#misses, size: this.#entries.size };
  }

  /** The cached slice of `ref`: `null` when none is cached (`undefined` is a cached "not found"). */
  get(tenantId: string, ref: SubjectRef, deviceId: string | undefined): SubjectSlice | undefined | null {
    const key = cacheKey(tenantId, ref, deviceId);
    const hit = this.#entries.get(key);
    if (hit === undefined) {
      this.#misses++;
      return null;
    }
    this.#hits++;
    this.#entries.delete(key);
    this.#entries.set(key, hit);
    return hit.slice;
  }

  set(tenantId: string, ref: SubjectRef, deviceId: string | undefined, slice: SubjectSlice | undefined): void {
    if (this.#entries.size >= this.#size) {
      const oldest = this.#entries.keys().next();
      if (oldest.done !== true) this.#delete(oldest.value);
    }
    const key = cacheKey(tenantId, ref, deviceId);
    this.#delete(key);
    const tags = tagsOf(tenantId, ref, deviceId, slice);
    this.#entries.set(key, { slice, tags });
    for (const tag of tags) {
      let keys = this.#keysByTag.get(tag);
      if (keys === undefined) this.#keysByTag.set(tag, (keys = new Set()));
      keys.add(key);
    }
  }

  /** Drops every read that carries one of `tags`. */
  invalidate(...tags: string[]): void {
    for (const tag of tags) {
      const keys = this.#keysByTag.get(tag);
      if (keys === undefined) continue;
      for (const key of [...keys]) this.#delete(key);
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#keysByTag.clear();
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    for (const tag of entry.tags) {
      const keys = this.#keysByTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.#keysByTag.delete(tag);
    }
  }
}

/**
 * The read of `ref`, as a key no other read shares: ids may hold any
 * character (a NUL too), and an empty device names the device `''`, not the
 * session's own.
 */
function cacheKey(tenantId: string, ref: SubjectRef, deviceId: string | undefined): string {
  const device = deviceId ?? null;
  return JSON.stringify(
    ref.kind === 'user'
      ? [tenantId, ref.kind, ref.userId, device]
      : ref.kind === 'session'
        ? [tenantId, ref.kind, ref.sessionId, device]
        : [tenantId, ref.kind, ref.issuer, ref.subject, ref.sessionId ?? null, device],
  );
}
