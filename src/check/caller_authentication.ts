import { chmod, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TokenDigests, bearerToken } from '../bearer_token.js';
import type { TlsFiles } from '../config/index.js';
import { CallerUnauthenticatedError } from './errors.js';
import { serviceErrorFrom } from './status.js';

/**
 * Credentials of the TCP listener: TLS from files re-read on a timer, with
 * client certificates required and verified against the CA file when one is
 * set (mutual TLS); insecure only where the config allowed it (caller tokens
 * on loopback).
 */
export function tcpServerCredentials(tls: TlsFiles | undefined): grpc.ServerCredentials {
  if (tls === undefined) return grpc.ServerCredentials.createInsecure();
  const identity = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: tls.certFile,
    privateKeyFile: tls.keyFile,
    refreshIntervalMs: tls.reloadMs,
  });
  const clientCa =
    tls.clientCaFile === undefined
      ? null
      : new grpc.experimental.FileWatcherCertificateProvider({
          caCertificateFile: tls.clientCaFile,
          refreshIntervalMs: tls.reloadMs,
        });
  // grpc-js names this function's parameters (ca, identity) but constructs (identity, ca): pass identity first.
  return grpc.experimental.createCertificateProviderServerCredentials(identity, clientCa, clientCa !== null);
}

/**
 * Refuses every call whose `authorization` metadata is not `Bearer <token>`
 * for one of the configured token digests: UNAUTHENTICATED with reason
 * CALLER_UNAUTHENTICATED, before any handler runs.
 */
export function callerTokenInterceptor(sha256Hex: readonly string[]): grpc.ServerInterceptor {
  const digests = new TokenDigests(sha256Hex);
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) => {
        next({
          onReceiveMetadata: (metadata, proceed) => {
            const presented = metadata.get('authorization')[0];
            if (digests.accepts(bearerToken(typeof presented === 'string' ? presented : undefined))) {
              proceed(metadata);
              return;
            }
            const error = serviceErrorFrom(
              new CallerUnauthenticatedError('this sidecar requires a caller token: authorization: Bearer <token>'),
            );
            call.sendStatus({
              code: error.code ?? grpc.status.UNAUTHENTICATED,
              details: error.details ?? '',
              metadata: error.metadata ?? new grpc.Metadata(),
            });
          },
        });
      },
    });
}

/** Makes the socket's folder, and after binding restricts the socket file to `mode`. */
export async function prepareSocketDirectory(socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true, mode: 0o750 });
}

export async function restrictSocket(socketPath: string, mode: number): Promise<void> {
  await chmod(socketPath, mode);
}
