import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamPublishOptions } from '@nats-io/jetstream';
import { encodeChange, subjectOf } from '../changes/index.js';
import type { Change } from '../changes/index.js';
import { ChangePublishError, SequenceConflictError } from './errors.js';

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
 * Resolves only once JetStream has stored the change.
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
    const payload = encodeChange(change);
    const publishOptions: Partial<JetStreamPublishOptions> = {
      msgID: change.id,
      timeout: 2_000,
      ...(options.expectedLastSubjectSequence === undefined
        ? {}
        : { expect: { lastSubjectSequence: options.expectedLastSubjectSequence } }),
    };
    const deadline = Date.now() + (options.retryForMs ?? 10_000);
    let delayMs = 50;
    for (;;) {
      try {
        const ack = await this.#js.publish(subject, payload, publishOptions);
        return { subject, sequence: ack.seq, duplicate: ack.duplicate };
      } catch (error) {
        if (isSequenceConflict(error)) {
          throw new SequenceConflictError(
            `${subject} changed since sequence ${String(options.expectedLastSubjectSequence)}`,
            {
              cause: error,
            },
          );
        }
        if (Date.now() + delayMs >= deadline) {
          throw new ChangePublishError(`change ${change.id} was not stored on ${subject}`, { cause: error });
        }
        // Same msgID on retry: if the first attempt was stored, JetStream drops this one.
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 1_000);
      }
    }
  }
}

function isSequenceConflict(error: unknown): boolean {
  return (
    error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}
