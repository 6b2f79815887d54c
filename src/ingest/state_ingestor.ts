import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { ConsumerMessages, ConsumerNotification, JsMsg } from '@nats-io/jetstream';
import { ChangeRejectedError, decodeChange, STATE_STREAM, subjectOf } from '../changes/index.js';
import type { SessionEvent } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import type { EntitlementWriter } from '../store/index.js';
import type { NatsConnection } from '../stream/index.js';
import { applyChange } from './change_applier.js';

export interface StateIngestorOptions {
  /** The store this ingestor alone writes. */
  readonly store: EntitlementWriter & { appliedSequence(): number };
  /** Opens the NATS connection; called once, retried until it succeeds. */
  readonly connect: () => Promise<NatsConnection>;
  readonly logger: Logger;
  /**
   * After this long without contact with the stream, {@link StateIngestor.isStale}
   * turns true and decisions fail closed. Milliseconds.
   */
  readonly staleAfterMs: number;
  /** Most changes applied in one SQLite transaction. @defaultValue 1000 */
  readonly maxBatch?: number;
  /** Unix ms; for tests. @defaultValue Date.now */
  readonly clock?: () => number;
}

export interface IngestStatus {
  readonly connected: boolean;
  /** The last stream sequence applied to the store. */
  readonly appliedSequence: number;
  /** Messages known to be waiting in the stream after the last one applied. */
  readonly pending: number;
  /** True once the consumer has reached the end of the stream at least once. */
  readonly caughtUp: boolean;
  /** Unix ms of the last sign of life from the stream. */
  readonly lastContactAt: number | undefined;
  readonly stale: boolean;
  /** Messages rejected (malformed, unknown kind, ...) since start. */
  readonly rejected: number;
}

type SessionEventListener = (event: SessionEvent) => void;

interface Waiter {
  readonly sequence: number;
  readonly resolve: (reached: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Keeps the store a materialized view of `IPSIE_STATE`: an ordered consumer
 * from the last applied sequence, batches applied in one SQLite transaction
 * each with the sequence recorded in the same transaction, so a restart
 * resumes exactly where the store left off and no change is applied twice.
 *
 * A malformed change is logged with its sequence and skipped. A storage
 * failure applies nothing of its batch and restarts the consumer from the
 * last committed sequence: no accepted change is ever skipped.
 */
export class StateIngestor {
  readonly #options: StateIngestorOptions;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #maxBatch: number;
  readonly #queue: JsMsg[] = [];
  readonly #listeners = new Set<SessionEventListener>();
  #waiters: Waiter[] = [];
  #applied: number;
  #pending = 0;
  #rejected = 0;
  #caughtUp = false;
  #connected = false;
  #lastContactAt: number | undefined;
  /** Since when the stream has been out of reach (start counts until first contact). */
  #unhealthySince: number | undefined;
  #flushScheduled = false;
  #failure: Error | undefined;
  #stopped = false;
  #nc: NatsConnection | undefined;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  readonly #caughtUpSignal: { promise: Promise<void>; resolve: () => void };

  constructor(options: StateIngestorOptions) {
    if (!(options.staleAfterMs > 0)) throw new TypeError('staleAfterMs must be positive');
    this.#options = options;
    this.#logger = options.logger.child({ component: 'ingest' });
    this.#clock = options.clock ?? Date.now;
    this.#maxBatch = options.maxBatch ?? 1_000;
    this.#applied = options.store.appliedSequence();
    this.#unhealthySince = this.#clock();
    let resolve = (): void => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#caughtUpSignal = { promise, resolve };
  }

  /** Starts consuming in the background; does not wait for NATS. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops consuming, applies what was already received, and closes the connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#messages?.close();
    this.#flush();
    await this.#loop;
    await this.#nc?.close();
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.#waiters = [];
  }

  status(): IngestStatus {
    return {
      connected: this.#connected,
      appliedSequence: this.#applied,
      pending: this.#pending,
      caughtUp: this.#caughtUp,
      lastContactAt: this.#lastContactAt,
      stale: this.isStale(),
      rejected: this.#rejected,
    };
  }

  /** Whether the store may be behind the stream by more than the bound: decisions must fail closed. */
  isStale(): boolean {
    return this.#unhealthySince !== undefined && this.#clock() - this.#unhealthySince > this.#options.staleAfterMs;
  }

  /** Resolves once the consumer has reached the end of the stream. */
  caughtUp(): Promise<void> {
    return this.#caughtUpSignal.promise;
  }

  /** Resolves true once `sequence` is applied, false if `timeoutMs` passes first. */
  waitForSequence(sequence: number, timeoutMs: number): Promise<boolean> {
    if (this.#applied >= sequence) return Promise.resolve(true);
    if (timeoutMs <= 0 || this.#stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        sequence,
        resolve,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Session events of every applied change, after it is committed. Returns the unsubscribe. */
  onSessionEvent(listener: SessionEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async #run(): Promise<void> {
    let backoffMs = 100;
    while (!this.#isStopped()) {
      try {
        if (this.#nc === undefined) {
          this.#nc = await this.#options.connect();
          if (this.#isStopped()) break;
          this.#watchConnection(this.#nc);
          this.#connected = true;
        }
        await this.#consume(this.#nc);
        backoffMs = 100;
      } catch (error) {
        if (this.#isStopped()) break;
        this.#markUnhealthy();
        this.#logger.warn({ err: error, retry_ms: backoffMs }, 'stream consumer stopped; restarting');
      }
      if (this.#isStopped()) break;
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
      backoffMs = Math.min(backoffMs * 2, 5_000);
    }
  }

  /** The storage failure that closed the consumer (set by a flush while we awaited). */
  #takeFailure(): Error | undefined {
    const failure = this.#failure;
    this.#failure = undefined;
    return failure;
  }

  /** A method, not the field, so checks after an `await` are not narrowed away. */
  #isStopped(): boolean {
    return this.#stopped;
  }

  /** One consumer lifetime: from the store's applied sequence until it closes or fails. */
  async #consume(nc: NatsConnection): Promise<void> {
    this.#failure = undefined;
    this.#queue.length = 0;
    const from = this.#applied + 1;
    const consumer = await jetstream(nc).consumers.get(STATE_STREAM, {
      ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : {}),
    });
    const messages = await consumer.consume({
      max_messages: Math.max(256, this.#maxBatch * 2),
      callback: (message) => {
        this.#receive(message);
      },
    });
    this.#messages = messages;
    void this.#watchConsumer(messages);
    this.#markContact();
    this.#logger.info({ from_sequence: from }, 'consuming the state stream');
    if (!this.#caughtUp) {
      const info = await consumer.info(true);
      if (info.num_pending === 0 && this.#queue.length === 0) this.#markCaughtUp();
    }
    const closed = await messages.closed();
    this.#messages = undefined;
    const failure = this.#takeFailure();
    if (failure !== undefined) throw failure;
    if (closed instanceof Error) throw closed;
  }

  #receive(message: JsMsg): void {
    this.#queue.push(message);
    this.#markContact();
    // Apply at once when a batch is full (bounds memory during a replay),
    // otherwise on the next turn of the event loop, batching what arrived.
    if (this.#queue.length >= this.#maxBatch) {
      this.#flush();
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flush();
      });
    }
  }

  #flush(): void {
    this.#flushScheduled = false;
    while (this.#queue.length > 0 && this.#failure === undefined) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      try {
        this.#applyBatch(batch);
      } catch (error) {
        // Nothing of the batch was committed. Drop what is queued and let the
        // consumer restart from the last committed sequence.
        this.#queue.length = 0;
        this.#failure = error instanceof Error ? error : new Error(String(error));
        this.#logger.error({ err: error, from_sequence: batch[0]?.seq }, 'could not apply changes; will retry');
        void this.#messages?.close();
      }
    }
  }

  #applyBatch(batch: readonly JsMsg[]): void {
    const { store } = this.#options;
    const events: SessionEvent[] = [];
    const rejected: { sequence: number; subject: string; error: ChangeRejectedError }[] = [];
    let last = this.#applied;
    let count = 0;
    store.transaction(() => {
      for (const message of batch) {
        // Exactly once: the stored sequence says what is already applied.
        if (message.seq <= last) continue;
        try {
          const change = decodeChange(message.data);
          const expected = subjectOf(change);
          if (expected !== message.subject) {
            throw new ChangeRejectedError(
              'ERR_CHANGE_SUBJECT_MISMATCH',
              `a ${change.kind} change belongs on ${expected}`,
            );
          }
          events.push(...applyChange(store, change, message.seq));
          count++;
        } catch (error) {
          if (!(error instanceof ChangeRejectedError)) throw error;
          rejected.push({ sequence: message.seq, subject: message.subject, error });
        }
        last = message.seq;
      }
      if (last > this.#applied) store.setAppliedSequence(last);
    });
    const first = this.#applied + 1;
    this.#applied = last;
    const tail = batch[batch.length - 1];
    if (tail !== undefined) this.#pending = tail.info.pending;

    for (const { sequence, subject, error } of rejected) {
      this.#rejected++;
      this.#logger.error(
        { sequence, subject, code: error.code, field: error.field, reason: error.message },
        'change rejected and skipped',
      );
    }
    if (count > 0 || rejected.length > 0) {
      this.#logger.debug(
        { first_sequence: first, last_sequence: last, applied: count, rejected: rejected.length },
        'applied',
      );
    }
    if (this.#pending === 0) this.#markCaughtUp();
    this.#releaseWaiters();
    for (const event of events) {
      for (const listener of this.#listeners) listener(event);
    }
  }

  #releaseWaiters(): void {
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (waiter.sequence <= this.#applied) {
        clearTimeout(waiter.timer);
        waiter.resolve(true);
      } else {
        still.push(waiter);
      }
    }
    this.#waiters = still;
  }

  #markCaughtUp(): void {
    if (this.#caughtUp) return;
    this.#caughtUp = true;
    this.#logger.info({ applied_sequence: this.#applied }, 'caught up with the state stream');
    this.#caughtUpSignal.resolve();
  }

  #markContact(): void {
    this.#lastContactAt = this.#clock();
    this.#unhealthySince = undefined;
  }

  #markUnhealthy(): void {
    this.#unhealthySince ??= this.#clock();
  }

  #watchConnection(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          this.#connected = false;
          this.#markUnhealthy();
        } else if (status.type === 'reconnect') {
          this.#connected = true;
          this.#markContact();
        }
      }
    })();
  }

  async #watchConsumer(messages: ConsumerMessages): Promise<void> {
    for await (const notification of messages.status()) {
      this.#onNotification(notification);
    }
  }

  #onNotification(notification: ConsumerNotification): void {
    switch (notification.type) {
      case 'heartbeats_missed':
      case 'consumer_not_found':
      case 'stream_not_found':
      case 'consumer_deleted':
      case 'no_responders':
        this.#markUnhealthy();
        this.#logger.warn({ notification: notification.type }, 'state stream consumer unhealthy');
        break;
      case 'reset':
        // nats.js recreates an ordered consumer (lost in a server restart, or after a gap) without clearing
        // what it counted as still owed by the old one, so the new one is asked for only as many messages as
        // the old had delivered and then waits for two missed heartbeats (up to 30 s) before pulling again.
        // A consumer of our own from the last committed sequence owes nothing.
        this.#logger.warn({ notification: notification.type }, 'ordered consumer reset; consuming afresh');
        void this.#messages?.close();
        break;
      case 'heartbeat':
      case 'next':
      case 'ordered_consumer_recreated':
        if (this.#connected) this.#markContact();
        break;
      default:
        break;
    }
  }
}
