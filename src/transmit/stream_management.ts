import { randomUUID } from 'node:crypto';
import type { AuditRecord } from '../audit/index.js';
import type { SealerOf } from '../changes/index.js';
import type { ReceiverSettings } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { bearerToken, TokenDigests } from '../bearer_token.js';
import {
  StreamExistsError,
  StreamNotFoundError,
  StreamReceiverUnauthorizedError,
  StreamRequestInvalidError,
  VerificationTooFrequentError,
} from './errors.js';
import type { OfferedStream, OfferedStreams, OfferedStreamStatus, StoredStream } from './offered_streams.js';
import { pushSet, signSet } from './set_delivery.js';
import { keyedSubject } from './subject_match.js';
import type { PushOutcome, PushTarget } from './set_delivery.js';
import type { SigningKeyRing } from './signing_keys.js';
import { securityEventUri } from '../security_event_types.js';

export const PUSH_DELIVERY = 'urn:ietf:rfc:8935';
export const VERIFICATION_EVENT = securityEventUri('verification');
const STATUSES: readonly OfferedStreamStatus[] = ['enabled', 'paused', 'disabled'];
/** Subjects a receiver may remove from its stream: each is compared with every SET's subject. */
export const MAX_REMOVED_SUBJECTS = 1_000;
const MAX_EVENTS_REQUESTED = 64;
const MAX_TEXT = 1_024;

/** A stream's configuration as SSF §8.1.1 shows it to the receiver (the authorization header is never shown). */
export interface StreamConfigurationView {
  readonly stream_id: string;
  readonly iss: string;
  readonly aud: string;
  readonly events_supported: readonly string[];
  readonly events_requested: readonly string[];
  readonly events_delivered: readonly string[];
  readonly delivery: { readonly method: string; readonly endpoint_url: string };
  readonly min_verification_interval: number;
  readonly description?: string;
}

export interface StreamStatusView {
  readonly stream_id: string;
  readonly status: OfferedStreamStatus;
  readonly reason?: string;
}

export interface StreamManagementOptions {
  /** Tenant id -> the receiver it reports to; those with `management` may manage their stream. */
  readonly receivers: ReadonlyMap<string, ReceiverSettings>;
  readonly streams: OfferedStreams;
  readonly keys: SigningKeyRing;
  /** Our issuer (the public URL). */
  readonly issuer: () => string;
  readonly archive: { append(record: AuditRecord): Promise<number> };
  readonly logger: Logger;
  /** Least time between two verification requests of one stream, in s. @defaultValue 30 */
  readonly minVerificationIntervalS?: number;
  /** @defaultValue 10000 */
  readonly requestTimeoutMs?: number;
  /** Unix ms. */
  readonly clock?: () => number;
  /** A tenant's customer-managed key: the subjects its receiver removes are kept as keyed hashes. */
  readonly sealerOf?: SealerOf;
}

/**
 * SSF stream management (§8) offered to each tenant's receiver, whose
 * bearer token names the tenant: one stream per tenant, pushed to (RFC
 * 8935) at an origin the tenant's configuration allows; its status, the
 * subjects it removed (every subject is in the stream unless removed) and
 * verification events on request.
 */
export class StreamManagement {
  readonly #options: StreamManagementOptions;
  readonly #tokens: readonly { readonly tenant: string; readonly digests: TokenDigests }[];
  readonly #minIntervalS: number;
  readonly #clock: () => number;
  /** Verification events being sent; stop() ends their retries and waits for them. */
  readonly #sending = new Set<Promise<void>>();
  readonly #stopping = new AbortController();

  constructor(options: StreamManagementOptions) {
    this.#options = options;
    this.#tokens = [...options.receivers].flatMap(([tenant, receiver]) =>
      receiver.management === undefined
        ? []
        : [{ tenant, digests: new TokenDigests(receiver.management.bearerTokenSha256) }],
    );
    this.#minIntervalS = options.minVerificationIntervalS ?? 30;
    this.#clock = options.clock ?? Date.now;
  }

  /** Whether any tenant's receiver may manage a stream (the metadata then names the endpoints). */
  get offered(): boolean {
    return this.#tokens.length > 0;
  }

  /**
   * The tenant whose receiver presents this `Authorization` header.
   *
   * @throws {StreamReceiverUnauthorizedError}
   */
  authenticate(authorization: string | undefined): string {
    const token = bearerToken(authorization);
    const tenant = this.#tokens.find((t) => t.digests.accepts(token))?.tenant;
    if (tenant === undefined) {
      throw new StreamReceiverUnauthorizedError(
        token === undefined ? 'a bearer token is required' : 'the bearer token is not one a receiver holds',
      );
    }
    return tenant;
  }

  /** §8.1.1.1 @throws {StreamRequestInvalidError} {StreamExistsError} */
  async create(tenant: string, body: Readonly<Record<string, unknown>>): Promise<StreamConfigurationView> {
    const receiver = this.#receiver(tenant);
    const stream: OfferedStream = {
      stream_id: randomUUID(),
      delivery: delivery(body['delivery'], receiver),
      events_requested: eventsRequested(body['events_requested']) ?? [],
      ...optionalText(body, 'description'),
      status: 'enabled',
      removed_subjects: [],
    };
    if (!(await this.#options.streams.create(tenant, stream))) {
      throw new StreamExistsError('this receiver has a stream already; read, update or delete it');
    }
    this.#options.logger.info({ tenant, stream_id: stream.stream_id }, 'SSF stream created by the receiver');
    return this.#view(receiver, stream);
  }

  /** §8.1.1.2: one stream, or every stream of the receiver (none or one) when no id is given. */
  async read(
    tenant: string,
    streamId: string | undefined,
  ): Promise<StreamConfigurationView | StreamConfigurationView[]> {
    const receiver = this.#receiver(tenant);
    const stored = await this.#options.streams.get(tenant);
    if (streamId === undefined) return stored === undefined ? [] : [this.#view(receiver, stored.stream)];
    return this.#view(receiver, this.#named(stored, streamId).stream);
  }

  /**
   * §8.1.1.3 (PATCH: the receiver-supplied members given) and §8.1.1.4 (PUT:
   * all of them, a missing one removed). Transmitter-supplied members may be
   * sent only as they are.
   *
   * @throws {StreamRequestInvalidError} {StreamNotFoundError}
   */
  async update(
    tenant: string,
    body: Readonly<Record<string, unknown>>,
    mode: 'update' | 'replace',
  ): Promise<StreamConfigurationView> {
    const receiver = this.#receiver(tenant);
    const streamId = requiredText(body, 'stream_id');
    const updated = await this.#modify(tenant, streamId, (current) => {
      const shown = this.#view(receiver, current);
      for (const member of ['iss', 'aud', 'events_supported', 'events_delivered', 'min_verification_interval']) {
        const sent = body[member];
        if (
          sent !== undefined &&
          JSON.stringify(sent) !== JSON.stringify(shown[member as keyof StreamConfigurationView])
        ) {
          throw new StreamRequestInvalidError(
            `"${member}" is the transmitter's to set; send it as it is or not at all`,
          );
        }
      }
      if (mode === 'replace') {
        const { description: _dropped, ...rest } = current;
        return {
          ...rest,
          delivery: delivery(body['delivery'], receiver),
          events_requested: eventsRequested(body['events_requested']) ?? [],
          ...optionalText(body, 'description'),
        };
      }
      return {
        ...current,
        ...(body['delivery'] === undefined ? {} : { delivery: delivery(body['delivery'], receiver) }),
        ...(body['events_requested'] === undefined
          ? {}
          : { events_requested: eventsRequested(body['events_requested']) ?? [] }),
        ...optionalText(body, 'description'),
      };
    });
    return this.#view(receiver, updated);
  }

  /** §8.1.1.5 @throws {StreamNotFoundError} */
  async delete(tenant: string, streamId: string | undefined): Promise<void> {
    if (streamId === undefined) throw new StreamRequestInvalidError('"stream_id" is required');
    for (;;) {
      const stored = this.#named(await this.#options.streams.get(tenant), streamId);
      if (await this.#options.streams.delete(tenant, stored.revision)) break;
    }
    this.#options.logger.info({ tenant, stream_id: streamId }, 'SSF stream deleted by the receiver');
  }

  /** §8.1.2.1 @throws {StreamNotFoundError} */
  async status(tenant: string, streamId: string | undefined): Promise<StreamStatusView> {
    if (streamId === undefined) throw new StreamRequestInvalidError('"stream_id" is required');
    return statusView(this.#named(await this.#options.streams.get(tenant), streamId).stream);
  }

  /** §8.1.2.2 @throws {StreamRequestInvalidError} {StreamNotFoundError} */
  async setStatus(tenant: string, body: Readonly<Record<string, unknown>>): Promise<StreamStatusView> {
    const status = body['status'];
    if (!STATUSES.includes(status as OfferedStreamStatus)) {
      throw new StreamRequestInvalidError('"status" must be enabled, paused or disabled');
    }
    const updated = await this.#modify(tenant, requiredText(body, 'stream_id'), (current) => {
      const { reason: _previous, ...rest } = current;
      return { ...rest, status: status as OfferedStreamStatus, ...optionalText(body, 'reason') };
    });
    this.#options.logger.info(
      { tenant, stream_id: updated.stream_id, status },
      'SSF stream status set by the receiver',
    );
    return statusView(updated);
  }

  /** §8.1.3.2: back in the stream (every subject is, unless removed). */
  async addSubject(tenant: string, body: Readonly<Record<string, unknown>>): Promise<void> {
    const subject = keyedSubject(subjectOf(body), this.#options.sealerOf?.(tenant));
    if (body['verified'] !== undefined && typeof body['verified'] !== 'boolean') {
      throw new StreamRequestInvalidError('"verified" must be true or false');
    }
    await this.#modify(tenant, requiredText(body, 'stream_id'), (current) => ({
      ...current,
      removed_subjects: current.removed_subjects.filter((s) => JSON.stringify(s) !== JSON.stringify(subject)),
    }));
  }

  /** §8.1.3.3: no SET about a matching subject is sent on the stream until it is added again. */
  async removeSubject(tenant: string, body: Readonly<Record<string, unknown>>): Promise<void> {
    const subject = keyedSubject(subjectOf(body), this.#options.sealerOf?.(tenant));
    await this.#modify(tenant, requiredText(body, 'stream_id'), (current) => {
      if (current.removed_subjects.some((s) => JSON.stringify(s) === JSON.stringify(subject))) return current;
      if (current.removed_subjects.length >= MAX_REMOVED_SUBJECTS) {
        throw new StreamRequestInvalidError(`a stream can have at most ${MAX_REMOVED_SUBJECTS} subjects removed`);
      }
      return { ...current, removed_subjects: [...current.removed_subjects, subject] };
    });
  }

  /**
   * §8.1.4.2: answered at once (204); the verification event, carrying
   * `state`, is pushed to the stream's endpoint afterwards, retried on
   * failure for a little while.
   *
   * @throws {StreamRequestInvalidError} {StreamNotFoundError} {VerificationTooFrequentError}
   */
  async requestVerification(tenant: string, body: Readonly<Record<string, unknown>>): Promise<void> {
    const receiver = this.#receiver(tenant);
    const state = body['state'];
    if (state !== undefined && (typeof state !== 'string' || state.length > MAX_TEXT)) {
      throw new StreamRequestInvalidError(`"state" must be a string of at most ${MAX_TEXT} characters`);
    }
    const now = this.#clock();
    const stream = await this.#modify(tenant, requiredText(body, 'stream_id'), (current) => {
      const last = current.verification_requested_at ?? 0;
      const wait = Math.ceil((last + this.#minIntervalS * 1000 - now) / 1000);
      if (wait > 0) {
        throw new VerificationTooFrequentError(
          `verification may be requested once every ${this.#minIntervalS} s (min_verification_interval)`,
          wait,
        );
      }
      return { ...current, verification_requested_at: now };
    });
    const sending = this.#sendVerification(tenant, receiver, stream, typeof state === 'string' ? state : undefined);
    this.#sending.add(sending);
    void sending.finally(() => this.#sending.delete(sending));
  }

  /** Ends the retries of verification events being sent, and waits for them. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await Promise.all([...this.#sending]);
  }

  async #sendVerification(
    tenant: string,
    receiver: ReceiverSettings,
    stream: OfferedStream,
    state: string | undefined,
  ): Promise<void> {
    const jti = randomUUID();
    const target: PushTarget = {
      endpointUrl: stream.delivery.endpoint_url,
      authorization: stream.delivery.authorization_header,
    };
    let set: string;
    try {
      // SSF §8.1.4.1: the subject is the stream itself.
      set = await signSet(this.#options.keys.signing, {
        issuer: this.#options.issuer(),
        audience: receiver.audience,
        jti,
        subId: { format: 'opaque', id: stream.stream_id },
        events: { [VERIFICATION_EVENT]: state === undefined ? {} : { state } },
      });
    } catch (error) {
      this.#options.logger.error({ err: error, tenant }, 'the verification event could not be signed');
      return;
    }
    let outcome: PushOutcome = await pushSet(set, target, this.#options.requestTimeoutMs ?? 10_000);
    for (let attempt = 1; attempt < 5 && outcome.kind === 'retry' && !this.#isStopping(); attempt++) {
      await pause(1_000 * 2 ** (attempt - 1), this.#stopping.signal);
      if (this.#isStopping()) break;
      outcome = await pushSet(set, target, this.#options.requestTimeoutMs ?? 10_000);
    }
    this.#options.logger.info(
      { tenant, stream_id: stream.stream_id, outcome: outcome.kind },
      'SSF verification event sent to the receiver',
    );
    await this.#options.archive
      .append({
        v: 1,
        id: randomUUID(),
        tenant,
        kind: 'set.transmitted',
        at: this.#clock(),
        data: {
          aud: receiver.audience,
          endpoint: target.endpointUrl,
          jti,
          event_type: VERIFICATION_EVENT,
          stream_id: stream.stream_id,
          ...(outcome.kind === 'retry' ? { status: null, error: outcome.reason } : { status: outcome.status }),
          ...(outcome.kind === 'refused' ? { err: outcome.err ?? null, description: outcome.description } : {}),
          set,
        },
      })
      .catch((error: unknown) => {
        this.#options.logger.error({ err: error, tenant }, 'could not archive a transmitted SET');
      });
  }

  /** Read anew each time: `stop` aborts while a retry waits. */
  #isStopping(): boolean {
    return this.#stopping.signal.aborted;
  }

  /** Reads, changes and stores the named stream; a concurrent write in between makes it read and change again. */
  async #modify(
    tenant: string,
    streamId: string,
    change: (current: OfferedStream) => OfferedStream,
  ): Promise<OfferedStream> {
    for (;;) {
      const stored = this.#named(await this.#options.streams.get(tenant), streamId);
      const next = change(stored.stream);
      if (next === stored.stream) return next;
      if (await this.#options.streams.replace(tenant, next, stored.revision)) return next;
    }
  }

  #named(stored: StoredStream | undefined, streamId: string): StoredStream {
    if (stored?.stream.stream_id !== streamId) {
      throw new StreamNotFoundError(`this receiver has no stream ${streamId}`);
    }
    return stored;
  }

  #receiver(tenant: string): ReceiverSettings {
    const receiver = this.#options.receivers.get(tenant);
    if (receiver === undefined) throw new TypeError(`tenant ${tenant} has no receiver`);
    return receiver;
  }

  #view(receiver: ReceiverSettings, stream: OfferedStream): StreamConfigurationView {
    const supported = supportedEvents(receiver);
    return {
      stream_id: stream.stream_id,
      iss: this.#options.issuer(),
      aud: receiver.audience,
      events_supported: supported,
      events_requested: stream.events_requested,
      events_delivered: deliveredEvents(receiver, stream),
      delivery: { method: stream.delivery.method, endpoint_url: stream.delivery.endpoint_url },
      min_verification_interval: this.#minIntervalS,
      ...(stream.description === undefined ? {} : { description: stream.description }),
    };
  }
}

/** The events this transmitter sends a tenant's receiver. */
export function supportedEvents(receiver: ReceiverSettings): string[] {
  return [securityEventUri(receiver.sessionChangeEvent)];
}

/** SSF §8.1.1: what is both supported and requested. */
export function deliveredEvents(receiver: ReceiverSettings, stream: OfferedStream): string[] {
  return supportedEvents(receiver).filter((e) => stream.events_requested.includes(e));
}

function statusView(stream: OfferedStream): StreamStatusView {
  return {
    stream_id: stream.stream_id,
    status: stream.status,
    ...(stream.reason === undefined ? {} : { reason: stream.reason }),
  };
}

/**
 * The stream's delivery: push only (RFC 8935), to an endpoint at an origin
 * the tenant allows, so a receiver's token never makes us send its users'
 * sessions elsewhere (or to our own network).
 */
function delivery(value: unknown, receiver: ReceiverSettings): OfferedStream['delivery'] {
  if (value === undefined) {
    // SSF §8.1.1.1: no delivery means poll, which this transmitter does not offer.
    throw new StreamRequestInvalidError(`"delivery" is required: this transmitter pushes (${PUSH_DELIVERY}) only`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new StreamRequestInvalidError('"delivery" must be an object');
  }
  const d = value as Record<string, unknown>;
  if (d['method'] !== PUSH_DELIVERY) {
    throw new StreamRequestInvalidError(`delivery.method must be ${PUSH_DELIVERY}: this transmitter pushes only`);
  }
  const endpoint = d['endpoint_url'];
  let url: URL | undefined;
  try {
    url = typeof endpoint === 'string' ? new URL(endpoint) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || typeof endpoint !== 'string' || url.username !== '' || url.password !== '') {
    throw new StreamRequestInvalidError('delivery.endpoint_url must be an absolute URL without credentials');
  }
  const origins = receiver.management?.endpointOrigins ?? [];
  if (!origins.includes(url.origin)) {
    throw new StreamRequestInvalidError(`delivery.endpoint_url is not at an origin this tenant lets us push to`);
  }
  const authorization = d['authorization_header'];
  if (
    authorization !== undefined &&
    (typeof authorization !== 'string' || !/^[\x20-\x7e]{1,4096}$/.test(authorization))
  ) {
    throw new StreamRequestInvalidError(
      'delivery.authorization_header must be a header value: printable ASCII, one line',
    );
  }
  return {
    method: PUSH_DELIVERY,
    endpoint_url: endpoint,
    ...(authorization === undefined ? {} : { authorization_header: authorization }),
  };
}

function eventsRequested(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length > MAX_EVENTS_REQUESTED ||
    value.some((v) => typeof v !== 'string' || v.length > MAX_TEXT)
  ) {
    throw new StreamRequestInvalidError(
      `"events_requested" must be an array of at most ${MAX_EVENTS_REQUESTED} event type URIs`,
    );
  }
  return value as string[];
}

function optionalText(body: Readonly<Record<string, unknown>>, name: string): Record<string, string> {
  const value = body[name];
  if (value === undefined) return {};
  if (typeof value !== 'string' || value.length > MAX_TEXT) {
    throw new StreamRequestInvalidError(`"${name}" must be a string of at most ${MAX_TEXT} characters`);
  }
  return { [name]: value };
}

function requiredText(body: Readonly<Record<string, unknown>>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') throw new StreamRequestInvalidError(`"${name}" is required`);
  return value;
}

/** A subject identifier (RFC 9493): an object with its format. */
function subjectOf(body: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> {
  const subject = body['subject'];
  if (
    typeof subject !== 'object' ||
    subject === null ||
    Array.isArray(subject) ||
    typeof (subject as Record<string, unknown>)['format'] !== 'string'
  ) {
    throw new StreamRequestInvalidError('"subject" must be a subject identifier with a "format"');
  }
  return subject as Record<string, unknown>;
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
