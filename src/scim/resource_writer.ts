import type { Logger } from '../logging/index.js';
import type { ScimCatalogs } from './catalog.js';
import type { DirectoryReader } from '../store/index.js';
import type { ReplicaGate } from './replica_gate.js';
import type { ScimPublisher } from './scim_publisher.js';
import type { ScimReads } from './scim_reads.js';
import type { ResourceWrites, ScimContext, ScimResult } from './scim_result.js';

/** What every resource type's writes work with. */
export interface WriterParts {
  readonly directory: DirectoryReader;
  readonly gate: ReplicaGate;
  readonly reads: ScimReads;
  readonly publisher: ScimPublisher;
  readonly logger: Logger;
  readonly catalogs: ScimCatalogs;
}

/** The writes of one resource type, over the replica they read and the stream they publish to. */
export abstract class ResourceWriter implements ResourceWrites {
  protected readonly directory: DirectoryReader;
  protected readonly gate: ReplicaGate;
  protected readonly reads: ScimReads;
  protected readonly publisher: ScimPublisher;
  protected readonly logger: Logger;
  protected readonly catalogs: ScimCatalogs;

  constructor(parts: WriterParts) {
    ({
      directory: this.directory,
      gate: this.gate,
      reads: this.reads,
      publisher: this.publisher,
      logger: this.logger,
      catalogs: this.catalogs,
    } = parts);
  }

  abstract create(context: ScimContext, body: unknown): Promise<ScimResult>;
  abstract replace(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult>;
  abstract patch(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult>;
  abstract delete(context: ScimContext, id: string, ifMatch: string | undefined): Promise<ScimResult>;
}
