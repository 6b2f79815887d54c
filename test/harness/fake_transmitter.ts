import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { TestKeySet } from './signing_keys.js';

export const CAEP = 'https://schemas.openid.net/secevent/caep/event-type/';
export const RISC = 'https://schemas.openid.net/secevent/risc/event-type/';
export const SSF = 'https://schemas.openid.net/secevent/ssf/event-type/';
const PUSH = 'urn:ietf:rfc:8935';
const POLL = 'urn:ietf:rfc:8936';

export interface SetOptions {
  readonly aud?: string | string[];
  readonly iss?: string;
  readonly iat?: number;
  readonly jti?: string;
  readonly kid?: string;
  readonly typ?: string;
  /** Further events in the same SET (SSF allows only one). */
  readonly alsoEvents?: Record<string, unknown>;
  readonly claims?: JWTPayload;
}

interface StreamConfig {
  stream_id: string;
  iss: string;
  aud: string;
  events_supported: string[];
  events_requested: string[];
  events_delivered: string[];
  delivery: { method: string; endpoint_url?: string; authorization_header?: string };
  description?: string;
}

/**
 * An SSF transmitter for tests (the tenant's IdP): signs real SETs with real
 * keys, serves its SSF configuration, JWKS, an RFC 8936 poll endpoint and the
 * stream management API, pushes verification events, and receives the SETs
 * our gateway transmits (RFC 8935).
 */
export class FakeTransmitter {
  readonly #server: Server;
  readonly issuer: string;
  readonly keys = new TestKeySet();
  /** How it names our receiver. */
  audience = 'https://app.example/ssf';
  readonly pollToken = `poll-${randomUUID()}`;
  readonly managementToken = `mgmt-${randomUUID()}`;
  readonly receiverToken = `recv-${randomUUID()}`;
  /** SETs waiting for a poll, oldest first. */
  readonly #pending = new Map<string, string>();
  readonly acked: string[] = [];
  readonly setErrs: Record<string, { err: string; description: string }> = {};
  pollRequests = 0;
  /** Poll requests to answer with 503 before serving again. */
  failPolls = 0;
  /** SETs pushed to its receiver endpoint by our gateway. */
  readonly received: string[] = [];
  /** The answers our SETs' receiver gives: status to return. */
  receiverStatus = 202;
  readonly #streams = new Map<string, StreamConfig & { status: string; reason?: string; subjects: unknown[] }>();
  /** Complex subject members its metadata marks critical (SSF §3.6). */
  criticalSubjectMembers: string[] = [];
  /** Verification pushes' outcomes (HTTP status). */
  readonly verificationPushes: number[] = [];
  #wakePoll: (() => void) | undefined;

  private constructor(server: Server, issuer: string) {
    this.#server = server;
    this.issuer = issuer;
  }

  static async start(): Promise<FakeTransmitter> {
    const self: { t?: FakeTransmitter } = {};
    const server = createServer((request, response) => {
      void readBody(request).then((body) => {
        if (self.t === undefined) {
          response.end();
          return;
        }
        self.t.#route(request, body, response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const t = new FakeTransmitter(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    self.t = t;
    await t.keys.addKey('RS256');
    return t;
  }

  get jwksUri(): string {
    return `${this.issuer}/jwks`;
  }

  get pollUrl(): string {
    return `${this.issuer}/ssf/poll`;
  }

  get receiverUrl(): string {
    return `${this.issuer}/ssf/receive`;
  }

  streams(): (StreamConfig & { status: string; subjects: unknown[] })[] {
    return [...this.#streams.values()];
  }

  /** A signed SET with one event of `type` (a full URI) about `subject`. */
  async set(
    type: string,
    subject: Record<string, unknown>,
    event: Record<string, unknown> = {},
    options: SetOptions = {},
  ): Promise<string> {
    return await this.keys.sign(
      {
        iss: options.iss ?? this.issuer,
        aud: options.aud ?? this.audience,
        iat: options.iat ?? Math.floor(Date.now() / 1000),
        jti: options.jti ?? randomUUID(),
        txn: randomUUID(),
        sub_id: subject,
        events: { [type]: event, ...options.alsoEvents },
        ...options.claims,
      },
      { kid: options.kid, typ: options.typ ?? 'secevent+jwt' },
    );
  }

  /** Queues a SET for the poll endpoint under its `jti` (or `jti`, for bodies that are not SETs). */
  queue(compact: string, jti?: string): string {
    const id =
      jti ?? (JSON.parse(Buffer.from(compact.split('.')[1] ?? '', 'base64url').toString()) as { jti: string }).jti;
    // Offered again: whatever the receiver said about it before no longer counts.
    const acked = this.acked.indexOf(id);
    if (acked >= 0) this.acked.splice(acked, 1);
    Reflect.deleteProperty(this.setErrs, id);
    this.#pending.set(id, compact);
    this.#wakePoll?.();
    return id;
  }

  pending(): string[] {
    return [...this.#pending.keys()];
  }

  #route(request: IncomingMessage, body: string, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.issuer);
    const json = (status: number, value?: unknown): void => {
      response.statusCode = status;
      if (value === undefined) {
        response.end();
        return;
      }
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify(value));
    };
    const bearer = (token: string): boolean => {
      if (request.headers.authorization === `Bearer ${token}`) return true;
      json(401, { error: 'unauthorized' });
      return false;
    };
    switch (`${request.method ?? ''} ${url.pathname}`) {
      case 'GET /.well-known/ssf-configuration':
        json(200, {
          spec_version: '1_0',
          issuer: this.issuer,
          jwks_uri: this.jwksUri,
          delivery_methods_supported: [PUSH, POLL],
          configuration_endpoint: `${this.issuer}/ssf/stream`,
          status_endpoint: `${this.issuer}/ssf/status`,
          add_subject_endpoint: `${this.issuer}/ssf/subjects:add`,
          remove_subject_endpoint: `${this.issuer}/ssf/subjects:remove`,
          verification_endpoint: `${this.issuer}/ssf/verify`,
          authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
          default_subjects: 'ALL',
          // SSF §7.1: claims with no element are omitted.
          ...(this.criticalSubjectMembers.length === 0
            ? {}
            : { critical_subject_members: this.criticalSubjectMembers }),
        });
        return;
      case 'GET /jwks':
        json(200, this.keys.jwks());
        return;
      case 'POST /ssf/poll':
        if (bearer(this.pollToken)) void this.#poll(body, json);
        return;
      case 'POST /ssf/receive':
        if (!bearer(this.receiverToken)) return;
        this.received.push(body);
        json(
          this.receiverStatus,
          this.receiverStatus === 202 ? undefined : { err: 'invalid_request', description: 'no' },
        );
        return;
      default:
        if (url.pathname.startsWith('/ssf/') && bearer(this.managementToken)) this.#manage(request, url, body, json);
        else if (!url.pathname.startsWith('/ssf/')) json(404, {});
    }
  }

  async #poll(body: string, json: (status: number, value?: unknown) => void): Promise<void> {
    this.pollRequests++;
    if (this.failPolls > 0) {
      this.failPolls--;
      json(503, { error: 'unavailable' });
      return;
    }
    const request = JSON.parse(body) as {
      maxEvents?: number;
      returnImmediately?: boolean;
      ack?: string[];
      setErrs?: Record<string, { err: string; description: string }>;
    };
    for (const jti of request.ack ?? []) {
      this.acked.push(jti);
      this.#pending.delete(jti);
    }
    for (const [jti, error] of Object.entries(request.setErrs ?? {})) {
      this.setErrs[jti] = error;
      this.#pending.delete(jti);
    }
    const max = request.maxEvents ?? 100;
    if (max > 0 && this.#pending.size === 0 && request.returnImmediately === false) {
      // Long poll: hold the request until a SET is queued, or 1 s.
      await new Promise<void>((resolve) => {
        this.#wakePoll = resolve;
        setTimeout(resolve, 1_000);
      });
      this.#wakePoll = undefined;
    }
    const sets = Object.fromEntries([...this.#pending.entries()].slice(0, max));
    json(200, { sets, moreAvailable: this.#pending.size > Object.keys(sets).length });
  }

  #manage(request: IncomingMessage, url: URL, body: string, json: (status: number, value?: unknown) => void): void {
    const input = body === '' ? {} : (JSON.parse(body) as Record<string, unknown>);
    const streamId = url.searchParams.get('stream_id') ?? (input['stream_id'] as string | undefined);
    const stream = streamId === undefined ? undefined : this.#streams.get(streamId);
    const view = (s: StreamConfig): StreamConfig => ({
      stream_id: s.stream_id,
      iss: s.iss,
      aud: s.aud,
      events_supported: s.events_supported,
      events_requested: s.events_requested,
      events_delivered: s.events_delivered,
      delivery: s.delivery,
      ...(s.description === undefined ? {} : { description: s.description }),
    });
    const supported = [`${CAEP}session-revoked`, `${CAEP}credential-change`, `${RISC}account-disabled`];
    switch (`${request.method ?? ''} ${url.pathname}`) {
      case 'POST /ssf/stream': {
        if (this.#streams.size > 0) {
          json(409, { error: 'a stream exists' });
          return;
        }
        const requested = (input['events_requested'] as string[] | undefined) ?? [];
        const delivery = (input['delivery'] as StreamConfig['delivery'] | undefined) ?? { method: POLL };
        const id = `stream-${randomUUID().slice(0, 8)}`;
        const created = {
          stream_id: id,
          iss: this.issuer,
          aud: this.audience,
          events_supported: supported,
          events_requested: requested,
          events_delivered: requested.filter((e) => supported.includes(e)),
          delivery: delivery.method === POLL ? { method: POLL, endpoint_url: this.pollUrl } : delivery,
          ...(typeof input['description'] === 'string' ? { description: input['description'] } : {}),
          status: 'enabled',
          subjects: [],
        };
        this.#streams.set(id, created);
        json(201, view(created));
        return;
      }
      case 'GET /ssf/stream':
        if (streamId === undefined) json(200, [...this.#streams.values()].map(view));
        else if (stream === undefined) json(404, {});
        else json(200, view(stream));
        return;
      case 'PATCH /ssf/stream':
      case 'PUT /ssf/stream': {
        if (stream === undefined) {
          json(404, {});
          return;
        }
        if (input['events_requested'] !== undefined) {
          stream.events_requested = input['events_requested'] as string[];
          stream.events_delivered = stream.events_requested.filter((e) => supported.includes(e));
        }
        if (input['delivery'] !== undefined) stream.delivery = input['delivery'] as StreamConfig['delivery'];
        if (typeof input['description'] === 'string') stream.description = input['description'];
        json(200, view(stream));
        return;
      }
      case 'DELETE /ssf/stream':
        if (stream === undefined) json(404, {});
        else {
          this.#streams.delete(stream.stream_id);
          json(204);
        }
        return;
      case 'GET /ssf/status':
        if (stream === undefined) json(404, {});
        else json(200, { stream_id: stream.stream_id, status: stream.status });
        return;
      case 'POST /ssf/status':
        if (stream === undefined) json(404, {});
        else {
          stream.status = String(input['status']);
          json(200, { stream_id: stream.stream_id, status: stream.status });
        }
        return;
      case 'POST /ssf/subjects:add':
        if (stream === undefined) json(404, {});
        else {
          stream.subjects.push(input['subject']);
          json(200);
        }
        return;
      case 'POST /ssf/subjects:remove':
        if (stream === undefined) json(404, {});
        else {
          const gone = JSON.stringify(input['subject']);
          stream.subjects = stream.subjects.filter((s) => JSON.stringify(s) !== gone);
          json(204);
        }
        return;
      case 'POST /ssf/verify':
        if (stream === undefined) json(404, {});
        else {
          json(204);
          void this.#verify(stream, input['state']);
        }
        return;
      default:
        json(404, {});
    }
  }

  /** SSF §8.1.4.2: the verification event goes out over the stream's own delivery method. */
  async #verify(stream: StreamConfig, state: unknown): Promise<void> {
    const compact = await this.set(
      `${SSF}verification`,
      { format: 'opaque', id: stream.stream_id },
      typeof state === 'string' ? { state } : {},
    );
    if (stream.delivery.method === POLL) {
      this.queue(compact);
      return;
    }
    const response = await fetch(stream.delivery.endpoint_url ?? '', {
      method: 'POST',
      headers: {
        'content-type': 'application/secevent+jwt',
        accept: 'application/json',
        ...(stream.delivery.authorization_header === undefined
          ? {}
          : { authorization: stream.delivery.authorization_header }),
      },
      body: compact,
    });
    this.verificationPushes.push(response.status);
  }

  async stop(): Promise<void> {
    this.#wakePoll?.();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}
