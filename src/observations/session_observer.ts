import type { JetStreamClient } from '@nats-io/jetstream';
import { CLEAR_DATA } from '../changes/index.js';
import type { DataSealer, SealerOf } from '../changes/index.js';
import type { PresentedSession } from '../check/index.js';
import type { Logger } from '../logging/index.js';
import { publishDurably } from '../stream/index.js';
import { observationId, observationOf, observationSubject, sealObservation } from './session_observation.js';

/**
 * The sidecar's side of IPSIE SL3: when a Check presents a live session from
 * another IP or device than it was established on, publish one observation.
 * Never in the Check's way: publishing is asynchronous, and each change is
 * published once per sidecar (and deduplicated across sidecars by id).
 */
export class SessionObserver {
  readonly #jetstream: () => Promise<JetStreamClient>;
  readonly #logger: Logger;
  readonly #reported = new Map<string, string>();
  readonly #capacity: number;
  readonly #pending = new Set<Promise<void>>();
  readonly #sealerOf: SealerOf;

  /**
   * @param jetstream the client to publish with (the connection may open at the first observation)
   * @param options.sealerOf a tenant's customer-managed key: its observations' addresses are sealed
   */
  constructor(
    jetstream: () => Promise<JetStreamClient>,
    logger: Logger,
    options: { capacity?: number; sealerOf?: SealerOf } = {},
  ) {
    this.#jetstream = jetstream;
    this.#logger = logger;
    this.#capacity = options.capacity ?? 100_000;
    this.#sealerOf = options.sealerOf ?? CLEAR_DATA;
  }

  presented(presented: PresentedSession): void {
    const { session, context } = presented;
    const ipChanged = context.ip !== undefined && session.ip !== undefined && context.ip !== session.ip;
    const deviceChanged =
      context.deviceId !== undefined && session.deviceId !== undefined && context.deviceId !== session.deviceId;
    if (!ipChanged && !deviceChanged) return;
    const key = `${session.tenantId}\0${session.id}`;
    const where = `${context.ip ?? ''}\0${context.deviceId ?? ''}`;
    if (this.#reported.get(key) === where) return;
    let sealer: DataSealer | undefined;
    try {
      sealer = this.#sealerOf(session.tenantId);
    } catch {
      return; // its key cannot be used: nothing of the tenant is sent (and its Checks fail anyway)
    }
    this.#remember(key, where);
    const seen = observationOf(presented, Date.now());
    const observation = sealObservation(seen, sealer);
    const publishing = this.#jetstream()
      .then(async (js) => {
        await publishDurably(
          js,
          observationSubject(session.tenantId),
          new TextEncoder().encode(JSON.stringify(observation)),
          { msgId: observationId(seen, sealer), retryForMs: 30_000 },
        );
      })
      .catch((error: unknown) => {
        // Forget it, so the next Check from there tries again.
        this.#reported.delete(key);
        this.#logger.warn(
          { err: error, tenant: session.tenantId, session_id: session.id },
          'session change not published',
        );
      })
      .finally(() => this.#pending.delete(publishing));
    this.#pending.add(publishing);
  }

  /** Waits for observations being published (at shutdown). */
  async flush(): Promise<void> {
    await Promise.all(this.#pending);
  }

  #remember(key: string, where: string): void {
    this.#reported.delete(key);
    this.#reported.set(key, where);
    if (this.#reported.size > this.#capacity) {
      const oldest = this.#reported.keys().next().value;
      if (oldest !== undefined) this.#reported.delete(oldest);
    }
  }
}
