export { CheckServer } from './grpc_server.js';
export type { BoundAddresses, CheckServerOptions } from './grpc_server.js';
export { Decider } from './decider.js';
export type { DeciderOptions } from './decider.js';
export { createAuthorizationClient } from './client.js';
export type {
  AuthorizationClient,
  BatchCheckRequestMessage,
  BatchCheckResponseMessage,
  CheckRequestMessage,
  CheckResponseMessage,
} from './client.js';
export { structFromJson } from './convert.js';
export { errorReasonOf, ERROR_DOMAIN } from './status.js';
export { CheckRequestError, SequenceNotReachedError, SubjectFormUnsupportedError } from './errors.js';
export type { CheckRequestErrorCode } from './errors.js';
export type { BatchCheckRequest, BatchCheckResult, CheckRequest, CheckResult, Decision } from './check_request.js';
