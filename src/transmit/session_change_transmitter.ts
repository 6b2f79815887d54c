import { createHash, randomUUID } from 'node:crypto';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JsMsg } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { SignJWT } from 'jose';
import type { AuditRecord } from '../audit/index.js';
import type { ReceiverSettings } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { observationId, OBSERVATIONS_STREAM, parseObservation } from '../observations/index.js';
import type { SessionObservation } from '../observations/index.js';
import type { DirectoryReader } from '../store/index.js';
import type { NatsConnection } from '../stream/index.js';
import type { SigningKeyRing } from './signing_keys.js';

const CAEP_EVENT = 'https://schemas.openid.net/secevent/caep/event-type/';
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
  /** Longest pause before a retry, in ms. @defaultValue 300000 */
  readonly maxRetryDelayMs?: number;
  /** @defaultValue 10000 */
  readonly requestTimeoutMs?: number;
}

type Outcome =
  | { readonly kind: 'delivered'; readonly status: number }
  | {
      readonly kind: 'refused';
      readonly status: number;
      readonly err: string | undefined;
      readonly description: string;
    }
  | { readonly kind: 'retry'; readonly reason: string };

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
        for await (const message of messages) await this.#handle(message);
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

  async #handle(message: JsMsg): Promise<void> {
    const observation = parseObservation(message.data);
    if (observation === undefined) {
      this.#logger.error({ seq: message.seq }, 'not a session observation; dropped');
      message.term();
      return;
    }
    const receiver = this.#options.receivers.get(observation.tenant);
    if (receiver === undefined) {
      message.ack();
      return;
    }
    const attempt = message.info.deliveryCount;
    const set = await this.#sign(observation, receiver);
    const outcome = await this.#push(set, receiver);
    if (outcome.kind === 'retry') {
      const delayMs = Math.min(1_000 * 2 ** Math.min(attempt - 1, 16), this.#maxDelayMs);
      this.#logger.warn(
        { tenant: observation.tenant, reason: outcome.reason, attempt, retry_ms: delayMs },
        'session change not delivered; will retry',
      );
      message.nak(delayMs);
      return;
    }
    await this.#options.archive
      .append({
        v: 1,
        id: randomUUID(),
        tenant: observation.tenant,
        kind: 'set.transmitted',
        at: Date.now(),
        data: {
          aud: receiver.audience,
          endpoint: receiver.endpointUrl,
          jti: observationId(observation),
          event_type: CAEP_EVENT + receiver.sessionChangeEvent,
          session_id: observation.session_id,
          status: outcome.status,
          ...(outcome.kind === 'refused' ? { err: outcome.err ?? null, description: outcome.description } : {}),
          attempt,
          set,
        },
      })
      .catch((error: unknown) => {
        this.#logger.error({ err: error, tenant: observation.tenant }, 'could not archive a transmitted SET');
      });
    if (outcome.kind === 'refused') {
      this.#logger.error(
        { tenant: observation.tenant, status: outcome.status, err: outcome.err, description: outcome.description },
        'the SSF receiver refused our SET',
      );
    } else {
      this.#logger.info(
        { tenant: observation.tenant, session_id: observation.session_id },
        'session change transmitted',
      );
    }
    message.ack();
  }

  /** The SET: same `jti` on every attempt, so a receiver that got it before can tell. */
  async #sign(o: SessionObservation, receiver: ReceiverSettings): Promise<string> {
    const key = this.#options.keys.signing;
    const event: Record<string, unknown> = { event_timestamp: Math.floor(o.at / 1000), ext_id: o.session_id };
    if (o.user_agent !== null) event['fp_ua'] = createHash('sha256').update(o.user_agent).digest('base64url');
    if (o.ip !== null) event['ips'] = [o.ip];
    return await new SignJWT({
      sub_id: this.#subject(o),
      events: { [CAEP_EVENT + receiver.sessionChangeEvent]: event },
      // SSF §4.1.9: unique to the change that caused it (not the session, which changes again), same on retries.
      txn: observationId(o),
    })
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'secevent+jwt' })
      .setIssuer(this.#options.issuer())
      .setAudience(receiver.audience)
      .setIssuedAt()
      .setJti(observationId(o))
      .sign(key.key);
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

  async #push(set: string, receiver: ReceiverSettings): Promise<Outcome> {
    let response: Response;
    try {
      response = await fetch(receiver.endpointUrl, {
        method: 'POST',
        headers: {
          'content-type': 'application/secevent+jwt',
          accept: 'application/json',
          ...(receiver.bearerToken === undefined ? {} : { authorization: `Bearer ${receiver.bearerToken}` }),
        },
        body: set,
        signal: AbortSignal.timeout(this.#options.requestTimeoutMs ?? 10_000),
        redirect: 'error',
      });
    } catch (error) {
      return { kind: 'retry', reason: error instanceof Error ? error.message : String(error) };
    }
    const text = await response.text().catch(() => '');
    if (response.ok) return { kind: 'delivered', status: response.status };
    if (response.status === 429 || response.status >= 500) {
      return { kind: 'retry', reason: `HTTP ${response.status}` };
    }
    let err: string | undefined;
    let description = text.slice(0, 500);
    try {
      const body = JSON.parse(text) as { err?: unknown; description?: unknown };
      if (typeof body.err === 'string') err = body.err;
      if (typeof body.description === 'string') description = body.description;
    } catch {
      // Not the RFC 8935 error body: keep the text.
    }
    return { kind: 'refused', status: response.status, err, description };
  }
}
