import { randomUUID } from 'node:crypto';
import type { Change, ChangeKind, ChangeOf } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import type { DirectoryReader } from '../store/index.js';
import type { ChangeSink, PublishedChange } from '../stream/index.js';
import { SequenceConflictError } from '../stream/index.js';
import { nameTaken } from './name_claims.js';
import type { NameClaims, NamedResource } from './name_claims.js';
import type { ResourceKind } from './schema.js';
import { preconditionFailed } from './scim_result.js';

/**
 * How SCIM writes reach the stream: every change of a resource expects the
 * resource's last sequence (so concurrent writers cannot lose each other's
 * updates), and a change that gives a resource a name claims it first in
 * the registry every gateway replica shares.
 */
export class ScimPublisher {
  readonly #changes: ChangeSink;
  readonly #names: NameClaims;
  readonly #clock: () => number;

  readonly #logger: Logger;

  constructor(changes: ChangeSink, names: NameClaims, clock: () => number, logger: Logger) {
    this.#logger = logger;
    this.#changes = changes;
    this.#names = names;
    this.#clock = clock;
  }

  now(): number {
    return this.#clock();
  }

  change<K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data']): Change {
    return { v: 1, id: randomUUID(), tenant, at: this.#clock(), kind, data } as unknown as Change;
  }

  /** Publishes a change of another entity than the one written (memberships, tombstones); returns its sequence. */
  async publish<K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data']): Promise<number> {
    return (await this.#changes.publish(this.change(tenant, kind, data))).sequence;
  }

  /** Publishes the resource's change if the resource is still at `sequence`. */
  async publishAt(change: Change, sequence: number): Promise<PublishedChange> {
    return await this.#changes.publish(change, { expectedLastSubjectSequence: sequence });
  }

  /** As {@link publishAt}, answering a lost race as 412: the client's If-Match named exactly that version. */
  async publishIfMatch(change: Change, sequence: number, ifMatch: string | undefined): Promise<PublishedChange> {
    try {
      return await this.publishAt(change, sequence);
    } catch (error) {
      if (error instanceof SequenceConflictError) throw preconditionFailed(ifMatch ?? '');
      throw error;
    }
  }

  /**
   * Publishes a write that gives resource `id` the name `name`: claims the
   * name first (409 while another resource holds it), publishes expecting
   * the subject at `base`, then releases the name it had before. A failed
   * write releases the new claim once the stream shows it cannot land.
   */
  async publishNamed(
    tenantId: string,
    kind: ResourceKind,
    name: string,
    id: string,
    base: number,
    change: Change,
    previousName?: string,
  ): Promise<PublishedChange> {
    await this.#names.claim(tenantId, kind, name, id, base);
    let published: PublishedChange;
    try {
      published = await this.publishAt(change, base);
    } catch (error) {
      await this.#names.release(tenantId, kind, name, id);
      // A create whose id was fenced: another request took the name over while this one stalled.
      if (error instanceof SequenceConflictError && base === 0) throw nameTaken(kind, name);
      throw error;
    }
    if (previousName !== undefined) await this.#names.release(tenantId, kind, previousName, id);
    return published;
  }

  /** A deleted resource's name is free again. */
  async releaseName(tenantId: string, kind: ResourceKind, name: string, id: string): Promise<void> {
    await this.#names.release(tenantId, kind, name, id);
  }

  /**
   * Claims the names of every user and group the replica holds (see
   * {@link NameClaims.claimExisting}); run at start, once caught up.
   * Returns how many claims were written.
   */
  async claimExistingNames(directory: DirectoryReader, tenantIds: readonly string[]): Promise<number> {
    function* resources(tenantId: string): Generator<NamedResource> {
      for (const u of directory.users(tenantId)) {
        yield { tenantId, kind: 'User', id: u.id, name: u.userName, sequence: u.version?.sequence ?? 0 };
      }
      for (const g of directory.groups(tenantId)) {
        yield { tenantId, kind: 'Group', id: g.id, name: g.displayName, sequence: g.version?.sequence ?? 0 };
      }
    }
    // Read in full first: the replica's iterators must not stay open across an await (the ingestor writes).
    const named: NamedResource[] = [];
    for (const tenantId of tenantIds) {
      try {
        named.push(...resources(tenantId));
      } catch (error) {
        // A tenant whose key is revoked or not loaded: nothing of it can be written until it is, so nothing to claim.
        this.#logger.warn({ err: error, tenant: tenantId }, 'names of the tenant not claimed at start');
      }
    }
    return await this.#names.claimExisting(named);
  }
}
