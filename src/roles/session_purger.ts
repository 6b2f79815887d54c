import { randomUUID } from 'node:crypto';
import { subjectOf } from '../changes/index.js';
import type { ChangeOf } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import { SequenceConflictError } from '../stream/index.js';
import type { ChangeReader, ChangeSink } from '../stream/index.js';

export interface SessionPurgerOptions {
  readonly tenants: readonly string[];
  readonly changes: ChangeSink;
  /** The stream itself (its leader): the purge each tenant's subject holds now. */
  readonly stream: Pick<ChangeReader, 'latest'>;
  /** How often every tenant's ended sessions are purged, in ms; 0: never. */
  readonly intervalMs: number;
  /** A session goes once it has been expired this long, in s (more than any clock skew). */
  readonly graceS: number;
  readonly logger: Logger;
  /** Unix s. */
  readonly clock?: () => number;
}

/**
 * Publishes each tenant's `sessions.purge` on a timer: every sidecar applies
 * it in stream order, so stores purge alike and no sidecar forgets by its own
 * clock. The stream keeps one purge per tenant, and a store replaying it
 * applies only that one, so its cutoff must be the highest ever applied: a
 * purge is published only above the cutoff the stream holds, and only if the
 * subject still holds it when stored. Two gateways with clocks apart, or
 * replicas behind, cannot lower it.
 */
export class SessionPurger {
  readonly #options: SessionPurgerOptions;
  readonly #clock: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(options: SessionPurgerOptions) {
    if (!Number.isSafeInteger(options.intervalMs) || options.intervalMs < 0) {
      throw new TypeError('intervalMs must be a non-negative integer');
    }
    if (!Number.isSafeInteger(options.graceS) || options.graceS < 0) {
      throw new TypeError('graceS must be a non-negative integer');
    }
    this.#options = options;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  start(): void {
    if (this.#options.intervalMs === 0 || this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.#running ??= this.purge()
        .catch((error: unknown) => {
          this.#options.logger.error({ err: error }, 'could not publish the session purge');
        })
        .finally(() => {
          this.#running = undefined;
        });
    }, this.#options.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Publishes one purge per tenant whose cutoff moved; resolves once each is stored (or another gateway's was). */
  async purge(): Promise<void> {
    const expiredBefore = this.#clock() - this.#options.graceS;
    for (const tenant of this.#options.tenants) {
      const purge: ChangeOf<'sessions.purge'> = {
        v: 1,
        id: randomUUID(),
        tenant,
        at: Date.now(),
        kind: 'sessions.purge',
        data: { expired_before: expiredBefore },
      };
      const stored = await this.#options.stream.latest(subjectOf(purge));
      const last = stored?.change.kind === 'sessions.purge' ? stored.change.data.expired_before : 0;
      if (expiredBefore <= last) continue;
      try {
        await this.#options.changes.publish(purge, { expectedLastSubjectSequence: stored?.sequence ?? 0 });
      } catch (error) {
        // Another gateway purged this tenant meanwhile: the next round reads its cutoff.
        if (!(error instanceof SequenceConflictError)) throw error;
        this.#options.logger.debug({ tenant }, 'another gateway published the session purge first');
      }
    }
  }
}
