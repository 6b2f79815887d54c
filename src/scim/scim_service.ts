import type { SealerOf } from '../changes/index.js';
import type { AttributeCatalog } from '../attribute_catalog.js';
import type { Logger } from '../logging/index.js';
import { ScimCatalogs } from './catalog.js';
import type { DirectoryReader } from '../store/index.js';
import type { ChangeSink } from '../stream/index.js';
import { GroupWrites } from './group_writes.js';
import type { NameClaims } from './name_claims.js';
import { ReplicaGate } from './replica_gate.js';
import type { ResourceKind } from './schema.js';
import { ScimPublisher } from './scim_publisher.js';
import { ScimReads } from './scim_reads.js';
import type { WriterParts } from './resource_writer.js';
import type { ReplicaSync, ResourceWrites } from './scim_result.js';
import { UserWrites } from './user_writes.js';

export interface ScimServiceOptions {
  readonly directory: DirectoryReader;
  readonly changes: ChangeSink;
  /** userName and group displayName claims shared by every gateway replica. */
  readonly names: NameClaims;
  readonly replica: ReplicaSync;
  /** The stream's last sequence now (the read barrier). */
  readonly streamPosition: () => Promise<number>;
  readonly logger: Logger;
  /** How long a request waits for the replica to catch up, in ms. @defaultValue 5000 */
  readonly syncTimeoutMs?: number;
  /** Unix ms. @defaultValue Date.now */
  readonly clock?: () => number;
  /** Each tenant's attribute catalog (docs/attributes.md). @defaultValue the platform defaults for every tenant */
  readonly attributeCatalogs?: ReadonlyMap<string, AttributeCatalog>;
  /** The customer-managed keys' gate: a tenant whose key cannot be used is not served. @defaultValue none */
  readonly sealerOf?: SealerOf;
}

/**
 * SCIM 2.0 over the state stream. Every write is published (with the
 * entity's last sequence as the expected one, so concurrent writers cannot
 * lose each other's updates) and answered from this gateway's replica once
 * the replica has applied it. Every read first waits for the replica to
 * reach the stream's current end, so any gateway replica answers the same.
 */
export class ScimService {
  readonly reads: ScimReads;
  readonly writes: Readonly<Record<ResourceKind, ResourceWrites>>;
  readonly catalogs: ScimCatalogs;
  readonly #directory: DirectoryReader;
  readonly #publisher: ScimPublisher;

  constructor(options: ScimServiceOptions) {
    const { directory, logger } = options;
    const gate = new ReplicaGate({
      directory,
      replica: options.replica,
      streamPosition: options.streamPosition,
      timeoutMs: options.syncTimeoutMs ?? 5_000,
      ...(options.sealerOf === undefined ? {} : { sealerOf: options.sealerOf }),
    });
    const reads = new ScimReads(directory, gate);
    const publisher = new ScimPublisher(options.changes, options.names, options.clock ?? Date.now, logger);
    const catalogs = new ScimCatalogs(options.attributeCatalogs ?? new Map());
    const parts: WriterParts = { directory, gate, reads, publisher, logger, catalogs };
    this.catalogs = catalogs;
    this.reads = reads;
    this.writes = { User: new UserWrites(parts), Group: new GroupWrites(parts) };
    this.#directory = directory;
    this.#publisher = publisher;
  }

  /** Claims the names of every user and group the replica holds; run at start, once caught up. */
  async claimExistingNames(tenantIds: readonly string[]): Promise<number> {
    return await this.#publisher.claimExistingNames(this.#directory, tenantIds);
  }
}
