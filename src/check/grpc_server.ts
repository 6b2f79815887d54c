import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { TlsFiles } from '../config/index.js';
import type { SessionEvent } from '../changes/index.js';
import { SignInRefusedError } from '../session/index.js';
import type { SessionAuthority } from '../session/index.js';
import type { EntitlementReader } from '../store/index.js';
import { TenantUnknownError } from '../store/index.js';
import {
  batchCheckRequestFromProto,
  batchCheckResponseToProto,
  checkRequestFromProto,
  checkResponseToProto,
  createSamlRequestFromProto,
  createSamlResponseToProto,
  sessionEventToProto,
  startSessionRequestFromProto,
  startSessionResponseToProto,
  watchSessionsRequestFromProto,
} from './convert.js';
import { SessionEventsUnavailableError, WatcherTooSlowError } from './errors.js';
import type { SessionEvent as SessionEventProto } from './gen/ipsie/sidecar/v1/SessionEvent.js';
import type { WatchSessionsRequest__Output } from './gen/ipsie/sidecar/v1/WatchSessionsRequest.js';
import type { Decider } from './decider.js';
import type { AuthorizationHandlers } from './gen/ipsie/sidecar/v1/Authorization.js';
import { authzProto } from './proto.js';
import { isExpectedError, serviceErrorFrom } from './status.js';
import {
  callerTokenInterceptor,
  prepareSocketDirectory,
  tcpServerCredentials,
  withSocketMode,
} from './caller_authentication.js';

export interface CheckServerOptions {
  readonly decider: Decider;
  readonly logger: Logger;
  /** Most items one BatchCheck may carry. */
  readonly batchMaxItems: number;
  /** `host:port` to listen on over TCP (port 0 picks a free one). */
  readonly address?: string | undefined;
  /** Unix socket path to listen on. */
  readonly socketPath?: string | undefined;
  /** Permissions of the socket file (who may call is who may open it). @defaultValue 0o660 */
  readonly socketMode?: number | undefined;
  /** TLS of the TCP listener (mutual TLS with a client CA). */
  readonly tls?: TlsFiles | undefined;
  /**
   * The listeners are a cluster primary's, shared by several processes: it
   * checked the socket's folder, removed a stale socket and binds the socket
   * with its mode. Removing the path here would unlink the live socket.
   * @defaultValue false
   */
  readonly socketPrepared?: boolean | undefined;
  /** SHA-256 (hex) of accepted caller tokens; when any, every call on every listener must present one. */
  readonly callerTokenSha256?: readonly string[] | undefined;
  /** Where WatchSessions takes its events from; without it WatchSessions answers UNAVAILABLE. */
  readonly sessionEvents?: SessionEventFeed | undefined;
  /** To refuse watches of unknown tenants. */
  readonly reader: EntitlementReader;
  /** Sign-in; without it StartSession answers UNAVAILABLE. */
  readonly signIn?: Pick<SessionAuthority, 'startSession' | 'startSamlSession' | 'samlAuthnRequest'> | undefined;
  /** More services on the same listeners (e.g. Envoy ext_authz). */
  readonly services?: readonly {
    readonly definition: grpc.ServiceDefinition;
    readonly implementation: grpc.UntypedServiceImplementation;
  }[];
}

/** A source of session events (the ingest side). */
export interface SessionEventFeed {
  /** Calls `listener` for every event after its change is committed; returns the unsubscribe. */
  onSessionEvent(listener: (event: SessionEvent) => void): () => void;
}

/** Bytes a watcher may leave unread before it is cut off. */
const WATCHER_BUFFER_LIMIT = 1024 * 1024;

type WatchCall = grpc.ServerWritableStream<WatchSessionsRequest__Output, SessionEventProto>;

export interface BoundAddresses {
  /** The TCP port actually bound, when listening on TCP. */
  readonly tcpPort: number | undefined;
  readonly socketPath: string | undefined;
}

/** Time left before the caller's deadline, in ms; undefined without one. */
function remainingMs(call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** The `ipsie.sidecar.v1.Authorization` gRPC service on TCP and/or a Unix socket. */
export class CheckServer {
  readonly #options: CheckServerOptions;
  readonly #server: grpc.Server;
  readonly #watchers = new Set<WatchCall>();

  constructor(options: CheckServerOptions) {
    if (options.address === undefined && options.socketPath === undefined) {
      throw new TypeError('CheckServer needs an address or a socketPath');
    }
    this.#options = options;
    const tokens = options.callerTokenSha256 ?? [];
    this.#server = new grpc.Server({ interceptors: tokens.length > 0 ? [callerTokenInterceptor(tokens)] : [] });
    this.#server.addService(authzProto().ipsie.sidecar.v1.Authorization.service, this.#handlers());
    for (const service of options.services ?? []) this.#server.addService(service.definition, service.implementation);
  }

  async start(): Promise<BoundAddresses> {
    const { address, socketPath } = this.#options;
    let tcpPort: number | undefined;
    if (address !== undefined) {
      const tcp = await tcpServerCredentials(this.#options.tls);
      try {
        tcpPort = await this.#bind(address, tcp.credentials);
      } finally {
        tcp.bound();
      }
    }
    if (socketPath !== undefined && this.#options.socketPrepared === true) {
      await this.#bind(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure());
    } else if (socketPath !== undefined) {
      const exposed = await prepareSocketDirectory(socketPath);
      if (exposed !== undefined) this.#options.logger.warn({ socket: socketPath }, exposed);
      // A socket file left by a crashed process would make bind fail.
      await rm(socketPath, { force: true });
      await withSocketMode(this.#options.socketMode ?? 0o660, async () => {
        await this.#bind(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure());
      });
    }
    this.#options.logger.info({ address, tcp_port: tcpPort, socket: socketPath }, 'gRPC Check service listening');
    return { tcpPort, socketPath };
  }

  /** Stops accepting calls, lets in-flight calls finish for up to `graceMs`, then closes. */
  async stop(graceMs = 5_000): Promise<void> {
    // Watches never end by themselves; end them so draining can finish.
    for (const call of this.#watchers) call.end();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  #bind(target: string, credentials: grpc.ServerCredentials): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(target, credentials, (error, port) => {
        if (error === null) resolve(port);
        else reject(error);
      });
    });
  }

  #handlers(): AuthorizationHandlers {
    const { decider, batchMaxItems } = this.#options;
    return {
      Check: (call, callback) => {
        this.#answer('Check', callback, async () =>
          checkResponseToProto(await decider.check(checkRequestFromProto(call.request), remainingMs(call))),
        );
      },
      BatchCheck: (call, callback) => {
        this.#answer('BatchCheck', callback, async () =>
          batchCheckResponseToProto(
            await decider.batchCheck(batchCheckRequestFromProto(call.request, batchMaxItems), remainingMs(call)),
          ),
        );
      },
      WatchSessions: (call) => {
        this.#watch(call);
      },
      StartSession: (call, callback) => {
        this.#answer('StartSession', callback, async () => {
          const request = startSessionRequestFromProto(call.request);
          const { signIn } = this.#options;
          if (signIn === undefined) {
            throw new SignInRefusedError('ERR_SIGNIN_UNAVAILABLE', 'this sidecar has no sign-in configured');
          }
          const { assertion } = request;
          const started =
            assertion.kind === 'id_token'
              ? await signIn.startSession(request.tenantId, assertion.idToken, assertion.nonce, request.context)
              : await signIn.startSamlSession(request.tenantId, assertion.samlResponse, request.context);
          return startSessionResponseToProto(started);
        });
      },
      CreateSamlRequest: (call, callback) => {
        this.#answer('CreateSamlRequest', callback, async () => {
          const request = createSamlRequestFromProto(call.request);
          const { signIn } = this.#options;
          if (signIn === undefined) {
            throw new SignInRefusedError('ERR_SIGNIN_UNAVAILABLE', 'this sidecar has no sign-in configured');
          }
          return createSamlResponseToProto(await signIn.samlAuthnRequest(request.tenantId, request.options));
        });
      },
    };
  }

  /** Runs a unary handler; any throw, synchronous or not, becomes the mapped gRPC error. */
  #answer<T>(method: string, callback: grpc.sendUnaryData<T>, handle: () => Promise<T>): void {
    handle().then(
      (response) => {
        callback(null, response);
      },
      (error: unknown) => {
        callback(this.#failure(method, error));
      },
    );
  }

  #watch(call: WatchCall): void {
    const { sessionEvents, reader, logger } = this.#options;
    let unsubscribe: (() => void) | undefined;
    const end = (): void => {
      unsubscribe?.();
      this.#watchers.delete(call);
    };
    try {
      const request = watchSessionsRequestFromProto(call.request);
      if (sessionEvents === undefined) {
        throw new SessionEventsUnavailableError(
          'this sidecar runs without a state stream, so it has no session events',
        );
      }
      if (!reader.hasTenant(request.tenantId)) throw new TenantUnknownError(request.tenantId);
      unsubscribe = sessionEvents.onSessionEvent((event) => {
        if (event.tenantId !== request.tenantId) return;
        if (request.userIds.size > 0 && !request.userIds.has(event.userId)) return;
        if (!call.write(sessionEventToProto(event)) && call.writableLength > WATCHER_BUFFER_LIMIT) {
          end();
          call.emit(
            'error',
            this.#failure('WatchSessions', new WatcherTooSlowError('the watcher fell too far behind')),
          );
        }
      });
      this.#watchers.add(call);
      call.on('cancelled', end);
      call.on('close', end);
      call.on('error', end);
      // Headers now: the client knows the watch is live before any event.
      call.sendMetadata(new grpc.Metadata());
      logger.debug({ tenant: request.tenantId, users: request.userIds.size }, 'WatchSessions started');
    } catch (error) {
      end();
      call.emit('error', this.#failure('WatchSessions', error));
    }
  }

  #failure(method: string, error: unknown): Partial<grpc.ServiceError> {
    const serviceError = serviceErrorFrom(error);
    if (isExpectedError(error)) {
      this.#options.logger.debug({ method, err: error }, 'Check refused');
    } else {
      this.#options.logger.error({ method, err: error }, 'Check failed');
    }
    return serviceError;
  }
}
