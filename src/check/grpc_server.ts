import { rm } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  batchCheckRequestFromProto,
  batchCheckResponseToProto,
  checkRequestFromProto,
  checkResponseToProto,
} from './convert.js';
import type { Decider } from './decider.js';
import type { AuthorizationHandlers } from './gen/ipsie/sidecar/v1/Authorization.js';
import { authzProto } from './proto.js';
import { isExpectedError, serviceErrorFrom } from './status.js';

export interface CheckServerOptions {
  readonly decider: Decider;
  readonly logger: Logger;
  /** Most items one BatchCheck may carry. */
  readonly batchMaxItems: number;
  /** `host:port` to listen on over TCP (port 0 picks a free one). */
  readonly address?: string | undefined;
  /** Unix socket path to listen on. */
  readonly socketPath?: string | undefined;
}

export interface BoundAddresses {
  /** The TCP port actually bound, when listening on TCP. */
  readonly tcpPort: number | undefined;
  readonly socketPath: string | undefined;
}

/** The `ipsie.sidecar.v1.Authorization` gRPC service on TCP and/or a Unix socket. */
export class CheckServer {
  readonly #options: CheckServerOptions;
  readonly #server: grpc.Server;

  constructor(options: CheckServerOptions) {
    if (options.address === undefined && options.socketPath === undefined) {
      throw new TypeError('CheckServer needs an address or a socketPath');
    }
    this.#options = options;
    this.#server = new grpc.Server();
    this.#server.addService(authzProto().ipsie.sidecar.v1.Authorization.service, this.#handlers());
  }

  async start(): Promise<BoundAddresses> {
    const { address, socketPath } = this.#options;
    let tcpPort: number | undefined;
    if (address !== undefined) tcpPort = await this.#bind(address);
    if (socketPath !== undefined) {
      // A socket file left by a crashed process would make bind fail.
      await rm(socketPath, { force: true });
      await this.#bind(`unix:${socketPath}`);
    }
    this.#options.logger.info({ address, tcp_port: tcpPort, socket: socketPath }, 'gRPC Check service listening');
    return { tcpPort, socketPath };
  }

  /** Stops accepting calls, lets in-flight calls finish for up to `graceMs`, then closes. */
  async stop(graceMs = 5_000): Promise<void> {
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

  #bind(target: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error, port) => {
        if (error === null) resolve(port);
        else reject(error);
      });
    });
  }

  #handlers(): AuthorizationHandlers {
    const { decider, batchMaxItems } = this.#options;
    return {
      Check: (call, callback) => {
        try {
          callback(null, checkResponseToProto(decider.check(checkRequestFromProto(call.request))));
        } catch (error) {
          callback(this.#failure('Check', error));
        }
      },
      BatchCheck: (call, callback) => {
        try {
          const request = batchCheckRequestFromProto(call.request, batchMaxItems);
          callback(null, batchCheckResponseToProto(decider.batchCheck(request)));
        } catch (error) {
          callback(this.#failure('BatchCheck', error));
        }
      },
    };
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
