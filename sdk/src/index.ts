/**
 * @ipsie/sidecar-client: the app's side of the ipsie-sidecar decision API.
 * Middleware for Express, Koa and Fastify is in the `./express`, `./koa`
 * and `./fastify` entry points.
 */
export {
  SidecarClient,
  DEFAULT_BACKOFF_MS,
  DEFAULT_DEADLINE_MS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_SOCKET_PATH,
} from './sidecar_client.js';
export type { CallOptions, RetryOptions, SidecarClientOptions, TlsFiles, WatchOptions } from './sidecar_client.js';
export { SidecarClientError, isSidecarClientError } from './errors.js';
export {
  CLIENT_ERROR_REASONS,
  PLATFORM_DECISION_REASONS,
  SIDECAR_ERROR_REASONS,
  isPlatformDecisionReason,
  isSidecarErrorReason,
} from './reasons.js';
export type {
  ClientErrorReason,
  DecisionReasonCode,
  ErrorReason,
  PlatformDecisionReason,
  SidecarErrorReason,
} from './reasons.js';
export { sessionTerminator, DEFAULT_MAX_RECONNECT_MS, DEFAULT_RECONNECT_MS } from './session_terminator.js';
export type { SessionTerminator, SessionTerminatorOptions } from './session_terminator.js';
export { authorizeHttp, refusalFor } from './http_authorization.js';
export type {
  AuthorizationOptions,
  CheckMapper,
  HttpAuthorization,
  HttpRefusal,
  RefusalBody,
} from './http_authorization.js';
export type {
  Action,
  BatchCheckInput,
  BatchCheckItem,
  BatchCheckResult,
  CheckInput,
  CheckResult,
  Decision,
  JsonObject,
  JsonValue,
  Reason,
  RequestContext,
  Resource,
  Sequence,
  SessionEvent,
  SessionEventKind,
  StartSessionInput,
  OidcStartSessionInput,
  SamlStartSessionInput,
  SamlAuthnRequest,
  CreateSamlRequestInput,
  StartedSession,
  StepUpChallenge,
  Subject,
  WatchSessionsInput,
} from './types.js';
