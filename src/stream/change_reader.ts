import type { JetStreamManager } from '@nats-io/jetstream';
import { CLEAR_DATA, decodeChange, openChange, STATE_STREAM } from '../changes/index.js';
import type { Change, SealerOf } from '../changes/index.js';

/** The latest change of an entity as the state stream holds it now. */
export interface StoredChange {
  readonly sequence: number;
  readonly change: Change;
}

/**
 * Reads an entity's subject straight from the stream leader: the
 * authoritative state, ahead of any replica. For decisions a replica may not
 * be trusted with (is this name's claimed owner really there?).
 */
export class ChangeReader {
  readonly #jsm: JetStreamManager;
  readonly #sealerOf: SealerOf;

  /** @param sealerOf opens what a tenant with a customer-managed key sealed: a reader compares plaintext */
  constructor(jsm: JetStreamManager, sealerOf: SealerOf = CLEAR_DATA) {
    this.#jsm = jsm;
    this.#sealerOf = sealerOf;
  }

  /**
   * The last change stored on `subject`, or `undefined` when the subject never held one.
   *
   * @throws {ChangeRejectedError} when the stored message is not a change this build reads
   * @throws whatever the tenant's sealer throws when its key cannot open the change
   */
  async latest(subject: string): Promise<StoredChange | undefined> {
    const message = await this.#jsm.streams.getMessage(STATE_STREAM, { last_by_subj: subject });
    if (message === null) return undefined;
    return { sequence: message.seq, change: openChange(decodeChange(message.data), this.#sealerOf) };
  }
}
