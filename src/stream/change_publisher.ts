import type { JetStreamClient } from '@nats-io/jetstream';
import { encodeChange, retentionOf, subjectOf } from '../changes/index.js';
import type { Change } from '../changes/index.js';
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
 * carries its TTL (`Nats-TTL`).
 */
export class ChangePublisher implements ChangeSink {
  readonly #js: JetStreamClient;

  constructor(js: JetStreamClient) {
    this.#js = js;
  }

  /**
   * @throws {SequenceConflictError} `ERR_STREAM_SEQUENCE_CONFLICT`
   * @throws {ChangePublishError} `ERR_STREAM_PUBLISH_FAILED` when not stored within `retryForMs`
   */
  async publish(change: Change, options: PublishOptions = {}): Promise<PublishedChange> {
    const subject = subjectOf(change);
    const ack = await publishDurably(this.#js, subject, encodeChange(change), {
      msgId: change.id,
      expectedLastSubjectSequence: options.expectedLastSubjectSequence,
      retryForMs: options.retryForMs,
      ttlS: retentionOf(change),
    });
    return { subject, ...ack };
  }
}
