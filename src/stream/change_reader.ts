import type { JetStreamManager } from '@nats-io/jetstream';
import { decodeChange, STATE_STREAM } from '../changes/index.js';
import type { Change } from '../changes/index.js';

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

  constructor(jsm: JetStreamManager) {
    this.#jsm = jsm;
  }

  /**
   * The last change stored on `subject`, or `undefined` when the subject never held one.
   *
   * @throws {ChangeRejectedError} when the stored message is not a change this build reads
   */
  async latest(subject: string): Promise<StoredChange | undefined> {
    const message = await this.#jsm.streams.getMessage(STATE_STREAM, { last_by_subj: subject });
    return message === null ? undefined : { sequence: message.seq, change: decodeChange(message.data) };
  }
}
