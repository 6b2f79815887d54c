import * as grpc from '@grpc/grpc-js';
import type { AuthorizationClient } from './gen/ipsie/sidecar/v1/Authorization.js';
import { authzProto } from './proto.js';

export type { AuthorizationClient };
export type { CheckRequest as CheckRequestMessage } from './gen/ipsie/sidecar/v1/CheckRequest.js';
export type { CheckResponse__Output as CheckResponseMessage } from './gen/ipsie/sidecar/v1/CheckResponse.js';
export type { BatchCheckRequest as BatchCheckRequestMessage } from './gen/ipsie/sidecar/v1/BatchCheckRequest.js';
export type { BatchCheckResponse__Output as BatchCheckResponseMessage } from './gen/ipsie/sidecar/v1/BatchCheckResponse.js';
export type { SessionEvent__Output as SessionEventMessage } from './gen/ipsie/sidecar/v1/SessionEvent.js';
export type { WatchSessionsRequest as WatchSessionsRequestMessage } from './gen/ipsie/sidecar/v1/WatchSessionsRequest.js';
export type { StartSessionRequest as StartSessionRequestMessage } from './gen/ipsie/sidecar/v1/StartSessionRequest.js';
export type { StartSessionResponse__Output as StartSessionResponseMessage } from './gen/ipsie/sidecar/v1/StartSessionResponse.js';
export type { CreateSamlRequestRequest as CreateSamlRequestMessage } from './gen/ipsie/sidecar/v1/CreateSamlRequestRequest.js';
export type { CreateSamlRequestResponse__Output as CreateSamlResponseMessage } from './gen/ipsie/sidecar/v1/CreateSamlRequestResponse.js';

export interface AuthorizationClientOptions {
  /** Sent as `authorization: Bearer <token>` on every call (IPSIE_GRPC_CALLER_TOKEN_SHA256). */
  readonly callerToken?: string | undefined;
  /** TLS to the sidecar: its CA, and our certificate and key for mutual TLS. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer } | undefined;
  /**
   * A connection of its own rather than one shared with the process's other
   * clients of the same target: a sidecar run as several processes
   * (`IPSIE_SIDECAR_PROCESSES`) deals connections, not calls, to them.
   * @defaultValue false
   */
  readonly ownConnection?: boolean | undefined;
}

/**
 * A client of the Check service, for the demo, tests and benchmarks.
 * `target` is `host:port` or `unix:/path`.
 */
export function createAuthorizationClient(
  target: string,
  options: AuthorizationClientOptions = {},
): AuthorizationClient {
  const Client = authzProto().ipsie.sidecar.v1.Authorization;
  const { tls, callerToken } = options;
  const channelOptions: grpc.ChannelOptions =
    options.ownConnection === true ? { 'grpc.use_local_subchannel_pool': 1 } : {};
  let credentials =
    tls === undefined
      ? grpc.credentials.createInsecure()
      : grpc.credentials.createSsl(tls.ca, tls.key ?? null, tls.cert ?? null);
  if (callerToken !== undefined) {
    const token = callerToken;
    const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
      const metadata = new grpc.Metadata();
      metadata.set('authorization', `Bearer ${token}`);
      callback(null, metadata);
    });
    // grpc-js sends call credentials only over secure channels; on an insecure one, add the header per call.
    if (tls !== undefined) credentials = grpc.credentials.combineChannelCredentials(credentials, bearer);
    else return new Client(target, credentials, { ...channelOptions, interceptors: [bearerInterceptor(token)] });
  }
  return new Client(target, credentials, channelOptions);
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
