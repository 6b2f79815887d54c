import type { JetStreamClient } from '@nats-io/jetstream';
import type { PresentedSession } from '../check/index.js';
import type { Logger } from '../logging/index.js';
import { publishDurably } from '../stream/index.js';
import { observationId, observationSubject } from './session_observation.js';
import type { SessionObservation } from './session_observation.js';

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

  /** @param jetstream the client to publish with (the connection may open at the first observation) */
  constructor(jetstream: () => Promise<JetStreamClient>, logger: Logger, options: { capacity?: number } = {}) {
    this.#jetstream = jetstream;
    this.#logger = logger;
    this.#capacity = options.capacity ?? 100_000;
  }

  presented(s: PresentedSession): void {
    const ipChanged = s.ip !== undefined && s.establishedIp !== undefined && s.ip !== s.establishedIp;
    const deviceChanged =
      s.deviceId !== undefined && s.establishedDeviceId !== undefined && s.deviceId !== s.establishedDeviceId;
    if (!ipChanged && !deviceChanged) return;
    const key = `${s.tenantId}\0${s.sessionId}`;
    const where = `${s.ip ?? ''}\0${s.deviceId ?? ''}`;
    if (this.#reported.get(key) === where) return;
    this.#remember(key, where);
    const observation: SessionObservation = {
      v: 1,
      tenant: s.tenantId,
      session_id: s.sessionId,
      user_id: s.userId,
      issuer: s.issuer,
      idp_session_id: s.idpSessionId ?? null,
      ip: s.ip ?? null,
      previous_ip: s.establishedIp ?? null,
      device_id: s.deviceId ?? null,
      previous_device_id: s.establishedDeviceId ?? null,
      user_agent: s.userAgent ?? null,
      at: Date.now(),
    };
    const publishing = this.#jetstream()
      .then(async (js) => {
        await publishDurably(
          js,
          observationSubject(s.tenantId),
          new TextEncoder().encode(JSON.stringify(observation)),
          { msgId: observationId(observation), retryForMs: 30_000 },
        );
      })
      .catch((error: unknown) => {
        // Forget it, so the next Check from there tries again.
        this.#reported.delete(key);
        this.#logger.warn({ err: error, tenant: s.tenantId, session_id: s.sessionId }, 'session change not published');
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
