import { createHash, randomUUID } from 'node:crypto';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { AuditRecord } from '../audit/index.js';
import type { ReceiverSettings } from '../config/index.js';
import { isSidecarError } from '../errors.js';
import type { Logger } from '../logging/index.js';
import { CLEAR_DATA } from '../changes/index.js';
import type { SealerOf } from '../changes/index.js';
import { observationId, OBSERVATIONS_STREAM, openObservation, parseObservation } from '../observations/index.js';
import type { SessionObservation } from '../observations/index.js';
import type { DirectoryReader } from '../store/index.js';
import type { NatsConnection } from '../stream/index.js';
import type { OfferedStreams, OfferedStreamStatus } from './offered_streams.js';
import { pushSet, signSet } from './set_delivery.js';
import type { PushOutcome, PushTarget } from './set_delivery.js';
import type { SigningKeyRing } from './signing_keys.js';
import { deliveredEvents, supportedEvents } from './stream_management.js';
import { keyedSubject, subjectsMatch } from './subject_match.js';
import { securityEventUri } from '../security_event_types.js';

export const TRANSMITTER_CONSUMER = 'ipsie-transmitter';

export interface SessionChangeTransmitterOptions {
  readonly nc: NatsConnection;
  /** Tenant id -> the SSF receiver it reports to. */
  readonly receivers: ReadonlyMap<string, ReceiverSettings>;
  readonly keys: SigningKeyRing;
  /** Our issuer (the public URL). */
  readonly issuer: () => string;
  readonly directory: Pick<DirectoryReader, 'bindingsOfUser' | 'user'>;
  readonly archive: { append(record: AuditRecord): Promise<number> };
  readonly logger: Logger;
  /** Streams receivers created with us (stream management); they take the place of a configured endpoint. */
  readonly streams?: OfferedStreams;
  /** Longest pause before a retry, in ms. @defaultValue 300000 */
  readonly maxRetryDelayMs?: number;
  /** @defaultValue 10000 */
  readonly requestTimeoutMs?: number;
  /**
   * A tenant's customer-managed key: opens its observations, and seals the SET archived on its audit trail
   * (it names the user and the address). @defaultValue no tenant seals
   */
  readonly sealerOf?: SealerOf;
}

type Outcome = PushOutcome | { readonly kind: 'skipped'; readonly reason: string };

/** Where and whether a tenant's session changes are sent now. */
interface Route {
  readonly target: PushTarget;
  readonly status: OfferedStreamStatus;
  /** The event types the stream delivers. */
  readonly events: readonly string[];
  /** Subjects the receiver removed from the stream. */
  readonly removed: readonly Readonly<Record<string, unknown>>[];
  /** The receiver-created stream's id; undefined for an endpoint configured here. */
  readonly streamId: string | undefined;
}

/** When a paused stream's held event is first looked at again, in ms (then doubling, up to a minute). */
const PAUSED_RECHECK_MS = 2_000;

/**
 * IPSIE SL3, the gateway's side: takes session observations off
 * `IPSIE_OBSERVATIONS` (one durable work-queue consumer shared by all
 * gateway replicas), signs a CAEP session-presented (or -established) SET
 * and pushes it to the tenant's receiver (RFC 8935). A receiver that is
 * down gets the same SET (same `jti`) again later; one that refuses it
 * (4xx) does not. Every final outcome is archived as `set.transmitted`.
 */
export class SessionChangeTransmitter {
  readonly #options: SessionChangeTransmitterOptions;
  readonly #logger: Logger;
  readonly #maxDelayMs: number;
  #stopped = false;
  #loop: Promise<void> | undefined;
  #stopConsuming: (() => void) | undefined;

  constructor(options: SessionChangeTransmitterOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#maxDelayMs = options.maxRetryDelayMs ?? 300_000;
  }

  async start(): Promise<void> {
    const jsm = await jetstreamManager(this.#options.nc);
    await jsm.consumers.add(OBSERVATIONS_STREAM, {
      durable_name: TRANSMITTER_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(60_000),
      max_deliver: -1,
    });
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopConsuming?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const consumer = await jetstream(this.#options.nc).consumers.get(OBSERVATIONS_STREAM, TRANSMITTER_CONSUMER);
        const messages = await consumer.consume({ max_messages: 16 });
        this.#stopConsuming = () => {
          void messages.close();
        };
        for await (const message of messages) await this.#handleOrSettle(message);
      } catch (error) {
        this.#logger.warn({ err: error }, 'session change consumer stopped; restarting');
      }
      if (this.#isStopped()) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  /** Read anew each time: `stop` sets it while the loop awaits. */
  #isStopped(): boolean {
    return this.#stopped;
  }

  /**
   * One observation, settled even when its tenant cannot be read: a revoked key drops it (nothing of the
   * tenant may be sent), a key not loaded yet retries it later; neither holds up the other tenants' events.
   */
  async #handleOrSettle(message: JsMsg): Promise<void> {
    try {
      await this.#handle(message);
    } catch (error) {
      if (!isSidecarError(error) || (error.kind !== 'permission_denied' && error.kind !== 'unavailable')) throw error;
      this.#logger.warn({ err: error, seq: message.seq }, 'session change of a tenant whose key cannot be used');
      if (error.kind === 'permission_denied') message.term();
      else message.nak(60_000);
    }
  }

  async #handle(message: JsMsg): Promise<void> {
    const parsed = parseObservation(message.data);
    if (parsed === undefined) {
      this.#logger.error({ seq: message.seq }, 'not a session observation; dropped');
      message.term();
      return;
    }
    // Throws when the tenant's key cannot open it: settled by #handleOrSettle.
    const observation = openObservation(parsed, this.#options.sealerOf ?? CLEAR_DATA);
    const { tenant } = observation;
    const receiver = this.#options.receivers.get(tenant);
    if (receiver === undefined) {
      message.ack();
      return;
    }
    let route: Route | undefined;
    try {
      route = await this.#route(tenant, receiver);
    } catch (error) {
      this.#logger.warn({ err: error, tenant }, 'the SSF stream could not be read; will retry');
      message.nak(5_000);
      return;
    }
    if (route === undefined) {
      // The receiver manages its stream and has created none: nobody listens.
      message.ack();
      return;
    }
    const attempt = message.info.deliveryCount;
    if (route.status === 'paused') {
      // SSF §8.1.2: a paused stream's events are held (as long as IPSIE_OBSERVATIONS keeps them, a day),
      // looked at again less and less often.
      message.nak(Math.min(PAUSED_RECHECK_MS * 2 ** Math.min(attempt - 1, 5), 60_000));
      return;
    }
    const subId = this.#subject(observation);
    const eventType = securityEventUri(receiver.sessionChangeEvent);
    const skipped =
      route.status === 'disabled'
        ? 'the stream is disabled'
        : !route.events.includes(eventType)
          ? 'the stream does not request this event'
          : route.removed.some((r) => subjectsMatch(r, keyedSubject(subId, this.#options.sealerOf?.(tenant))))
            ? 'the receiver removed this subject from the stream'
            : undefined;
    let set: string | undefined;
    let outcome: Outcome;
    if (skipped === undefined) {
      set = await this.#sign(observation, receiver, subId);
      outcome = await pushSet(set, route.target, this.#options.requestTimeoutMs ?? 10_000);
    } else {
      outcome = { kind: 'skipped', reason: skipped };
    }
    if (outcome.kind === 'retry') {
      const delayMs = Math.min(1_000 * 2 ** Math.min(attempt - 1, 16), this.#maxDelayMs);
      this.#logger.warn(
        { tenant, reason: outcome.reason, attempt, retry_ms: delayMs },
        'session change not delivered; will retry',
      );
      message.nak(delayMs);
      return;
    }
    await this.#options.archive
      .append({
        v: 1,
        id: randomUUID(),
        tenant,
        kind: 'set.transmitted',
        at: Date.now(),
        data: {
          aud: receiver.audience,
          endpoint: route.target.endpointUrl,
          jti: observationId(observation),
          event_type: eventType,
          session_id: observation.session_id,
          ...(route.streamId === undefined ? {} : { stream_id: route.streamId }),
          ...(outcome.kind === 'skipped' ? { status: null, skipped: outcome.reason } : { status: outcome.status }),
          ...(outcome.kind === 'refused' ? { err: outcome.err ?? null, description: outcome.description } : {}),
          attempt,
          ...this.#archived(tenant, observation, set),
        },
      })
      .catch((error: unknown) => {
        this.#logger.error({ err: error, tenant }, 'could not archive a transmitted SET');
      });
    if (outcome.kind === 'refused') {
      this.#logger.error(
        { tenant, status: outcome.status, err: outcome.err, description: outcome.description },
        'the SSF receiver refused our SET',
      );
    } else if (outcome.kind === 'skipped') {
      this.#logger.info(
        { tenant, session_id: observation.session_id, reason: outcome.reason },
        'session change not sent',
      );
    } else {
      this.#logger.info({ tenant, session_id: observation.session_id }, 'session change transmitted');
    }
    message.ack();
  }

  /**
   * Where the tenant's session changes go now: the stream its receiver
   * created with us, else the endpoint configured for it; undefined when
   * neither exists.
   */
  async #route(tenant: string, receiver: ReceiverSettings): Promise<Route | undefined> {
    const stored = await this.#options.streams?.get(tenant);
    if (stored !== undefined) {
      const { stream } = stored;
      return {
        target: { endpointUrl: stream.delivery.endpoint_url, authorization: stream.delivery.authorization_header },
        status: stream.status,
        events: deliveredEvents(receiver, stream),
        removed: stream.removed_subjects,
        streamId: stream.stream_id,
      };
    }
    if (receiver.endpointUrl === undefined) return undefined;
    return {
      target: {
        endpointUrl: receiver.endpointUrl,
        authorization: receiver.bearerToken === undefined ? undefined : `Bearer ${receiver.bearerToken}`,
      },
      status: 'enabled',
      events: supportedEvents(receiver),
      removed: [],
      streamId: undefined,
    };
  }

  /** The SET as the audit trail keeps it: sealed for a tenant with a customer-managed key. */
  #archived(tenant: string, o: SessionObservation, set: string | undefined): Record<string, string> {
    if (set === undefined) return {};
    const sealer = this.#options.sealerOf?.(tenant);
    return sealer === undefined
      ? { set }
      : { set_sealed: sealer.seal(set, `set:${tenant}:${o.session_id}:${String(o.at)}`) };
  }

  /** The SET: same `jti` and `txn` on every attempt, so a receiver that got it before can tell. */
  async #sign(o: SessionObservation, receiver: ReceiverSettings, subId: Record<string, unknown>): Promise<string> {
    const event: Record<string, unknown> = { event_timestamp: Math.floor(o.at / 1000), ext_id: o.session_id };
    if (o.user_agent !== null) event['fp_ua'] = createHash('sha256').update(o.user_agent).digest('base64url');
    if (o.ip !== null) event['ips'] = [o.ip];
    const id = observationId(o);
    return await signSet(this.#options.keys.signing, {
      issuer: this.#options.issuer(),
      audience: receiver.audience,
      jti: id,
      // SSF §4.1.9: unique to the change that caused it (not the session, which changes again).
      txn: id,
      subId,
      events: { [securityEventUri(receiver.sessionChangeEvent)]: event },
    });
  }

  /** How the IdP knows the user (its own `iss`/`sub`) and the session (its `sid`). */
  #subject(o: SessionObservation): Record<string, unknown> {
    const binding = this.#options.directory.bindingsOfUser(o.tenant, o.user_id).find((b) => b.issuer === o.issuer);
    const userName = this.#options.directory.user(o.tenant, o.user_id)?.userName;
    const user =
      binding !== undefined
        ? { format: 'iss_sub', iss: binding.issuer, sub: binding.subject }
        : userName?.includes('@') === true
          ? { format: 'email', email: userName }
          : { format: 'opaque', id: o.user_id };
    return {
      format: 'complex',
      user,
      ...(o.idp_session_id === null ? {} : { session: { format: 'opaque', id: o.idp_session_id } }),
    };
  }
}
