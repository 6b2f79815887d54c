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

/**
 * A client of the Check service, for the demo, tests and benchmarks.
 * `target` is `host:port` or `unix:/path`.
 */
export function createAuthorizationClient(target: string): AuthorizationClient {
  const Client = authzProto().ipsie.sidecar.v1.Authorization;
  return new Client(target, grpc.credentials.createInsecure());
}
