import { SidecarError } from '../errors.js';

/** No sampled decision with this id is on the tenant's audit trail (not sampled, or past its retention). */
export class DecisionUnknownError extends SidecarError {
  readonly code = 'ERR_EXPLAIN_DECISION_UNKNOWN';
}

/** An explanation request that is not one: a malformed decision id, a missing or malformed request. */
export class ExplainRequestError extends SidecarError {
  readonly code = 'ERR_EXPLAIN_REQUEST_INVALID';
}

/** Explanations run `opa` beside the gateway's other work: only a few at a time. */
export class ExplainBusyError extends SidecarError {
  readonly code = 'ERR_EXPLAIN_BUSY';
}
