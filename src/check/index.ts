export { CheckServer } from './grpc_server.js';
export { prepareSocketDirectory } from './caller_authentication.js';
export type { BoundAddresses, CheckServerOptions, SessionEventFeed } from './grpc_server.js';
export { Decider, DEFAULT_MAX_SEQUENCE_WAIT_MS } from './decider.js';
export type { DecidedRequest, DeciderOptions, DecisionObserver, PresentedSession, StoreFreshness } from './decider.js';
export { createAuthorizationClient } from './client.js';
export type { AuthorizationClientOptions } from './client.js';
export type {
  AuthorizationClient,
  BatchCheckRequestMessage,
  BatchCheckResponseMessage,
  CheckRequestMessage,
  CheckResponseMessage,
  SessionEventMessage,
  StartSessionRequestMessage,
  CreateSamlRequestMessage,
  CreateSamlResponseMessage,
  StartSessionResponseMessage,
  WatchSessionsRequestMessage,
} from './client.js';
export { jsonFromStruct, structFromJson } from './convert.js';
export { dryRun, dryRunRecorded, DRY_RUN_MAX_REQUESTS, replayDecision } from './policy_dry_run.js';
export type {
  DryRunAnswer,
  DryRunOutcome,
  RecordedDecision,
  RecordedDryRunOutcome,
  ReplayedDecision,
} from './policy_dry_run.js';
export { reasonLabel, SIDECAR_REASON_CODES, sidecarReasonMeaning, TENANT_DEFINED_REASON } from './decision_reasons.js';
export {
  CheckRequestError,
  DryRunRequestError,
  SequenceNotReachedError,
  SessionEventsUnavailableError,
  SubjectFormUnsupportedError,
  WatcherTooSlowError,
} from './errors.js';
export type { CheckRequestErrorCode } from './errors.js';
export type {
  BatchCheckRequest,
  BatchCheckResult,
  CheckRequest,
  CheckResult,
  CheckSubject,
  Decision,
} from './check_request.js';
export { authzProto } from './proto.js';
export { errorReasonOf, ERROR_DOMAIN, isExpectedError, serviceErrorFrom } from './status.js';
export type { ResourcesHandlers } from './gen/ipsie/sidecar/v1/Resources.js';
