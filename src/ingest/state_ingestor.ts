import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { ConsumerMessages, ConsumerNotification, JetStreamManager, JsMsg, StreamInfo } from '@nats-io/jetstream';
import { ChangeRejectedError, decodeChange, STATE_STREAM, subjectOf } from '../changes/index.js';
import type { SessionEvent } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import type { EntitlementWriter, StreamOrigin } from '../store/index.js';
import { isStreamNotFound } from '../stream/index.js';
import type { NatsConnection } from '../stream/index.js';
import { applyChange, applyExpiry } from './change_applier.js';
import { IngestStoppedError, StreamUnreachableError } from './errors.js';

/**
 * Why a store was emptied and replayed from the stream's first message:
 * - `stream_recreated`: the stream has another origin than the one the store recorded (deleted and
 *   created again, or the store was copied from another deployment);
 * - `store_ahead`: the store says it applied more than the stream holds (a restored backup);
 * - `origin_unknown`: the store holds state but no origin (written by an older version);
 * - `requested`: {@link StateIngestor.rebuild} was called (a corrupt store, an operator).
 */
export type RebuildReason = 'stream_recreated' | 'store_ahead' | 'origin_unknown' | 'requested';

export const REBUILD_REASONS: readonly RebuildReason[] = [
  'stream_recreated',
  'store_ahead',
  'origin_unknown',
  'requested',
];

/** How long {@link StateIngestor.streamPosition} waits for the stream, unless told otherwise. */
const DEFAULT_POSITION_TIMEOUT_MS = 2_000;

/** Most liveness probes waiting for an answer at once, whatever the settings (a frozen server answers none). */
const MAX_PROBES_IN_FLIGHT = 64;

export interface StateIngestorOptions {
  /** The store this ingestor alone writes. */
  readonly store: EntitlementWriter & { appliedSequence(): number };
  /** Opens the NATS connection; called once, retried until it succeeds. */
  readonly connect: () => Promise<NatsConnection>;
  readonly logger: Logger;
  /**
   * Decisions fail closed ({@link StateIngestor.isStale}) unless the store is
   * known to hold everything the stream held this many ms ago. Milliseconds.
   */
  readonly staleAfterMs: number;
  /**
   * How often the stream is asked for its origin and last sequence: the
   * liveness proof that keeps the store fresh, and how soon a stream
   * recreated under the consumer is noticed. Below `staleAfterMs`.
   * Milliseconds. @defaultValue 2000, or half of `staleAfterMs` when that is less
   */
  readonly probeIntervalMs?: number;
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
  /** True once the store has reached the stream's end, since start or since the last rebuild began. */
  readonly caughtUp: boolean;
  /** Unix ms: the store holds everything the stream held at this time (the last liveness proof it reached). */
  readonly freshAsOf: number | undefined;
  readonly stale: boolean;
  /** Why the store is being rebuilt, from the moment that was decided until the rebuilt store caught up. */
  readonly rebuilding: RebuildReason | undefined;
  /** True while the stream does not exist (deleted, not created again yet). */
  readonly streamMissing: boolean;
  /** Rebuilds since start, by reason. */
  readonly rebuilds: Readonly<Record<RebuildReason, number>>;
  /** Messages rejected (malformed, unknown kind, ...) since start. */
  readonly rejected: number;
}

/** The header JetStream puts on the delete marker it leaves when a message's TTL runs out. */
const DELETE_MARKER_REASON = 'Nats-Marker-Reason';

type SessionEventListener = (event: SessionEvent) => void;
type RebuildListener = (reason: RebuildReason, origin: StreamOrigin) => void;

interface Waiter {
  readonly sequence: number;
  readonly resolve: (reached: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

/** The stream held nothing beyond `sequence` at `at` (Unix ms): reaching it makes the store fresh as of `at`. */
interface FreshnessTarget {
  readonly sequence: number;
  readonly at: number;
}

/**
 * Keeps the store a materialized view of `IPSIE_STATE`: an ordered consumer
 * from the last applied sequence, batches applied in one SQLite transaction
 * each with the sequence recorded in the same transaction, so a restart
 * resumes exactly where the store left off and no change is applied twice.
 *
 * The store records which stream it materializes (name and creation time).
 * Before consuming, and on every liveness probe, the stream is asked for its
 * origin and last sequence; another origin, or a stored sequence beyond the
 * stream's last, means the store is not a view of this stream: decisions
 * fail closed at once, the store is emptied and the stream replayed from its
 * first message ({@link rebuild}).
 *
 * Freshness is proven, never inferred from a connection that looks open: a
 * probe sent at time T that reports last sequence L makes the store fresh as
 * of T once L is applied. Without such a proof within `staleAfterMs`
 * (a frozen server, a partition, a consumer stuck on the wrong stream, a
 * replay not finished since start) the store is stale.
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
  readonly #probeIntervalMs: number;
  readonly #queue: JsMsg[] = [];
  readonly #listeners = new Set<SessionEventListener>();
  readonly #rebuildListeners = new Set<RebuildListener>();
  #waiters: Waiter[] = [];
  #rebuilt: { resolve: () => void; reject: (error: Error) => void }[] = [];
  #applied: number;
  #pending = 0;
  #rejected = 0;
  #caughtUp = false;
  #connected = false;
  /** The store materializes the stream the consumer reads: set by attaching, lost on a mismatch. */
  #verified = false;
  /** The origin of the stream the store was verified against. */
  #origin: StreamOrigin | undefined;
  /** Moves whenever verification is lost: answers to older probes say nothing about the store now. */
  #generation = 0;
  /** Moves whenever the consumer is dropped: only the current one's messages are applied. */
  #attachment = 0;
  #targets: FreshnessTarget[] = [];
  #freshAsOf: number | undefined;
  /** The stream's last sequence as last reported. */
  #streamLast = 0;
  #streamMissing = false;
  /** Decided, carried out at the next attach. */
  #rebuildReason: RebuildReason | undefined;
  #rebuilding: RebuildReason | undefined;
  readonly #rebuilds: Record<RebuildReason, number> = {
    stream_recreated: 0,
    store_ahead: 0,
    origin_unknown: 0,
    requested: 0,
  };
  #probesInFlight = 0;
  readonly #maxProbesInFlight: number;
  #probeTimer: NodeJS.Timeout | undefined;
  /** A stale store was reported in the log (once per episode). */
  #staleReported = false;
  #flushScheduled = false;
  #failure: Error | undefined;
  #stopped = false;
  #nc: NatsConnection | undefined;
  #jsm: JetStreamManager | undefined;
  #messages: ConsumerMessages | undefined;
  #loop: Promise<void> | undefined;
  readonly #caughtUpSignal: { promise: Promise<void>; resolve: () => void };

  constructor(options: StateIngestorOptions) {
    if (!(options.staleAfterMs > 0)) throw new TypeError('staleAfterMs must be positive');
    const probeIntervalMs = options.probeIntervalMs ?? Math.min(2_000, options.staleAfterMs / 2);
    if (!(probeIntervalMs > 0 && probeIntervalMs < options.staleAfterMs)) {
      throw new TypeError('probeIntervalMs must be positive and less than staleAfterMs');
    }
    this.#options = options;
    this.#probeIntervalMs = probeIntervalMs;
    // A probe waits up to the staleness bound for its answer: enough of them that none is skipped meanwhile.
    this.#maxProbesInFlight = Math.min(MAX_PROBES_IN_FLIGHT, Math.ceil(options.staleAfterMs / probeIntervalMs) + 1);
    this.#logger = options.logger.child({ component: 'ingest' });
    this.#clock = options.clock ?? Date.now;
    this.#maxBatch = options.maxBatch ?? 1_000;
    this.#applied = options.store.appliedSequence();
    let resolve = (): void => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#caughtUpSignal = { promise, resolve };
  }

  /** Starts consuming and probing in the background; does not wait for NATS. */
  start(): void {
    this.#loop ??= this.#run();
    this.#probeTimer ??= setInterval(() => {
      void this.#probe();
    }, this.#probeIntervalMs);
  }

  /** Stops consuming, applies what was already received, and closes the connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#probeTimer);
    // Nothing more is received; what was is still applied below. A consumer being created sees this too.
    this.#attachment++;
    await this.#messages?.close();
    this.#flush();
    await this.#loop;
    await this.#nc?.close();
    for (const waiter of this.#waiters) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.#waiters = [];
    for (const rebuilt of this.#rebuilt.splice(0)) {
      rebuilt.reject(new IngestStoppedError('the ingestor stopped before the rebuild finished'));
    }
  }

  status(): IngestStatus {
    return {
      connected: this.#connected,
      appliedSequence: this.#applied,
      pending: Math.max(this.#pending, this.#streamLast - this.#applied),
      caughtUp: this.#caughtUp,
      freshAsOf: this.#freshAsOf,
      stale: this.isStale(),
      rebuilding: this.#rebuilding,
      streamMissing: this.#streamMissing,
      rebuilds: { ...this.#rebuilds },
      rejected: this.#rejected,
    };
  }

  /**
   * Whether decisions must fail closed: the store is not known to be a view
   * of the stream there is now, or not known to hold what the stream held
   * `staleAfterMs` ago (cut off, frozen, still catching up, rebuilding).
   */
  isStale(): boolean {
    return (
      !this.#verified || this.#freshAsOf === undefined || this.#clock() - this.#freshAsOf > this.#options.staleAfterMs
    );
  }

  /** Resolves once the store has caught up with the stream for the first time. */
  caughtUp(): Promise<void> {
    return this.#caughtUpSignal.promise;
  }

  /**
   * Resolves true once `sequence` of the stream the store is verified to
   * materialize is applied, false if `timeoutMs` passes first. While the
   * store is unverified (before the first check against the stream, or
   * after a mismatch) it waits: an old store's sequence answers nothing.
   */
  waitForSequence(sequence: number, timeoutMs: number): Promise<boolean> {
    if (this.#verified && this.#applied >= sequence) return Promise.resolve(true);
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

  /**
   * The stream's last sequence, asked of the stream now: a replica's read
   * barrier (then {@link waitForSequence}). It is a liveness probe too: a
   * stream recreated since the store was verified is noticed before this
   * resolves, so the wait that follows cannot be answered by the old store.
   *
   * @param timeoutMs how long a caller waits for the answer: a request that must be answered (SCIM, a
   *   pushed SET) fails fast while NATS is away, though the question itself may wait longer
   * @throws {StreamUnreachableError} `ERR_INGEST_STREAM_UNREACHABLE`
   */
  async streamPosition(timeoutMs = DEFAULT_POSITION_TIMEOUT_MS): Promise<number> {
    const jsm = this.#jsm;
    if (jsm === undefined) throw new StreamUnreachableError('not connected to NATS yet');
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.#ask(jsm),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new Error(`no answer within ${String(timeoutMs)} ms`));
          }, timeoutMs);
        }),
      ]);
    } catch (cause) {
      throw new StreamUnreachableError('the state stream did not answer', { cause });
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Rebuilds the store from the stream: decisions fail closed at once, the
   * store is emptied (nothing of its old state is kept) and the stream is
   * replayed from its first message. Resolves once the rebuilt store has
   * caught up with the stream. The one entry point for anything that finds
   * the store untrustworthy: a recreated stream, a store ahead of the
   * stream, a corrupt store file.
   *
   * @param cause what made the store untrustworthy, for the log
   * @throws {IngestStoppedError} `ERR_INGEST_STOPPED` when stopped first
   */
  async rebuild(cause: string): Promise<void> {
    if (this.#stopped) throw new IngestStoppedError('the ingestor is stopped');
    const rebuilt = new Promise<void>((resolve, reject) => {
      this.#rebuilt.push({ resolve, reject });
    });
    this.#logger.warn({ cause }, 'rebuilding the store from the state stream on request');
    this.#distrust('requested');
    await rebuilt;
  }

  /** Session events of every applied change, after it is committed. Returns the unsubscribe. */
  onSessionEvent(listener: SessionEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Told when the store has been emptied to be rebuilt from a stream (whose origin it gives). */
  onRebuild(listener: RebuildListener): () => void {
    this.#rebuildListeners.add(listener);
    return () => this.#rebuildListeners.delete(listener);
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
        // Requests time out only once their answer could no longer make the store fresh.
        this.#jsm ??= await jetstreamManager(this.#nc, { timeout: this.#options.staleAfterMs, checkAPI: false });
        await this.#consume(this.#nc, this.#jsm);
        backoffMs = 100;
      } catch (error) {
        if (this.#isStopped()) break;
        // A lost consumer or stream has been reported already (after a NATS restart the consumer is gone).
        const reported = error instanceof Error && (error.name === 'ConsumerNotFoundError' || isStreamNotFound(error));
        this.#logger[reported ? 'debug' : 'warn'](
          { err: error, retry_ms: backoffMs },
          'stream consumer stopped; restarting',
        );
        backoffMs = Math.min(backoffMs * 2, 5_000);
      }
      if (this.#isStopped()) break;
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
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

  /** One consumer lifetime: the store checked against the stream, then consumed from its applied sequence. */
  async #consume(nc: NatsConnection, jsm: JetStreamManager): Promise<void> {
    this.#failure = undefined;
    this.#queue.length = 0;
    await this.#attach(jsm);
    const attachment = ++this.#attachment;
    const from = this.#applied + 1;
    const consumer = await jetstream(nc).consumers.get(STATE_STREAM, {
      ...(from > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from } : {}),
    });
    // A missing stream or consumer ends this lifetime (the next one checks the stream again)
    // rather than being re-created silently, perhaps on another stream of the same name.
    const messages = await consumer.consume({
      max_messages: Math.max(256, this.#maxBatch * 2),
      abort_on_missing_resource: true,
      callback: (message) => {
        if (attachment === this.#attachment) this.#receive(message);
      },
    });
    this.#messages = messages;
    // Dropped (or stopped) while it was being created.
    if (attachment !== this.#attachment) await messages.close();
    void this.#watchConsumer(messages, attachment);
    this.#logger.info({ from_sequence: from }, 'consuming the state stream');
    const closed = await messages.closed();
    this.#messages = undefined;
    const failure = this.#takeFailure();
    if (failure !== undefined) throw failure;
    if (closed instanceof Error) throw closed;
  }

  /**
   * Verifies that the store materializes the stream there is now, or
   * empties it so that it is rebuilt from the stream's first message.
   *
   * @throws when the stream cannot be asked (or does not exist): the caller retries
   */
  async #attach(jsm: JetStreamManager): Promise<void> {
    const askedAt = this.#clock();
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(STATE_STREAM);
    } catch (error) {
      if (isStreamNotFound(error)) this.#streamGone();
      throw error;
    }
    if (this.#streamMissing) this.#logger.info('the state stream exists again');
    this.#streamMissing = false;
    const { store } = this.#options;
    const origin = originOf(info);
    const stored = store.streamOrigin();
    const last = info.state.last_seq;
    const reason =
      this.#rebuildReason ??
      (stored === undefined
        ? this.#applied > 0
          ? 'origin_unknown'
          : undefined
        : !sameOrigin(stored, origin)
          ? 'stream_recreated'
          : this.#applied > last
            ? 'store_ahead'
            : undefined);
    if (reason !== undefined) {
      this.#logger.error(
        {
          reason,
          store: { stream: stored?.stream, created: stored?.created, applied_sequence: this.#applied },
          stream: { stream: origin.stream, created: origin.created, last_sequence: last },
        },
        'the store does not materialize the state stream; rebuilding it',
      );
      this.#rebuilding = reason;
      this.#distrust(undefined);
      store.resetTo(origin);
      this.#rebuilds[reason]++;
      this.#applied = 0;
      this.#pending = 0;
      for (const listener of this.#rebuildListeners) listener(reason, origin);
    } else if (stored === undefined) {
      // A new store: from now on it materializes this stream.
      store.resetTo(origin);
      this.#logger.info({ stream: origin.stream, created: origin.created }, 'the store materializes this stream');
    }
    this.#rebuildReason = undefined;
    this.#origin = origin;
    this.#verified = true;
    this.#addTarget(last, askedAt);
    this.#releaseWaiters();
  }

  /** A liveness probe, on the timer: only a verified store can be made fresh by one. */
  async #probe(): Promise<void> {
    if (this.#stopped) return;
    if (this.#caughtUp && !this.#staleReported && this.isStale()) {
      this.#staleReported = true;
      this.#logger.warn(
        { fresh_as_of: this.#freshAsOf, stale_after_ms: this.#options.staleAfterMs },
        'the store is not proven current with the state stream: decisions fail closed',
      );
    }
    const jsm = this.#jsm;
    if (jsm === undefined || !this.#verified || this.#probesInFlight >= this.#maxProbesInFlight) return;
    this.#probesInFlight++;
    try {
      await this.#ask(jsm);
    } catch (error) {
      this.#logger.debug({ err: error }, 'the state stream did not answer a liveness probe');
    } finally {
      this.#probesInFlight--;
    }
  }

  /**
   * One round trip to the stream: its origin and last sequence, checked
   * against the store. Returns the last sequence.
   */
  async #ask(jsm: JetStreamManager): Promise<number> {
    const generation = this.#generation;
    const askedAt = this.#clock();
    // Everything applied by now was stored before the stream answers: it can never exceed the answer.
    const appliedWhenAsked = this.#applied;
    let info: StreamInfo;
    try {
      info = await jsm.streams.info(STATE_STREAM);
    } catch (error) {
      if (isStreamNotFound(error) && generation === this.#generation) this.#streamGone();
      throw error;
    }
    const last = info.state.last_seq;
    // Verification changed while we asked: the next attach decides.
    if (generation !== this.#generation || !this.#verified) return last;
    if (!sameOrigin(originOf(info), this.#origin)) {
      this.#logger.warn({ stream: originOf(info), store: this.#origin }, 'the state stream was recreated');
      this.#distrust('stream_recreated');
    } else if (appliedWhenAsked > last) {
      this.#logger.warn(
        { applied_sequence: appliedWhenAsked, last_sequence: last },
        'the store is ahead of the stream',
      );
      this.#distrust('store_ahead');
    } else {
      this.#addTarget(last, askedAt);
    }
    return last;
  }

  /**
   * The store is no longer known to materialize the stream: decisions fail
   * closed now, nothing more is applied from the current consumer, and the
   * next attach checks the stream again (and rebuilds, when `reason` says so).
   */
  #distrust(reason: RebuildReason | undefined): void {
    if (reason !== undefined) {
      this.#rebuildReason ??= reason;
      this.#rebuilding ??= reason;
    }
    this.#verified = false;
    this.#generation++;
    this.#freshAsOf = undefined;
    this.#targets = [];
    this.#caughtUp = false;
    this.#detach();
  }

  /** Drops the current consumer: what it delivered and what it will deliver is not applied. */
  #detach(): void {
    this.#attachment++;
    this.#queue.length = 0;
    void this.#messages?.close();
  }

  #streamGone(): void {
    if (!this.#streamMissing) {
      this.#logger.error(
        { stream: STATE_STREAM },
        'the state stream does not exist; decisions fail closed until it does',
      );
    }
    this.#streamMissing = true;
    this.#distrust(undefined);
  }

  #addTarget(sequence: number, at: number): void {
    this.#streamLast = sequence;
    if (this.#applied >= sequence) {
      this.#markFresh(at);
      return;
    }
    // A target older than the staleness bound can no longer make the store fresh.
    const now = this.#clock();
    this.#targets = this.#targets.filter((t) => now - t.at <= this.#options.staleAfterMs);
    this.#targets.push({ sequence, at });
  }

  /** After applying: every target reached makes the store fresh as of when it was asked. */
  #reachTargets(): void {
    let reachedAt: number | undefined;
    this.#targets = this.#targets.filter((target) => {
      if (target.sequence > this.#applied) return true;
      reachedAt = Math.max(reachedAt ?? target.at, target.at);
      return false;
    });
    if (reachedAt !== undefined) this.#markFresh(reachedAt);
  }

  #markFresh(at: number): void {
    if (!this.#verified) return;
    if (this.#freshAsOf === undefined || at > this.#freshAsOf) this.#freshAsOf = at;
    if (this.#staleReported && !this.isStale()) {
      this.#staleReported = false;
      this.#logger.info({ applied_sequence: this.#applied }, 'the store is current with the state stream again');
    }
    if (this.#caughtUp) return;
    this.#caughtUp = true;
    this.#logger.info({ applied_sequence: this.#applied }, 'caught up with the state stream');
    this.#caughtUpSignal.resolve();
    if (this.#rebuilding !== undefined) {
      this.#logger.info({ reason: this.#rebuilding, applied_sequence: this.#applied }, 'the store is rebuilt');
      this.#rebuilding = undefined;
      for (const rebuilt of this.#rebuilt.splice(0)) rebuilt.resolve();
    }
    this.#releaseWaiters();
  }

  #receive(message: JsMsg): void {
    this.#queue.push(message);
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
          if (message.headers?.has(DELETE_MARKER_REASON) === true) {
            // The stream dropped an expired change and left this marker: the change's entity goes too.
            applyExpiry(store, message.subject);
          } else {
            const change = decodeChange(message.data);
            const expected = subjectOf(change);
            if (expected !== message.subject) {
              throw new ChangeRejectedError(
                'ERR_CHANGE_SUBJECT_MISMATCH',
                `a ${change.kind} change belongs on ${expected}`,
              );
            }
            events.push(...applyChange(store, change, message.seq));
          }
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
    this.#reachTargets();
    this.#releaseWaiters();
    for (const event of events) {
      for (const listener of this.#listeners) listener(event);
    }
  }

  #releaseWaiters(): void {
    if (this.#waiters.length === 0 || !this.#verified) return;
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

  #watchConnection(nc: NatsConnection): void {
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') this.#connected = false;
        else if (status.type === 'reconnect') this.#connected = true;
      }
    })();
  }

  async #watchConsumer(messages: ConsumerMessages, attachment: number): Promise<void> {
    for await (const notification of messages.status()) {
      if (attachment === this.#attachment) this.#onNotification(notification);
    }
  }

  #onNotification(notification: ConsumerNotification): void {
    switch (notification.type) {
      case 'stream_not_found':
        this.#streamGone();
        break;
      // The ordered consumer re-creates itself from where it was, and so
      // would silently continue on a stream recreated under the same name;
      // and nats.js keeps what the old one was still owed, so the new one
      // stalls for up to two missed heartbeats (30 s). Start over with a
      // consumer of our own instead, checking the stream first.
      case 'reset':
      case 'ordered_consumer_recreated':
      case 'consumer_deleted':
      case 'consumer_not_found':
        this.#logger.warn({ notification: notification.type }, 'state stream consumer lost; checking the stream again');
        this.#detach();
        break;
      default:
        break;
    }
  }
}

function originOf(info: StreamInfo): StreamOrigin {
  return { stream: info.config.name, created: info.created };
}

function sameOrigin(a: StreamOrigin, b: StreamOrigin | undefined): boolean {
  return a.stream === b?.stream && a.created === b.created;
}
