import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import {
  batchCheckRequestToWire,
  batchCheckResultFromWire,
  checkRequestToWire,
  checkResultFromWire,
  createSamlRequestToWire,
  samlRequestFromWire,
  sessionEventFromWire,
  startSessionRequestToWire,
  startedSessionFromWire,
} from './convert.js';
import { clientErrorFrom, SidecarClientError } from './errors.js';
import type {
  BatchCheckInput,
  BatchCheckResult,
  CheckInput,
  CheckResult,
  CreateSamlRequestInput,
  SamlAuthnRequest,
  SessionEvent,
  StartSessionInput,
  StartedSession,
  WatchSessionsInput,
} from './types.js';
import { authorizationStub } from './wire.js';
import type {
  AuthorizationStub,
  WireBatchCheckResponse,
  WireCheckResponse,
  WireSamlRequest,
  WireSessionEvent,
  WireStartSessionResponse,
} from './wire.js';

/** Where the sidecar's socket is in the reference deployment (deploy/kubernetes). */
export const DEFAULT_SOCKET_PATH = '/run/ipsie/check.sock';
export const DEFAULT_DEADLINE_MS = 2_000;
export const DEFAULT_MAX_ATTEMPTS = 3;
export const DEFAULT_BACKOFF_MS = 50;

/** PEM files of mutual TLS to the sidecar's TCP listener (`IPSIE_GRPC_TLS_*` on its side). */
export interface TlsFiles {
  /** The CA that signed the sidecar's certificate. */
  readonly caFile: string;
  /** This app's client certificate, when the sidecar requires one (`IPSIE_GRPC_TLS_CLIENT_CA_FILE`). */
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
}

export interface RetryOptions {
  /** Attempts of an idempotent call (Check, BatchCheck), the first included. @defaultValue 3 */
  readonly maxAttempts?: number | undefined;
  /** Wait before the second attempt, in ms; doubled for each further one, with jitter. @defaultValue 50 */
  readonly backoffMs?: number | undefined;
}

export interface SidecarClientOptions {
  /**
   * Path of the sidecar's Unix socket (`IPSIE_GRPC_SOCKET`), used unless
   * `address` is set. @defaultValue DEFAULT_SOCKET_PATH
   */
  readonly socketPath?: string | undefined;
  /**
   * `host:port` of the sidecar's TCP listener (`IPSIE_GRPC_ADDRESS`). It
   * authenticates callers: give `tls` with a client certificate, or `callerToken`.
   */
  readonly address?: string | undefined;
  /** Sent as `authorization: Bearer <token>` on every call (`IPSIE_GRPC_CALLER_TOKEN_SHA256` holds its digest). */
  readonly callerToken?: string | undefined;
  /** TLS to the TCP listener; read once, at construction. */
  readonly tls?: TlsFiles | undefined;
  /** Each call's deadline, retries included, in ms. @defaultValue 2000 */
  readonly deadlineMs?: number | undefined;
  readonly retry?: RetryOptions | undefined;
  /** grpc-js interceptors run on every call (tracing, metrics), each attempt of a retried call included. */
  readonly interceptors?: readonly grpc.Interceptor[] | undefined;
}

export interface CallOptions {
  /** This call's deadline in ms, retries included. @defaultValue the client's `deadlineMs` */
  readonly deadlineMs?: number | undefined;
  /** Cancels the call (reason `CANCELLED`). */
  readonly signal?: AbortSignal | undefined;
}

export interface WatchOptions {
  /** Ends the watch: the iteration returns. */
  readonly signal?: AbortSignal | undefined;
  /** Called once the sidecar has confirmed the watch (response headers); events from then on are delivered. */
  readonly onReady?: (() => void) | undefined;
}

/**
 * A client of one sidecar's decision API. Calls fail with
 * `SidecarClientError`; an app must treat any failure as "not allowed".
 *
 * Check and BatchCheck are reads: a failure that says "not now" (the
 * sidecar unreachable, a policy not loaded yet, overloaded) is retried
 * within the call's deadline. StartSession presents a single-use ID token
 * and is never retried.
 *
 * @throws {TypeError} at construction for contradictory or invalid options
 */
export class SidecarClient {
  readonly #stub: AuthorizationStub;
  readonly #deadlineMs: number;
  readonly #maxAttempts: number;
  readonly #backoffMs: number;

  constructor(options: SidecarClientOptions = {}) {
    const { address, socketPath, tls, callerToken } = options;
    if (address !== undefined && socketPath !== undefined) {
      throw new TypeError('SidecarClient: set `address` or `socketPath`, not both');
    }
    if (tls !== undefined && address === undefined) {
      throw new TypeError('SidecarClient: `tls` is for the TCP listener: set `address`');
    }
    if ((tls?.certFile === undefined) !== (tls?.keyFile === undefined)) {
      throw new TypeError('SidecarClient: `tls.certFile` and `tls.keyFile` go together');
    }
    if (callerToken !== undefined && !/^[\x21-\x7e]+$/.test(callerToken)) {
      throw new TypeError('SidecarClient: `callerToken` must be visible ASCII');
    }
    this.#deadlineMs = positive('deadlineMs', options.deadlineMs ?? DEFAULT_DEADLINE_MS);
    this.#maxAttempts = positive('retry.maxAttempts', options.retry?.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
    this.#backoffMs = positive('retry.backoffMs', options.retry?.backoffMs ?? DEFAULT_BACKOFF_MS);
    if (!Number.isInteger(this.#maxAttempts)) {
      throw new TypeError('SidecarClient: `retry.maxAttempts` must be an integer');
    }

    const target = address ?? `unix:${socketPath ?? DEFAULT_SOCKET_PATH}`;
    const Stub = authorizationStub();
    const interceptors = [...(options.interceptors ?? [])];
    if (tls === undefined) {
      // grpc-js sends call credentials over secure channels only: on the socket, add the header per call.
      if (callerToken !== undefined) interceptors.push(bearerInterceptor(callerToken));
      this.#stub = new Stub(target, grpc.credentials.createInsecure(), { interceptors });
      return;
    }
    let credentials = grpc.credentials.createSsl(
      readFileSync(tls.caFile),
      tls.keyFile === undefined ? null : readFileSync(tls.keyFile),
      tls.certFile === undefined ? null : readFileSync(tls.certFile),
    );
    if (callerToken !== undefined) {
      credentials = grpc.credentials.combineChannelCredentials(credentials, bearerCredentials(callerToken));
    }
    this.#stub = new Stub(target, credentials, { interceptors });
  }

  /** Decides one request. @throws {SidecarClientError} */
  async check(input: CheckInput, options: CallOptions = {}): Promise<CheckResult> {
    const request = checkRequestToWire(input);
    const response = await this.#idempotent<WireCheckResponse>(options, (callOptions, callback) =>
      this.#stub.check(request, callOptions, callback),
    );
    return checkResultFromWire(response);
  }

  /** Decides many action/resource pairs for one subject at one store sequence. @throws {SidecarClientError} */
  async batchCheck(input: BatchCheckInput, options: CallOptions = {}): Promise<BatchCheckResult> {
    const request = batchCheckRequestToWire(input);
    const response = await this.#idempotent<WireBatchCheckResponse>(options, (callOptions, callback) =>
      this.#stub.batchCheck(request, callOptions, callback),
    );
    return batchCheckResultFromWire(response);
  }

  /**
   * Signs the user in with the ID token of the app's OIDC flow, or with the
   * SAML Response its ACS received; later Checks name `{ sessionId }`. Sent
   * once: the assertion is single-use.
   * @throws {SidecarClientError} e.g. `TOKEN_NONCE_MISMATCH`, `USER_NOT_PROVISIONED`
   */
  async startSession(input: StartSessionInput, options: CallOptions = {}): Promise<StartedSession> {
    const request = startSessionRequestToWire(input);
    const deadline = Date.now() + (options.deadlineMs ?? this.#deadlineMs);
    const response = await unary<WireStartSessionResponse>(options.signal, { deadline }, (callOptions, callback) =>
      this.#stub.startSession(request, callOptions, callback),
    );
    return startedSessionFromWire(response);
  }

  /**
   * A SAML AuthnRequest to the tenant's IdP: redirect the browser to `redirectUrl`; the Response the IdP posts
   * to your ACS goes to `startSession({ samlResponse })` on any sidecar replica. Not retried (each call issues a
   * new request).
   * @throws {SidecarClientError} e.g. `SAML_NOT_CONFIGURED`, `SAML_METADATA_UNAVAILABLE`
   */
  async createSamlRequest(input: CreateSamlRequestInput, options: CallOptions = {}): Promise<SamlAuthnRequest> {
    const request = createSamlRequestToWire(input);
    const deadline = Date.now() + (options.deadlineMs ?? this.#deadlineMs);
    const response = await unary<WireSamlRequest>(options.signal, { deadline }, (callOptions, callback) =>
      this.#stub.createSamlRequest(request, callOptions, callback),
    );
    return samlRequestFromWire(response);
  }

  /**
   * The tenant's session events as the sidecar applies them, until the
   * signal aborts (the iteration returns) or the call fails (it throws a
   * `SidecarClientError`). Live only: after a failure, reconnect and
   * Check again, since events in between are not replayed. See
   * `sessionTerminator` for a watch that reconnects.
   */
  async *watchSessions(input: WatchSessionsInput, options: WatchOptions = {}): AsyncGenerator<SessionEvent, void> {
    const { signal, onReady } = options;
    if (signal?.aborted === true) return;
    const call = this.#stub.watchSessions({ tenant: input.tenant, user_ids: [...(input.userIds ?? [])] });
    const cancel = (): void => {
      call.cancel();
    };
    signal?.addEventListener('abort', cancel, { once: true });
    call.once('metadata', () => onReady?.());
    try {
      for await (const message of call as AsyncIterable<WireSessionEvent>) {
        const event = sessionEventFromWire(message);
        if (event !== undefined) yield event;
      }
    } catch (error) {
      // Our own cancel: the watch ended as asked.
      if (aborted(signal)) return;
      throw clientErrorFrom(error);
    } finally {
      signal?.removeEventListener('abort', cancel);
      call.cancel();
    }
  }

  /** Closes the channel; calls in flight fail with `CANCELLED`. */
  close(): void {
    this.#stub.close();
  }

  async #idempotent<T>(options: CallOptions, invoke: Invoke<T>): Promise<T> {
    const deadline = Date.now() + (options.deadlineMs ?? this.#deadlineMs);
    for (let attempt = 1; ; attempt++) {
      try {
        return await unary(options.signal, { deadline }, invoke);
      } catch (error) {
        const failure = clientErrorFrom(error);
        if (!failure.retryable || attempt >= this.#maxAttempts) throw failure;
        // Full jitter: replicas of an app restarted together do not retry in step.
        const wait = Math.random() * this.#backoffMs * 2 ** (attempt - 1);
        if (Date.now() + wait >= deadline) throw failure;
        await sleep(wait, options.signal);
      }
    }
  }
}

type Invoke<T> = (
  options: grpc.CallOptions,
  callback: (error: grpc.ServiceError | null, response?: T) => void,
) => grpc.ClientUnaryCall;

async function unary<T>(signal: AbortSignal | undefined, options: grpc.CallOptions, invoke: Invoke<T>): Promise<T> {
  if (signal?.aborted === true) throw new SidecarClientError('CANCELLED', grpc.status.CANCELLED, 'aborted');
  return await new Promise<T>((resolve, reject) => {
    const cancel = (): void => {
      call.cancel();
    };
    const call = invoke(options, (error, response) => {
      signal?.removeEventListener('abort', cancel);
      if (error !== null) reject(clientErrorFrom(error));
      else if (response === undefined) reject(clientErrorFrom(new Error('no response')));
      else resolve(response);
    });
    signal?.addEventListener('abort', cancel, { once: true });
  });
}

async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new SidecarClientError('CANCELLED', grpc.status.CANCELLED, 'aborted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function aborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function positive(name: string, value: number): number {
  if (!Number.isFinite(value) || value <= 0)
    throw new TypeError(`SidecarClient: \`${name}\` must be a positive number`);
  return value;
}

function bearerInterceptor(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

function bearerCredentials(token: string): grpc.CallCredentials {
  return grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
}
