import type { TransmitterSettings } from '../config/index.js';
import { StreamManagementError, StreamOperationUnavailableError } from './errors.js';
import type { TransmitterDirectory, TransmitterMetadata } from './transmitter_directory.js';

export const PUSH_DELIVERY = 'urn:ietf:rfc:8935';
export const POLL_DELIVERY = 'urn:ietf:rfc:8936';

/** A stream's configuration as the transmitter returns it (SSF §8.1.1); members we do not model are kept. */
export interface StreamConfiguration {
  readonly stream_id: string;
  readonly iss: string;
  readonly aud: string | readonly string[];
  readonly delivery: { readonly method: string; readonly endpoint_url?: string };
  readonly events_requested?: readonly string[];
  readonly events_delivered?: readonly string[];
  readonly [member: string]: unknown;
}

export interface StreamStatus {
  readonly stream_id: string;
  readonly status: 'enabled' | 'paused' | 'disabled';
  readonly reason?: string;
}

type Endpoint = keyof Pick<
  TransmitterMetadata,
  'configurationEndpoint' | 'statusEndpoint' | 'addSubjectEndpoint' | 'removeSubjectEndpoint' | 'verificationEndpoint'
>;

const ENDPOINT_NAMES: Readonly<Record<Endpoint, string>> = {
  configurationEndpoint: 'configuration_endpoint',
  statusEndpoint: 'status_endpoint',
  addSubjectEndpoint: 'add_subject_endpoint',
  removeSubjectEndpoint: 'remove_subject_endpoint',
  verificationEndpoint: 'verification_endpoint',
};

/**
 * SSF stream management (§8) against one transmitter, at the endpoints its
 * configuration metadata names, with the tenant's management credentials.
 * The stream id it creates or reads is remembered, so verification events
 * are checked against it.
 */
export class StreamClient {
  readonly #tenantId: string;
  readonly #transmitter: TransmitterSettings & { readonly management: { readonly bearerToken: string } };
  readonly #directory: TransmitterDirectory;
  readonly #timeoutMs: number;

  constructor(
    tenantId: string,
    transmitter: TransmitterSettings,
    directory: TransmitterDirectory,
    options: { timeoutMs?: number } = {},
  ) {
    if (transmitter.management === undefined) {
      throw new StreamOperationUnavailableError(`no stream management is configured for ${transmitter.issuer}`);
    }
    this.#tenantId = tenantId;
    this.#transmitter = { ...transmitter, management: transmitter.management };
    this.#directory = directory;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  get issuer(): string {
    return this.#transmitter.issuer;
  }

  /** The stream id in use: configured, learnt, or undefined before a create or read. */
  get streamId(): string | undefined {
    return this.#directory.streamId(this.#tenantId, this.#transmitter.issuer);
  }

  /** §8.1.1.1. `delivery` without `endpoint_url` asks for poll at a URL the transmitter chooses. */
  async create(request: {
    readonly delivery: {
      readonly method: string;
      readonly endpoint_url?: string;
      readonly authorization_header?: string;
    };
    readonly events_requested: readonly string[];
    readonly description?: string;
  }): Promise<StreamConfiguration> {
    const created = this.#configuration(await this.#call('configurationEndpoint', 'POST', request));
    await this.#directory.learnStreamId(this.#tenantId, this.#transmitter.issuer, created.stream_id);
    return created;
  }

  /** §8.1.1.2: one stream, or (without an id) every stream the transmitter has for us. */
  async read(streamId?: string): Promise<StreamConfiguration[]> {
    const body = await this.#call('configurationEndpoint', 'GET', undefined, streamId);
    const list = (Array.isArray(body) ? body : [body]).map((c) => this.#configuration(c));
    const only = list.length === 1 ? list[0] : undefined;
    if (only !== undefined) {
      await this.#directory.learnStreamId(this.#tenantId, this.#transmitter.issuer, only.stream_id);
    }
    return list;
  }

  /** §8.1.1.3: PATCH the receiver-supplied members given. */
  async update(changes: Readonly<Record<string, unknown>>): Promise<StreamConfiguration | undefined> {
    const body = await this.#call('configurationEndpoint', 'PATCH', { ...changes, stream_id: await this.#require() });
    // 202: accepted, not yet applied.
    return body === undefined ? undefined : this.#configuration(body);
  }

  /** §8.1.1.5 */
  async delete(): Promise<void> {
    await this.#call('configurationEndpoint', 'DELETE', undefined, await this.#require());
    // Gone at the transmitter: a later call must say no stream is known, not name the deleted one.
    await this.#directory.forgetStreamId(this.#tenantId, this.#transmitter.issuer);
  }

  /** §8.1.2.1 */
  async status(): Promise<StreamStatus> {
    return parseStatus(await this.#call('statusEndpoint', 'GET', undefined, await this.#require()));
  }

  /** §8.1.2.2 */
  async setStatus(status: StreamStatus['status'], reason?: string): Promise<StreamStatus | undefined> {
    const body = await this.#call('statusEndpoint', 'POST', {
      stream_id: await this.#require(),
      status,
      ...(reason === undefined ? {} : { reason }),
    });
    return body === undefined ? undefined : parseStatus(body);
  }

  /** §8.1.3.2 */
  async addSubject(subject: Readonly<Record<string, unknown>>, verified?: boolean): Promise<void> {
    await this.#call('addSubjectEndpoint', 'POST', {
      stream_id: await this.#require(),
      subject,
      ...(verified === undefined ? {} : { verified }),
    });
  }

  /** §8.1.3.3 */
  async removeSubject(subject: Readonly<Record<string, unknown>>): Promise<void> {
    await this.#call('removeSubjectEndpoint', 'POST', { stream_id: await this.#require(), subject });
  }

  /** §8.1.4.2: the transmitter sends a verification event carrying `state`, asynchronously. */
  async requestVerification(state: string): Promise<void> {
    await this.#call('verificationEndpoint', 'POST', { stream_id: await this.#require(), state });
  }

  async #require(): Promise<string> {
    const id = await this.#directory.knownStreamId(this.#tenantId, this.#transmitter.issuer);
    if (id === undefined) {
      throw new StreamOperationUnavailableError(
        `no stream id is known for ${this.#transmitter.issuer}: configure stream_id, or create or read the stream first`,
      );
    }
    return id;
  }

  /** SSF §8.1.1: the receiver must check that the stream is the transmitter's own. */
  #configuration(value: unknown): StreamConfiguration {
    if (typeof value !== 'object' || value === null) {
      throw new StreamManagementError('the transmitter returned a stream configuration that is not an object', 502);
    }
    const c = value as Record<string, unknown>;
    if (typeof c['stream_id'] !== 'string' || c['stream_id'] === '') {
      throw new StreamManagementError('the stream configuration has no stream_id', 502);
    }
    if (c['iss'] !== this.#transmitter.issuer) {
      throw new StreamManagementError(
        `the stream configuration names iss ${String(c['iss'])}, not ${this.#transmitter.issuer}`,
        502,
      );
    }
    return c as unknown as StreamConfiguration;
  }

  async #call(endpoint: Endpoint, method: string, body: unknown, streamId?: string): Promise<unknown> {
    const metadata = await this.#directory.metadata(this.#tenantId, this.#transmitter.issuer);
    const base = metadata[endpoint];
    if (base === undefined) {
      throw new StreamOperationUnavailableError(
        `${this.#transmitter.issuer} advertises no ${ENDPOINT_NAMES[endpoint]}: it does not support this operation`,
      );
    }
    const url = new URL(base);
    if (streamId !== undefined) url.searchParams.set('stream_id', streamId);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${this.#transmitter.management.bearerToken}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'error',
      });
    } catch (cause) {
      throw new StreamManagementError(`${method} ${url.pathname} at ${url.origin} failed`, undefined, { cause });
    }
    const text = await response.text();
    if (!response.ok) {
      throw new StreamManagementError(
        `${method} ${ENDPOINT_NAMES[endpoint]} answered HTTP ${response.status}${text === '' ? '' : `: ${text.slice(0, 300)}`}`,
        response.status,
      );
    }
    if (text === '' || response.status === 202 || response.status === 204) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw new StreamManagementError(`${ENDPOINT_NAMES[endpoint]} answered with a body that is not JSON`, 502, {
        cause,
      });
    }
  }
}

function parseStatus(value: unknown): StreamStatus {
  const s = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  if (typeof s['stream_id'] !== 'string' || !['enabled', 'paused', 'disabled'].includes(String(s['status']))) {
    throw new StreamManagementError('the transmitter returned a stream status that is not one', 502);
  }
  return s as unknown as StreamStatus;
}
