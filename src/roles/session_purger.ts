import { randomUUID } from 'node:crypto';
import type { Logger } from '../logging/index.js';
import type { DirectoryReader } from '../store/index.js';
import type { ChangeSink } from '../stream/index.js';

export interface SessionPurgerOptions {
  readonly tenants: readonly string[];
  readonly changes: ChangeSink;
  /** The gateway's replica: the cutoff of each tenant's last purge. */
  readonly directory: Pick<DirectoryReader, 'sessionsPurgedBefore'>;
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
 * clock. Cutoffs only ever rise (above the replica's last and this gateway's
 * last): with one purge kept per tenant, a replay applies the highest one, as
 * a sidecar that saw every purge did.
 */
export class SessionPurger {
  readonly #options: SessionPurgerOptions;
  readonly #clock: () => number;
  readonly #published = new Map<string, number>();
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

  /** Publishes one purge per tenant whose cutoff moved; resolves once each is stored. */
  async purge(): Promise<void> {
    const expiredBefore = this.#clock() - this.#options.graceS;
    for (const tenant of this.#options.tenants) {
      const last = Math.max(
        this.#options.directory.sessionsPurgedBefore(tenant) ?? 0,
        this.#published.get(tenant) ?? 0,
      );
      if (expiredBefore <= last) continue;
      await this.#options.changes.publish({
        v: 1,
        id: randomUUID(),
        tenant,
        at: Date.now(),
        kind: 'sessions.purge',
        data: { expired_before: expiredBefore },
      });
      this.#published.set(tenant, expiredBefore);
    }
  }
}
