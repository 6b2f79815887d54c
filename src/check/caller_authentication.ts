import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TokenDigests, bearerToken } from '../bearer_token.js';
import { ConfigInvalidError } from '../config/index.js';
import type { TlsFiles } from '../config/index.js';
import { CallerUnauthenticatedError } from './errors.js';
import { serviceErrorFrom } from './status.js';

/**
 * Credentials of the TCP listener: TLS from files re-read on a timer, with
 * client certificates required and verified against the CA file when one is
 * set (mutual TLS); insecure only where the config allowed it (caller tokens
 * on loopback). Resolves once the files have been read: grpc-js reads them
 * asynchronously, and a listener bound before that refuses every handshake.
 * Call `bound()` once the server is bound with them (it then watches the files).
 */
export async function tcpServerCredentials(
  tls: TlsFiles | undefined,
): Promise<{ readonly credentials: grpc.ServerCredentials; bound(): void }> {
  if (tls === undefined) return { credentials: grpc.ServerCredentials.createInsecure(), bound: () => undefined };
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
  const reads = await Promise.all([
    firstRead(identity, 'identity', ['IPSIE_GRPC_TLS_CERT_FILE', 'IPSIE_GRPC_TLS_KEY_FILE']),
    clientCa === null ? undefined : firstRead(clientCa, 'ca', ['IPSIE_GRPC_TLS_CLIENT_CA_FILE']),
  ]);
  return {
    // grpc-js names this function's parameters (ca, identity) but constructs (identity, ca): pass identity first.
    credentials: grpc.experimental.createCertificateProviderServerCredentials(identity, clientCa, clientCa !== null),
    // The server watches the files now: let go, or the provider's timer would outlive the server.
    bound: () => {
      for (const release of reads) release?.();
    },
  };
}

/**
 * Waits for the provider's first read. Resolves with the release of the listener waited with: it stays
 * until then, since removing a provider's last listener stops its file watch.
 */
function firstRead(
  provider: grpc.experimental.FileWatcherCertificateProvider,
  kind: 'identity' | 'ca',
  keys: readonly string[],
): Promise<() => void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const release = (): void => {
      if (kind === 'identity') provider.removeIdentityCertificateListener(settle);
      else provider.removeCaCertificateListener(settle);
    };
    const settle = (update: object | null): void => {
      if (settled) return;
      settled = true;
      if (update !== null) {
        resolve(release);
        return;
      }
      release();
      reject(new ConfigInvalidError(keys, 'the TLS files could not be read'));
    };
    if (kind === 'identity') provider.addIdentityCertificateListener(settle);
    else provider.addCaCertificateListener(settle);
  });
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

/** What is wrong with the socket's folder, if anything: who else could replace the socket there. */
export async function prepareSocketDirectory(socketPath: string): Promise<string | undefined> {
  const dir = dirname(socketPath);
  await mkdir(dir, { recursive: true, mode: 0o750 });
  const info = await stat(dir);
  // Writable by anyone, without the sticky bit: anyone could put a socket of their own at the path.
  if ((info.mode & 0o002) !== 0 && (info.mode & 0o1000) === 0) {
    return `${dir} is writable by every user: whoever can write there can replace the socket`;
  }
  return undefined;
}

/**
 * Runs `bind` with the umask that creates the socket with `mode` and nothing
 * more: no moment with wider permissions, and no chmod afterwards (which
 * would follow a symlink put at the path in between).
 */
export async function withSocketMode<T>(mode: number, bind: () => Promise<T>): Promise<T> {
  const previous = process.umask(0o777 & ~mode);
  try {
    return await bind();
  } finally {
    process.umask(previous);
  }
}
