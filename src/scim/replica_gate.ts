import { CLEAR_DATA } from '../changes/index.js';
import type { SealerOf } from '../changes/index.js';
import type { DirectoryReader } from '../store/index.js';
import { ScimError } from './errors.js';
import type { ReplicaSync } from './scim_result.js';

/**
 * What every SCIM request waits for: this gateway's replica has applied
 * everything the stream held when the request arrived (reads), or the
 * request's own write (read-your-writes), so any replica answers the same.
 */
export class ReplicaGate {
  readonly #directory: Pick<DirectoryReader, 'hasTenant'>;
  readonly #replica: ReplicaSync;
  readonly #streamPosition: () => Promise<number>;
  readonly #timeoutMs: number;
  readonly #sealerOf: SealerOf;

  constructor(options: {
    readonly directory: Pick<DirectoryReader, 'hasTenant'>;
    readonly replica: ReplicaSync;
    readonly streamPosition: () => Promise<number>;
    readonly timeoutMs: number;
    /** A tenant with a customer-managed key is served only while its key is: revoked, nothing of it is. */
    readonly sealerOf?: SealerOf;
  }) {
    this.#directory = options.directory;
    this.#replica = options.replica;
    this.#streamPosition = options.streamPosition;
    this.#timeoutMs = options.timeoutMs;
    this.#sealerOf = options.sealerOf ?? CLEAR_DATA;
  }

  /**
   * Waits for the stream's end as it is now, then for the tenant to exist in the replica.
   *
   * @throws whatever the tenant's key throws when it cannot be used (revoked: 403, not loaded: 503)
   */
  async enter(tenantId: string): Promise<void> {
    this.#sealerOf(tenantId);
    let position: number;
    try {
      position = await this.#streamPosition();
    } catch (cause) {
      throw new ScimError('ERR_SCIM_UNAVAILABLE', 'the state stream cannot be reached; retry', { cause });
    }
    await this.sync(position);
    if (!this.#directory.hasTenant(tenantId)) {
      throw new ScimError('ERR_SCIM_UNAVAILABLE', `tenant "${tenantId}" is not provisioned yet; retry`);
    }
  }

  /** Waits until the replica has applied `sequence`. */
  async sync(sequence: number): Promise<void> {
    if (!(await this.#replica.waitForSequence(sequence, this.#timeoutMs))) {
      throw new ScimError('ERR_SCIM_UNAVAILABLE', 'this gateway is behind the state stream; retry');
    }
  }
}
