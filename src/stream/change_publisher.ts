import type { JetStreamClient } from '@nats-io/jetstream';
import { CLEAR_DATA, encodeChange, retentionOf, sealChange, subjectOf } from '../changes/index.js';
import type { Change, SealerOf } from '../changes/index.js';
import { publishDurably } from './durable_publish.js';

export interface PublishedChange {
  readonly subject: string;
  /** The stream sequence the change was stored at (a repeat reports the original's). */
  readonly sequence: number;
  /** True when JetStream recognised the `Nats-Msg-Id` and did not store it again. */
  readonly duplicate: boolean;
}

export interface PublishOptions {
  /** Store only if the entity's subject is still at this sequence (0: the entity must not exist). */
  readonly expectedLastSubjectSequence?: number;
  /** Keep retrying transient failures until this many ms have passed. @defaultValue 10000 */
  readonly retryForMs?: number;
}

/** Where producers put changes: stored in the state stream before `publish` resolves. */
export interface ChangeSink {
  publish(change: Change, options?: PublishOptions): Promise<PublishedChange>;
}

/**
 * Publishes normalized changes on their entity's subject. The change `id` is
 * the `Nats-Msg-Id`, so a publish retried after a lost ack is stored once.
 * Resolves only once JetStream has stored the change. A change that expires
 * carries its TTL (`Nats-TTL`). A tenant with a customer-managed key has
 * the change's personal fields sealed before it leaves the process.
 */
export class ChangePublisher implements ChangeSink {
  readonly #js: JetStreamClient;
  readonly #sealerOf: SealerOf;

  /** @param sealerOf the sealer of a tenant with a customer-managed key */
  constructor(js: JetStreamClient, sealerOf: SealerOf = CLEAR_DATA) {
    this.#js = js;
    this.#sealerOf = sealerOf;
  }

  /**
   * @throws {SequenceConflictError} `ERR_STREAM_SEQUENCE_CONFLICT`
   * @throws {ChangePublishError} `ERR_STREAM_PUBLISH_FAILED` when not stored within `retryForMs`
   * @throws whatever the tenant's sealer throws when its key cannot be used (nothing is published)
   */
  async publish(change: Change, options: PublishOptions = {}): Promise<PublishedChange> {
    const subject = subjectOf(change);
    const sealed = sealChange(change, this.#sealerOf(change.tenant));
    const ack = await publishDurably(this.#js, subject, encodeChange(sealed), {
      msgId: change.id,
      expectedLastSubjectSequence: options.expectedLastSubjectSequence,
      retryForMs: options.retryForMs,
      ttlS: retentionOf(change),
    });
    return { subject, ...ack };
  }
}
