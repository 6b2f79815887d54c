import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { JetStreamClient, JetStreamPublishOptions } from '@nats-io/jetstream';
import { ChangePublishError, SequenceConflictError } from './errors.js';

export interface DurablePublishOptions {
  /** The `Nats-Msg-Id`: a retry after a lost ack is stored once. */
  readonly msgId: string;
  /** Store only if the subject is still at this sequence (0: nothing on it yet). */
  readonly expectedLastSubjectSequence?: number | undefined;
  /** Keep retrying transient failures until this many ms have passed. @defaultValue 10000 */
  readonly retryForMs?: number | undefined;
  /** The stream removes the message after this many s (`Nats-TTL`; the stream must allow it). */
  readonly ttlS?: number | undefined;
}

export interface DurableAck {
  readonly sequence: number;
  /** True when JetStream recognised the `Nats-Msg-Id` and did not store it again. */
  readonly duplicate: boolean;
}

/**
 * Publishes to a stream and resolves once JetStream has stored the message,
 * retrying transient failures with the same message id.
 *
 * @throws {SequenceConflictError} `ERR_STREAM_SEQUENCE_CONFLICT`
 * @throws {ChangePublishError} `ERR_STREAM_PUBLISH_FAILED` when not stored within `retryForMs`
 */
export async function publishDurably(
  js: JetStreamClient,
  subject: string,
  payload: Uint8Array,
  options: DurablePublishOptions,
): Promise<DurableAck> {
  const publishOptions: Partial<JetStreamPublishOptions> = {
    msgID: options.msgId,
    timeout: 2_000,
    ...(options.ttlS === undefined ? {} : { ttl: `${Math.max(1, Math.ceil(options.ttlS))}s` }),
    ...(options.expectedLastSubjectSequence === undefined
      ? {}
      : { expect: { lastSubjectSequence: options.expectedLastSubjectSequence } }),
  };
  const deadline = Date.now() + (options.retryForMs ?? 10_000);
  let delayMs = 50;
  for (;;) {
    try {
      const ack = await js.publish(subject, payload, publishOptions);
      return { sequence: ack.seq, duplicate: ack.duplicate };
    } catch (error) {
      if (isSequenceConflict(error)) {
        throw new SequenceConflictError(
          `${subject} changed since sequence ${String(options.expectedLastSubjectSequence)}`,
          { cause: error },
        );
      }
      if (Date.now() + delayMs >= deadline) {
        throw new ChangePublishError(`message ${options.msgId} was not stored on ${subject}`, { cause: error });
      }
      // Same msgID on retry: if the first attempt was stored, JetStream drops this one.
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs = Math.min(delayMs * 2, 1_000);
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
