/** The one converter between this package's types and the wire messages (wire.ts). */
import type {
  BatchCheckInput,
  BatchCheckResult,
  CheckInput,
  CheckResult,
  Decision,
  JsonObject,
  JsonValue,
  RequestContext,
  SessionEvent,
  SessionEventKind,
  StartSessionInput,
  CreateSamlRequestInput,
  SamlAuthnRequest,
  StartedSession,
  Subject,
} from './types.js';
import type {
  WireAction,
  WireBatchCheckRequest,
  WireBatchCheckResponse,
  WireCheckRequest,
  WireCheckResponse,
  WireContext,
  WireSessionEvent,
  WireStartSessionRequest,
  WireCreateSamlRequest,
  WireSamlRequest,
  WireStartSessionResponse,
  WireStruct,
  WireSubject,
  WireValue,
} from './wire.js';

export function checkRequestToWire(input: CheckInput): WireCheckRequest {
  return {
    tenant: input.tenant,
    subject: subjectToWire(input.subject),
    action: actionToWire(input.action),
    resource: {
      type: input.resource.type,
      id: input.resource.id ?? '',
      ...optionalStruct(input.resource.properties),
    },
    ...optionalContext(input.context),
    min_sequence: sequenceToWire(input.minSequence),
    ...(input.txnToken === undefined ? {} : { txn_token: { purpose: input.txnToken.purpose ?? '' } }),
  };
}

export function batchCheckRequestToWire(input: BatchCheckInput): WireBatchCheckRequest {
  return {
    tenant: input.tenant,
    subject: subjectToWire(input.subject),
    items: input.items.map((item) => ({
      action: actionToWire(item.action),
      resource: { type: item.resource.type, id: item.resource.id ?? '', ...optionalStruct(item.resource.properties) },
      ...optionalContext(item.context),
    })),
    ...optionalContext(input.context),
    min_sequence: sequenceToWire(input.minSequence),
  };
}

export function startSessionRequestToWire(input: StartSessionInput): WireStartSessionRequest {
  return 'samlResponse' in input
    ? {
        tenant: input.tenant,
        id_token: '',
        nonce: '',
        saml_response: input.samlResponse,
        ...optionalContext(input.context),
      }
    : {
        tenant: input.tenant,
        id_token: input.idToken,
        nonce: input.nonce ?? '',
        saml_response: '',
        ...optionalContext(input.context),
      };
}

export function createSamlRequestToWire(input: CreateSamlRequestInput): WireCreateSamlRequest {
  return {
    tenant: input.tenant,
    idp: input.idp ?? '',
    relay_state: input.relayState ?? '',
    acr_values: [...(input.acrValues ?? [])],
    comparison: input.comparison ?? '',
    force_authn: input.forceAuthn ?? false,
  };
}

export function samlRequestFromWire(message: WireSamlRequest): SamlAuthnRequest {
  return { redirectUrl: message.redirect_url, requestId: message.request_id, idp: message.idp };
}

export function checkResultFromWire(message: WireCheckResponse): CheckResult {
  return {
    ...decisionFromWire(message),
    policyVersion: message.policy_version,
    sequence: Number(message.sequence),
    ...(message.txn_token === undefined || message.txn_token === '' ? {} : { txnToken: message.txn_token }),
  };
}

export function batchCheckResultFromWire(message: WireBatchCheckResponse): BatchCheckResult {
  return {
    results: message.results.map(decisionFromWire),
    policyVersion: message.policy_version,
    sequence: Number(message.sequence),
  };
}

export function startedSessionFromWire(message: WireStartSessionResponse): StartedSession {
  return {
    sessionId: message.session_id,
    userId: message.user_id,
    expiresAt: new Date(Number(message.expires_at) * 1000),
    sequence: Number(message.sequence),
    binding: message.binding,
  };
}

const EVENT_KIND_PREFIX = 'SESSION_EVENT_KIND_';
const EVENT_KINDS: ReadonlySet<string> = new Set<SessionEventKind>([
  'SESSION_REVOKED',
  'USER_SESSIONS_REVOKED',
  'USER_DEACTIVATED',
  'USER_DELETED',
  'REAUTHENTICATION_REQUIRED',
]);

/** The event, or undefined for a kind this client does not know (a newer sidecar's). */
export function sessionEventFromWire(message: WireSessionEvent): SessionEvent | undefined {
  const kind = message.kind.startsWith(EVENT_KIND_PREFIX) ? message.kind.slice(EVENT_KIND_PREFIX.length) : '';
  if (!EVENT_KINDS.has(kind)) return undefined;
  return {
    kind: kind as SessionEventKind,
    tenant: message.tenant,
    userId: message.user_id,
    sessionId: message.session_id === '' ? undefined : message.session_id,
    reason: message.reason,
    sequence: Number(message.sequence),
    at: new Date(Number(message.at_unix_ms)),
  };
}

/**
 * @throws {TypeError} for a decision this client does not know: the caller
 * must not read an unknown answer as a permission.
 */
function decisionFromWire(message: Omit<WireCheckResponse, 'policy_version' | 'sequence'>): Decision {
  const common = {
    reasons: message.reasons.map((r) => ({ code: r.code, message: r.message })),
    decisionId: message.decision_id,
  };
  switch (message.decision) {
    case 'DECISION_ALLOW':
      return { decision: 'ALLOW', ...common };
    case 'DECISION_DENY':
      return { decision: 'DENY', ...common };
    case 'DECISION_STEP_UP': {
      const stepUp = message.step_up;
      return {
        decision: 'STEP_UP',
        ...common,
        stepUp: {
          acrValues: stepUp?.acr_values ?? [],
          maxAge: stepUp?.max_age ?? undefined,
          authorizationParams: stepUp?.authorization_params ?? {},
          wwwAuthenticate: message.www_authenticate,
          ...(stepUp?.saml_request == null ? {} : { samlRequest: samlRequestFromWire(stepUp.saml_request) }),
        },
      };
    }
    default:
      throw new TypeError(`unknown decision ${message.decision}`);
  }
}

function subjectToWire(subject: Subject): WireSubject {
  if ('sessionId' in subject) return { session_id: subject.sessionId };
  if ('userId' in subject) return { user_id: subject.userId };
  if ('identifier' in subject) return { identifier: { type: subject.identifier.type, id: subject.identifier.id } };
  if ('txnToken' in subject) return { txn_token: subject.txnToken };
  return { token: subject.token };
}

function actionToWire(action: CheckInput['action']): WireAction {
  if (typeof action === 'string') return { name: action };
  return { name: action.name, ...optionalStruct(action.properties) };
}

function optionalContext(context: RequestContext | undefined): { context?: WireContext } {
  if (context === undefined) return {};
  return {
    context: {
      ip: context.ip ?? '',
      user_agent: context.userAgent ?? '',
      device_id: context.deviceId ?? '',
      ...(context.attributes === undefined ? {} : { attributes: structToWire(context.attributes) }),
    },
  };
}

function optionalStruct(properties: JsonObject | undefined): { properties?: WireStruct } {
  return properties === undefined ? {} : { properties: structToWire(properties) };
}

function sequenceToWire(sequence: number | undefined): string {
  if (sequence === undefined) return '0';
  if (!Number.isSafeInteger(sequence) || sequence < 0) {
    throw new TypeError(`minSequence must be a non-negative integer, got ${String(sequence)}`);
  }
  return String(sequence);
}

function structToWire(object: JsonObject): WireStruct {
  const fields: Record<string, WireValue> = {};
  for (const [key, value] of Object.entries(object)) fields[key] = valueToWire(value);
  return { fields };
}

function valueToWire(value: JsonValue): WireValue {
  if (value === null) return { null_value: 'NULL_VALUE' };
  if (typeof value === 'number') return { number_value: value };
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (Array.isArray(value)) return { list_value: { values: value.map(valueToWire) } };
  return { struct_value: structToWire(value) };
}
