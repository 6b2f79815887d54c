/**
 * userName and group displayName unique per tenant across every gateway
 * replica: a create-only key per (tenant, kind, folded name) in a JetStream
 * KV bucket, whose value names the owning resource and the stream sequence
 * its write expects.
 *
 * The state stream stays the authority. A claim is *held* while its owner's
 * latest change on the stream carries the name; *pending* while the owner's
 * subject is still at the sequence the claiming write expects (that write may
 * yet land); otherwise *stale* (the write failed, or the owner was renamed or
 * deleted since) and anyone may take it with a compare-and-set on the KV
 * revision. A pending claim older than `pendingMs` (its writer crashed or
 * stalled) is *fenced* before it is taken: its owner's subject is advanced,
 * so the abandoned write, expecting the old sequence, can never be stored.
 * Time (this replica's clock against the server's store time) only decides
 * *when* a pending claim may be fenced, never whether two resources can hold
 * one name: a skewed clock fences early (a slow write then fails with 409)
 * or late (the name stays blocked longer).
 */
import { createHash, randomUUID } from 'node:crypto';
import { CLEAR_DATA, subjectOf } from '../changes/index.js';
import type { Change, SealerOf } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import type { ChangeSink, RegisterEntry, StoredChange } from '../stream/index.js';
import { SequenceConflictError } from '../stream/index.js';
import { ScimError } from './errors.js';
import type { ResourceKind } from './schema.js';

/** The KV bucket holding the claims; created by the gateway. */
export const NAME_CLAIMS_BUCKET = 'ipsie_scim_names';
/** How long a claim whose write has not landed blocks its name before it may be fenced, in ms. */
export const DEFAULT_CLAIM_PENDING_MS = 30_000;
/** Rounds of read-and-compare-and-set before a contended claim gives up (503, retry). */
const CLAIM_ROUNDS = 8;
/** Claims written at once while claiming the names already in the state. */
const BACKFILL_BATCH = 64;

/** Create-only and compare-and-set keys shared by every replica (the stream module's `KvRegister`). */
export interface ClaimRegister {
  create(key: string, value: string): Promise<number | undefined>;
  read(key: string): Promise<RegisterEntry | undefined>;
  replace(key: string, value: string, revision: number): Promise<number | undefined>;
  remove(key: string, revision: number): Promise<boolean>;
  keys(): Promise<Set<string>>;
}

/** The state stream's latest change per subject (the stream module's `ChangeReader`). */
export interface EntityLog {
  latest(subject: string): Promise<StoredChange | undefined>;
}

export interface NameClaimsOptions {
  readonly register: ClaimRegister;
  readonly log: EntityLog;
  /** Where fences are published. */
  readonly changes: ChangeSink;
  readonly logger: Logger;
  /** @defaultValue {@link DEFAULT_CLAIM_PENDING_MS} */
  readonly pendingMs?: number;
  /** Unix ms; compared with the server's store time of a claim. @defaultValue Date.now */
  readonly clock?: () => number;
  /**
   * The sealer of a tenant with a customer-managed key: its names are keyed by their lookup hash, so the
   * registry does not confirm a guessed userName to whoever reads it. @defaultValue no tenant seals
   */
  readonly sealerOf?: SealerOf;
}

/** A resource already in the state whose name must be claimed. */
export interface NamedResource {
  readonly tenantId: string;
  readonly kind: ResourceKind;
  readonly id: string;
  readonly name: string;
  /** The stream sequence of its latest change. */
  readonly sequence: number;
}

interface Claim {
  readonly owner: string;
  /** The owner's subject sequence the claiming write expects (0: a create). */
  readonly base: number;
}

type Verdict = 'held' | 'pending' | 'stale';

/**
 * RFC 7643 §4.1.1 `userName` (and our group `displayName`) is `caseExact:
 * false`: names are compared after NFC (composed and decomposed "é" are one
 * name) and a full Unicode case fold (upper then lower: "ß" is "ss", "Σ",
 * "σ" and "ς" are one letter), not SQLite's ASCII-only NOCASE.
 */
export function foldName(name: string): string {
  return name.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC');
}

/** The KV key of a name: the tenant and kind in clear, the folded name hashed (any length, any character). */
export function claimKey(tenantId: string, kind: ResourceKind, name: string): string {
  return `${tenantId}.${kind.toLowerCase()}.${createHash('sha256').update(foldName(name)).digest('base64url')}`;
}

/** The 409 for a name another resource holds (or is being given). */
export function nameTaken(kind: ResourceKind, name: string): ScimError {
  return new ScimError(
    'ERR_SCIM_UNIQUENESS',
    kind === 'User'
      ? // Not the name itself: the message is logged, and a userName is personal data.
        'the userName is already taken in this tenant'
      : `a group named "${name}" already exists in this tenant`,
  );
}

export class NameClaims {
  readonly #register: ClaimRegister;
  readonly #log: EntityLog;
  readonly #changes: ChangeSink;
  readonly #logger: Logger;
  readonly #pendingMs: number;
  readonly #clock: () => number;
  readonly #sealerOf: SealerOf;

  constructor(options: NameClaimsOptions) {
    if (options.pendingMs !== undefined && !(options.pendingMs > 0)) {
      throw new TypeError('pendingMs must be a positive number of milliseconds');
    }
    this.#register = options.register;
    this.#log = options.log;
    this.#changes = options.changes;
    this.#logger = options.logger;
    this.#pendingMs = options.pendingMs ?? DEFAULT_CLAIM_PENDING_MS;
    this.#clock = options.clock ?? Date.now;
    this.#sealerOf = options.sealerOf ?? CLEAR_DATA;
  }

  /** The KV key of a name: {@link claimKey}, or for a tenant with a customer-managed key its keyed lookup hash. */
  #key(tenantId: string, kind: ResourceKind, name: string): string {
    const sealer = this.#sealerOf(tenantId);
    if (sealer === undefined) return claimKey(tenantId, kind, name);
    return `${tenantId}.${kind.toLowerCase()}.${sealer.lookup(`claim:${foldName(name)}`)}`;
  }

  /**
   * Claims `name` for resource `owner`, whose write will expect its subject
   * at `base` (0 for a create). Call before publishing the write; on failure
   * call {@link release}. A claim the owner already has is refreshed, so a
   * stale revision cannot take it from under this write.
   *
   * @throws {ScimError} `ERR_SCIM_UNIQUENESS` (held by another resource, or being given to one),
   *   `ERR_SCIM_UNAVAILABLE` (NATS unreachable, or contended beyond {@link CLAIM_ROUNDS})
   */
  async claim(tenantId: string, kind: ResourceKind, name: string, owner: string, base: number): Promise<void> {
    const key = this.#key(tenantId, kind, name);
    const value = JSON.stringify({ owner, base } satisfies Claim);
    try {
      for (let round = 0; round < CLAIM_ROUNDS; round++) {
        if ((await this.#register.create(key, value)) !== undefined) return;
        const entry = await this.#register.read(key);
        if (entry === undefined) continue; // released since
        const held = parseClaim(entry.value);
        if (held === undefined) throw nameTaken(kind, name); // not ours to judge: written by a newer build
        if (held.owner !== owner) {
          const verdict = await this.#judge(tenantId, kind, key, held);
          if (verdict === 'held') throw nameTaken(kind, name);
          if (verdict === 'pending') {
            if (this.#clock() - entry.storedAt < this.#pendingMs) throw nameTaken(kind, name);
            await this.#fence(tenantId, kind, held);
            continue; // judge again: the fence lost to the write, or made the claim stale
          }
        }
        // Ours from an earlier attempt, or stale: compare-and-set on the revision judged.
        if ((await this.#register.replace(key, value, entry.revision)) !== undefined) return;
      }
    } catch (error) {
      if (error instanceof ScimError) throw error;
      throw new ScimError('ERR_SCIM_UNAVAILABLE', 'the name registry cannot be reached; retry', { cause: error });
    }
    throw new ScimError('ERR_SCIM_UNAVAILABLE', `the name "${name}" is contended; retry`);
  }

  /**
   * Gives up `owner`'s claim on `name` if the state no longer backs it: after
   * a rename (the old name), a delete, or a failed write (the new name). A
   * claim whose write may still land is left to be fenced later. Never
   * throws: a claim left behind is stale, and taken over when next wanted.
   */
  async release(tenantId: string, kind: ResourceKind, name: string, owner: string): Promise<void> {
    const key = this.#key(tenantId, kind, name);
    try {
      const entry = await this.#register.read(key);
      const held = entry === undefined ? undefined : parseClaim(entry.value);
      if (entry === undefined || held?.owner !== owner) return;
      if ((await this.#judge(tenantId, kind, key, held)) !== 'stale') return;
      await this.#register.remove(key, entry.revision);
    } catch (error) {
      this.#logger.warn(
        { err: error, tenant: tenantId, kind, owner },
        'name claim not released; it is taken over later',
      );
    }
  }

  /**
   * Claims the names of resources already in the state (written before
   * claims existed, or by a build without them), so no replica can give
   * them to a second resource. Existing claims are left as they are.
   * Returns how many claims were written.
   */
  async claimExisting(resources: Iterable<NamedResource>): Promise<number> {
    const existing = await this.#register.keys();
    let written = 0;
    let batch: Promise<void>[] = [];
    for (const r of resources) {
      const key = this.#key(r.tenantId, r.kind, r.name);
      const plain = claimKey(r.tenantId, r.kind, r.name);
      // Claimed before the tenant had a key: that claim's plain hash would confirm a guessed name for good.
      if (plain !== key && existing.has(plain)) batch.push(this.#removeOwned(plain, r.id));
      if (existing.has(key)) continue;
      existing.add(key);
      batch.push(
        this.#register
          .create(key, JSON.stringify({ owner: r.id, base: r.sequence } satisfies Claim))
          .then((revision) => {
            if (revision !== undefined) written++;
          }),
      );
      if (batch.length >= BACKFILL_BATCH) {
        await Promise.all(batch);
        batch = [];
      }
    }
    await Promise.all(batch);
    return written;
  }

  /** Removes the claim at `key` if `owner` holds it (at the revision read). */
  async #removeOwned(key: string, owner: string): Promise<void> {
    const entry = await this.#register.read(key);
    if (entry !== undefined && parseClaim(entry.value)?.owner === owner)
      await this.#register.remove(key, entry.revision);
  }

  /** What the stream says of `claim` now: the authoritative state, not this replica's. */
  async #judge(tenantId: string, kind: ResourceKind, key: string, claim: Claim): Promise<Verdict> {
    const latest = await this.#log.latest(subjectOf(tombstone(tenantId, kind, claim.owner, 0)));
    const name = latest === undefined ? undefined : liveName(latest.change);
    if (name !== undefined && this.#key(tenantId, kind, name) === key) return 'held';
    // The claiming write expects the subject at `base`; once it moved on, that write can never be stored.
    return (latest?.sequence ?? 0) === claim.base ? 'pending' : 'stale';
  }

  /**
   * Advances the owner's subject past `claim.base`, so the abandoned write
   * fails its expected-sequence check: a tombstone where nothing was ever
   * stored (an unborn create), else the latest change stored again (same
   * state, new sequence). Losing that race to the write is fine: judged again.
   */
  async #fence(tenantId: string, kind: ResourceKind, claim: Claim): Promise<void> {
    const subject = subjectOf(tombstone(tenantId, kind, claim.owner, 0));
    const latest = await this.#log.latest(subject);
    if ((latest?.sequence ?? 0) !== claim.base) return;
    const at = this.#clock();
    const fence =
      latest === undefined
        ? tombstone(tenantId, kind, claim.owner, at)
        : ({ ...latest.change, id: randomUUID(), at } as Change);
    try {
      await this.#changes.publish(fence, { expectedLastSubjectSequence: claim.base });
      this.#logger.warn(
        { tenant: tenantId, kind, owner: claim.owner, sequence: claim.base },
        'fenced the write of an abandoned name claim',
      );
    } catch (error) {
      if (!(error instanceof SequenceConflictError)) throw error;
    }
  }
}

function tombstone(tenant: string, kind: ResourceKind, id: string, at: number): Change {
  return kind === 'User'
    ? { v: 1, id: randomUUID(), tenant, at, kind: 'user.delete', data: { id } }
    : { v: 1, id: randomUUID(), tenant, at, kind: 'group.delete', data: { id } };
}

/** The name a stored change gives its entity; `undefined` for a tombstone. */
function liveName(change: Change): string | undefined {
  switch (change.kind) {
    case 'user.upsert':
    case 'user.deactivate':
      return change.data.user_name;
    case 'group.upsert':
      return change.data.display_name;
    default:
      return undefined;
  }
}

function parseClaim(value: string): Claim | undefined {
  try {
    const parsed = JSON.parse(value) as { owner?: unknown; base?: unknown } | null;
    const owner = parsed?.owner;
    const base = parsed?.base;
    return typeof owner === 'string' && typeof base === 'number' && Number.isSafeInteger(base)
      ? { owner, base }
      : undefined;
  } catch {
    return undefined;
  }
}
