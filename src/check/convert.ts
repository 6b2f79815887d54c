/**
 * The protobuf edge: pure functions between wire messages and domain types.
 * Nothing behind `src/check/` sees generated code.
 */
import { tenantKeyOf } from '../tenant_id.js';
import type { BatchCheckItem__Output } from './gen/ipsie/sidecar/v1/BatchCheckItem.js';
import type { BatchCheckRequest__Output } from './gen/ipsie/sidecar/v1/BatchCheckRequest.js';
import type { BatchCheckResponse } from './gen/ipsie/sidecar/v1/BatchCheckResponse.js';
import type { BatchCheckResult as BatchCheckResultProto } from './gen/ipsie/sidecar/v1/BatchCheckResult.js';
import type { CheckRequest__Output } from './gen/ipsie/sidecar/v1/CheckRequest.js';
import type { CheckResponse } from './gen/ipsie/sidecar/v1/CheckResponse.js';
import type { Decision as DecisionProto } from './gen/ipsie/sidecar/v1/Decision.js';
import type { RequestContext__Output } from './gen/ipsie/sidecar/v1/RequestContext.js';
import type { Subject__Output } from './gen/ipsie/sidecar/v1/Subject.js';
import type { SessionEvent as SessionEventProto } from './gen/ipsie/sidecar/v1/SessionEvent.js';
import type { SessionEventKind as SessionEventKindProto } from './gen/ipsie/sidecar/v1/SessionEventKind.js';
import type { WatchSessionsRequest__Output } from './gen/ipsie/sidecar/v1/WatchSessionsRequest.js';
import type { SessionEvent } from '../changes/index.js';
import { stepUpChallenge } from '../session/index.js';
import type { SignInContext, StartedSession } from '../session/index.js';
import type { StartSessionRequest__Output } from './gen/ipsie/sidecar/v1/StartSessionRequest.js';
import type { StartSessionResponse } from './gen/ipsie/sidecar/v1/StartSessionResponse.js';
import type { CreateSamlRequestRequest__Output } from './gen/ipsie/sidecar/v1/CreateSamlRequestRequest.js';
import type { CreateSamlRequestResponse } from './gen/ipsie/sidecar/v1/CreateSamlRequestResponse.js';
import type { Struct, Struct__Output } from './gen/google/protobuf/Struct.js';
import type { Value, Value__Output } from './gen/google/protobuf/Value.js';
import type {
  BatchCheckRequest,
  BatchCheckResult,
  CheckRequest,
  CheckResult,
  CheckSubject,
  CheckedAction,
  CheckedResource,
  Decision,
  RequestContext,
} from './check_request.js';
import { CheckRequestError } from './errors.js';
import { mergeContext } from './policy_input_builder.js';

type WireAction = CheckRequest__Output['action'];
type WireResource = CheckRequest__Output['resource'];

/** @throws {CheckRequestError} naming the missing or invalid field */
export function checkRequestFromProto(message: CheckRequest__Output): CheckRequest {
  return {
    tenantId: tenantFromProto(message.tenant),
    subject: subjectFromProto(message.subject),
    action: actionFromProto(message.action),
    resource: resourceFromProto(message.resource),
    context: contextFromProto(message.context),
    minSequence: sequenceFromProto(message.min_sequence),
    txnToken: message.txn_token === null ? undefined : { purpose: nonEmpty(message.txn_token.purpose) },
  };
}

/** @throws {CheckRequestError} naming the missing or invalid field, or the batch size */
export function batchCheckRequestFromProto(message: BatchCheckRequest__Output, maxItems: number): BatchCheckRequest {
  const tenantId = tenantFromProto(message.tenant);
  const subject = subjectFromProto(message.subject);
  if (message.items.length === 0) throw new CheckRequestError('ERR_CHECK_BATCH_EMPTY', 'items is empty');
  if (message.items.length > maxItems) {
    throw new CheckRequestError(
      'ERR_CHECK_BATCH_TOO_LARGE',
      `items has ${message.items.length} entries; at most ${maxItems} are allowed`,
    );
  }
  const context = contextFromProto(message.context);
  return {
    tenantId,
    subject,
    items: message.items.map((item: BatchCheckItem__Output) => ({
      action: actionFromProto(item.action),
      resource: resourceFromProto(item.resource),
      context: mergeContext(context, contextFromProto(item.context)),
    })),
    context,
    minSequence: sequenceFromProto(message.min_sequence),
  };
}

export function checkResponseToProto(result: CheckResult): CheckResponse {
  return {
    ...decisionToProto(result.decision),
    policy_version: result.policyVersion,
    sequence: String(result.sequence),
    txn_token: result.txnToken ?? '',
  };
}

export function batchCheckResponseToProto(result: BatchCheckResult): BatchCheckResponse {
  return {
    results: result.decisions.map(decisionToProto),
    policy_version: result.policyVersion,
    sequence: String(result.sequence),
  };
}

const DECISIONS: Record<Decision['kind'], DecisionProto> = {
  allow: 'DECISION_ALLOW',
  deny: 'DECISION_DENY',
  step_up: 'DECISION_STEP_UP',
};

function decisionToProto(decision: Decision): BatchCheckResultProto {
  const { stepUp } = decision;
  return {
    decision: DECISIONS[decision.kind],
    reasons: decision.reasons.map((r) => ({ code: r.code, message: r.message })),
    step_up:
      stepUp === undefined
        ? null
        : {
            acr_values: [...stepUp.acrValues],
            ...(stepUp.maxAge === undefined ? {} : { max_age: stepUp.maxAge }),
            authorization_params: { ...stepUp.authorizationParams },
            ...(stepUp.samlRequest === undefined
              ? {}
              : { saml_request: createSamlResponseToProto(stepUp.samlRequest) }),
          },
    decision_id: decision.decisionId,
    www_authenticate: stepUp === undefined ? '' : stepUpChallenge(stepUp),
  };
}

export interface StartSessionInput {
  readonly tenantId: string;
  /** What the app presents: an OIDC ID token (with the request's nonce), or a SAML Response. */
  readonly assertion:
    | { readonly kind: 'id_token'; readonly idToken: string; readonly nonce: string | undefined }
    | { readonly kind: 'saml_response'; readonly samlResponse: string };
  readonly context: SignInContext;
}

/** @throws {CheckRequestError} naming the missing or invalid field */
export function startSessionRequestFromProto(message: StartSessionRequest__Output): StartSessionInput {
  const tenantId = tenantFromProto(message.tenant);
  if (message.id_token === '' && message.saml_response === '') {
    throw new CheckRequestError('ERR_CHECK_TOKEN_MISSING', 'id_token or saml_response is required');
  }
  if (message.id_token !== '' && message.saml_response !== '') {
    throw new CheckRequestError('ERR_CHECK_SIGNIN_INVALID', 'set one of id_token and saml_response, not both');
  }
  if (message.saml_response !== '' && message.nonce !== '') {
    throw new CheckRequestError('ERR_CHECK_SIGNIN_INVALID', 'a SAML sign-in has no nonce: InResponseTo binds it');
  }
  const context = contextFromProto(message.context);
  return {
    tenantId,
    assertion:
      message.id_token !== ''
        ? { kind: 'id_token', idToken: message.id_token, nonce: nonEmpty(message.nonce) }
        : { kind: 'saml_response', samlResponse: message.saml_response },
    context: { ip: context.ip, deviceId: context.deviceId },
  };
}

export interface CreateSamlRequestInput {
  readonly tenantId: string;
  readonly options: {
    readonly idp: string | undefined;
    readonly relayState: string | undefined;
    readonly acrValues: readonly string[];
    readonly comparison: 'exact' | 'minimum';
    readonly forceAuthn: boolean;
  };
}

/** SAML bindings §3.4.3: RelayState is at most 80 bytes. */
const MAX_RELAY_STATE_BYTES = 80;

/** @throws {CheckRequestError} naming the invalid field */
export function createSamlRequestFromProto(message: CreateSamlRequestRequest__Output): CreateSamlRequestInput {
  const tenantId = tenantFromProto(message.tenant);
  if (Buffer.byteLength(message.relay_state) > MAX_RELAY_STATE_BYTES) {
    throw new CheckRequestError('ERR_CHECK_SIGNIN_INVALID', `relay_state is over ${MAX_RELAY_STATE_BYTES} bytes`);
  }
  const comparison = message.comparison === '' ? 'exact' : message.comparison;
  if (comparison !== 'exact' && comparison !== 'minimum') {
    throw new CheckRequestError('ERR_CHECK_SIGNIN_INVALID', 'comparison must be exact or minimum');
  }
  return {
    tenantId,
    options: {
      idp: nonEmpty(message.idp),
      relayState: nonEmpty(message.relay_state),
      acrValues: message.acr_values.filter((v) => v !== ''),
      comparison,
      forceAuthn: message.force_authn,
    },
  };
}

export function createSamlResponseToProto(issued: {
  readonly redirectUrl: string;
  readonly requestId: string;
  readonly idp: string;
}): CreateSamlRequestResponse {
  return { redirect_url: issued.redirectUrl, request_id: issued.requestId, idp: issued.idp };
}

export function startSessionResponseToProto(started: StartedSession): StartSessionResponse {
  return {
    session_id: started.sessionId,
    user_id: started.userId,
    expires_at: String(started.expiresAt),
    sequence: String(started.sequence),
    binding: started.binding,
  };
}

/** Most users one watch may name; beyond that, watch the whole tenant. */
export const WATCH_MAX_USERS = 10_000;

export interface WatchSessionsRequest {
  readonly tenantId: string;
  /** Empty for every user. */
  readonly userIds: ReadonlySet<string>;
}

/** @throws {CheckRequestError} naming the invalid field */
export function watchSessionsRequestFromProto(message: WatchSessionsRequest__Output): WatchSessionsRequest {
  const tenantId = tenantFromProto(message.tenant);
  if (message.user_ids.length > WATCH_MAX_USERS) {
    throw new CheckRequestError(
      'ERR_CHECK_WATCH_TOO_MANY_USERS',
      `user_ids has ${message.user_ids.length} entries; at most ${WATCH_MAX_USERS}, or none for the whole tenant`,
    );
  }
  return { tenantId, userIds: new Set(message.user_ids.filter((id) => id !== '')) };
}

const SESSION_EVENT_KINDS: Record<SessionEvent['kind'], SessionEventKindProto> = {
  session_revoked: 'SESSION_EVENT_KIND_SESSION_REVOKED',
  user_sessions_revoked: 'SESSION_EVENT_KIND_USER_SESSIONS_REVOKED',
  user_deactivated: 'SESSION_EVENT_KIND_USER_DEACTIVATED',
  user_deleted: 'SESSION_EVENT_KIND_USER_DELETED',
  reauthentication_required: 'SESSION_EVENT_KIND_REAUTHENTICATION_REQUIRED',
};

export function sessionEventToProto(event: SessionEvent): SessionEventProto {
  return {
    kind: SESSION_EVENT_KINDS[event.kind],
    tenant: event.tenantId,
    user_id: event.userId,
    session_id: event.sessionId ?? '',
    reason: event.reason,
    sequence: String(event.sequence),
    at_unix_ms: String(event.at),
  };
}

function tenantFromProto(tenant: string): string {
  if (tenant === '') throw new CheckRequestError('ERR_CHECK_TENANT_MISSING', 'tenant is required');
  // A sandbox is asked for by its name (acme.sandbox); inside, it is its key (acme-sandbox).
  const key = tenantKeyOf(tenant);
  if (key !== undefined) return key;
  throw new CheckRequestError('ERR_CHECK_TENANT_INVALID', `tenant "${tenant.slice(0, 64)}" is not a valid tenant id`);
}

function subjectFromProto(subject: Subject__Output | null): CheckSubject {
  switch (subject?.identity) {
    case 'session_id':
      if (subject.session_id) return { kind: 'session', sessionId: subject.session_id };
      break;
    case 'user_id':
      if (subject.user_id) return { kind: 'user', userId: subject.user_id };
      break;
    case 'token':
      if (subject.token) return { kind: 'token', token: subject.token };
      break;
    case 'txn_token':
      if (subject.txn_token) return { kind: 'txn_token', token: subject.txn_token };
      break;
    case 'identifier':
      if (subject.identifier?.type && subject.identifier.id) {
        return { kind: 'identifier', type: subject.identifier.type, id: subject.identifier.id };
      }
      break;
    case undefined:
      break;
  }
  throw new CheckRequestError(
    'ERR_CHECK_SUBJECT_MISSING',
    'subject needs one of session_id, user_id, token, identifier (type and id) or txn_token',
  );
}

function actionFromProto(action: WireAction): CheckedAction {
  if (!action?.name) throw new CheckRequestError('ERR_CHECK_ACTION_MISSING', 'action.name is required');
  return { name: action.name, properties: jsonFromStruct(action.properties) };
}

function resourceFromProto(resource: WireResource): CheckedResource {
  if (!resource?.type) throw new CheckRequestError('ERR_CHECK_RESOURCE_MISSING', 'resource.type is required');
  return { type: resource.type, id: resource.id, properties: jsonFromStruct(resource.properties) };
}

function contextFromProto(context: RequestContext__Output | null): RequestContext {
  return {
    ip: nonEmpty(context?.ip),
    userAgent: nonEmpty(context?.user_agent),
    deviceId: nonEmpty(context?.device_id),
    attributes: jsonFromStruct(context?.attributes ?? null),
  };
}

/** proto3 has no absent strings: empty means not given. */
function nonEmpty(value: string | undefined): string | undefined {
  return value === '' ? undefined : value;
}

function sequenceFromProto(sequence: string): number {
  // JetStream sequences are uint64; beyond 2^53 they would lose precision.
  const value = Number(sequence);
  return Number.isSafeInteger(value) ? value : Number.MAX_SAFE_INTEGER;
}

/** A `google.protobuf.Struct` as received, as a JSON object (an absent one is empty). */
export function jsonFromStruct(struct: Struct__Output | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (struct === null) return out;
  for (const [key, value] of Object.entries(struct.fields)) out[key] = jsonFromValue(value);
  return out;
}

function jsonFromValue(value: Value__Output): unknown {
  switch (value.kind) {
    case 'structValue':
      return jsonFromStruct(value.structValue ?? null);
    case 'listValue':
      return (value.listValue?.values ?? []).map(jsonFromValue);
    case 'stringValue':
      return value.stringValue;
    case 'numberValue':
      return value.numberValue;
    case 'boolValue':
      return value.boolValue;
    case 'nullValue':
    case undefined:
    default:
      return null;
  }
}

/** For clients: a JSON object as a `google.protobuf.Struct`. */
export function structFromJson(object: Readonly<Record<string, unknown>>): Struct {
  const fields: Record<string, Value> = {};
  for (const [key, value] of Object.entries(object)) fields[key] = valueFromJson(value);
  return { fields };
}

function valueFromJson(value: unknown): Value {
  if (value === null || value === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(valueFromJson) } };
  if (typeof value === 'object') return { structValue: structFromJson(value as Record<string, unknown>) };
  if (typeof value === 'bigint') return { numberValue: Number(value) };
  return { nullValue: 'NULL_VALUE' };
}
