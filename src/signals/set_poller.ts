import type { TransmitterSettings } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { SetAlreadyAcceptedError, SetRefusedError } from './errors.js';
import type { PollLease } from './poll_lease.js';
import type { SignalReceiver } from './signal_receiver.js';

type PollSettings = NonNullable<TransmitterSettings['poll']>;

export interface SetPollerOptions {
  readonly tenantId: string;
  readonly transmitter: TransmitterSettings & { readonly poll: PollSettings };
  readonly receiver: Pick<SignalReceiver, 'receive'>;
  readonly logger: Logger;
  /** First pause after a failed poll, doubled up to `maxBackoffMs`, in ms. @defaultValue 1000 */
  readonly initialBackoffMs?: number;
  /** @defaultValue 60000 */
  readonly maxBackoffMs?: number;
  /** How long the transmitter may hold a long poll, in ms. @defaultValue 30000 */
  readonly requestTimeoutMs?: number;
  /** With several gateway replicas: only the holder polls. Without: this replica always polls. */
  readonly lease?: PollLease;
}

export interface PollerStatus {
  readonly tenant: string;
  readonly issuer: string;
  /** Consecutive failed polls (0 when the last one succeeded). */
  readonly failures: number;
  /** Whether this replica holds the poll lease (always true without a lease). */
  readonly polling: boolean;
  /** Unix ms of the last successful poll, 0 before the first. */
  readonly lastSuccessAt: number;
  readonly accepted: number;
  readonly refused: number;
}

/** An RFC 8936 poll response. */
interface PollResponse {
  readonly sets: Readonly<Record<string, string>>;
  readonly moreAvailable: boolean;
}

/**
 * RFC 8936 poll delivery for one transmitter: long-polls its endpoint,
 * hands each SET to the receiver, and acknowledges it on the next request
 * (`ack` when stored, `setErrs` with the RFC 8935 code when refused). A SET
 * that could not be stored now is neither, so the transmitter delivers it
 * again. Failed polls back off exponentially; nothing pending is forgotten.
 */
export class SetPoller {
  readonly #tenantId: string;
  readonly #options: SetPollerOptions;
  readonly #transmitter: SetPollerOptions['transmitter'];
  readonly #receiver: SetPollerOptions['receiver'];
  readonly #logger: Logger;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #requestTimeoutMs: number;
  #ack: string[] = [];
  #setErrs: Record<string, { err: string; description: string }> = {};
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #failures = 0;
  #lastSuccessAt = 0;
  #accepted = 0;
  #refused = 0;
  #polling = false;

  constructor(options: SetPollerOptions) {
    this.#options = options;
    this.#tenantId = options.tenantId;
    this.#transmitter = options.transmitter;
    this.#receiver = options.receiver;
    this.#logger = options.logger.child({ tenant: options.tenantId, iss: options.transmitter.issuer });
    this.#initialBackoffMs = options.initialBackoffMs ?? 1_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops polling; acknowledgements not yet sent are sent with a final `maxEvents: 0` request. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    if (this.#ack.length > 0 || Object.keys(this.#setErrs).length > 0) {
      await this.#request(0, true, AbortSignal.timeout(2_000)).catch((error: unknown) => {
        this.#logger.warn({ err: error }, 'final SET acknowledgement not delivered; the transmitter will resend');
      });
    }
    // After the last acknowledgement: the next holder must not be offered what we stored.
    await this.#options.lease?.release();
    this.#polling = false;
  }

  status(): PollerStatus {
    return {
      tenant: this.#tenantId,
      issuer: this.#transmitter.issuer,
      failures: this.#failures,
      polling: this.#polling,
      lastSuccessAt: this.#lastSuccessAt,
      accepted: this.#accepted,
      refused: this.#refused,
    };
  }

  /**
   * One poll: acknowledges what earlier polls received, then receives what
   * this one returns. Resolves with whether the transmitter has more.
   */
  async pollOnce(signal?: AbortSignal): Promise<{ readonly received: number; readonly moreAvailable: boolean }> {
    const timeout = AbortSignal.timeout(this.#requestTimeoutMs + 5_000);
    const response = await this.#request(
      this.#transmitter.poll.maxEvents,
      false,
      signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
    );
    for (const [jti, compact] of Object.entries(response.sets)) await this.#receive(jti, compact);
    return { received: Object.keys(response.sets).length, moreAvailable: response.moreAvailable };
  }

  async #run(): Promise<void> {
    const signal = this.#stop.signal;
    let backoffMs = this.#initialBackoffMs;
    const lease = this.#options.lease;
    while (!signal.aborted) {
      // Another replica holds the lease: stand by, and take over when it stops renewing.
      this.#polling = lease === undefined || (await lease.hold());
      if (!this.#polling) {
        await pause(this.#transmitter.poll.intervalMs, signal);
        continue;
      }
      const started = Date.now();
      try {
        const { received, moreAvailable } = await this.pollOnce(signal);
        this.#failures = 0;
        this.#lastSuccessAt = Date.now();
        backoffMs = this.#initialBackoffMs;
        // A transmitter that answers an empty long poll at once is not holding it: pace the loop ourselves.
        const elapsed = Date.now() - started;
        if (received === 0 && !moreAvailable && elapsed < this.#transmitter.poll.intervalMs) {
          await pause(this.#transmitter.poll.intervalMs - elapsed, signal);
        }
      } catch (error) {
        // Narrowing says "never aborted here"; the abort happens while awaiting.
        if (this.#stop.signal.aborted) break;
        this.#failures++;
        this.#logger.warn({ err: error, retry_ms: backoffMs, failures: this.#failures }, 'SET poll failed');
        await pause(backoffMs * (0.8 + Math.random() * 0.4), signal);
        backoffMs = Math.min(backoffMs * 2, this.#maxBackoffMs);
      }
    }
  }

  async #request(maxEvents: number, returnImmediately: boolean, signal: AbortSignal): Promise<PollResponse> {
    const ack = this.#ack;
    const setErrs = this.#setErrs;
    const response = await fetch(this.#transmitter.poll.endpointUrl, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(this.#transmitter.poll.bearerToken === undefined
          ? {}
          : { authorization: `Bearer ${this.#transmitter.poll.bearerToken}` }),
      },
      body: JSON.stringify({ maxEvents, returnImmediately, ack, setErrs }),
      signal,
      redirect: 'error',
    });
    if (!response.ok) {
      throw new Error(`the poll endpoint answered HTTP ${response.status}`);
    }
    const body = parsePollResponse(await response.json());
    // Delivered: forget them (an ack repeated after a lost response is harmless, so keep them until here).
    this.#ack = this.#ack.filter((jti) => !ack.includes(jti));
    for (const jti of Object.keys(setErrs)) Reflect.deleteProperty(this.#setErrs, jti);
    return body;
  }

  async #receive(jti: string, compact: string): Promise<void> {
    try {
      await this.#receiver.receive(this.#tenantId, compact, { method: 'poll', issuer: this.#transmitter.issuer });
      this.#ack.push(jti);
      this.#accepted++;
    } catch (error) {
      if (error instanceof SetAlreadyAcceptedError) {
        // Redelivered after an ack that did not arrive (or polled by another replica): its effects are stored.
        this.#ack.push(jti);
      } else if (error instanceof SetRefusedError) {
        this.#setErrs[jti] = { err: error.err, description: error.message };
        this.#refused++;
      } else {
        // Not stored and not the SET's fault: leave it unacknowledged so it comes again.
        this.#logger.error({ err: error, jti }, 'polled SET not stored; the transmitter will deliver it again');
      }
    }
  }
}

function parsePollResponse(value: unknown): PollResponse {
  if (typeof value !== 'object' || value === null) throw new Error('the poll response is not a JSON object');
  const { sets, moreAvailable } = value as Record<string, unknown>;
  if (sets !== undefined && (typeof sets !== 'object' || sets === null || Array.isArray(sets))) {
    throw new Error('the poll response "sets" is not an object');
  }
  const entries = Object.entries((sets ?? {}) as Record<string, unknown>);
  if (entries.some(([, v]) => typeof v !== 'string')) throw new Error('a poll response SET is not a string');
  return { sets: Object.fromEntries(entries) as Record<string, string>, moreAvailable: moreAvailable === true };
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
