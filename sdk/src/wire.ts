/**
 * The gRPC edge of the package: the service loaded from the `.proto` files
 * shipped in `proto/`, the wire messages as @grpc/proto-loader presents them
 * (snake_case, enums as strings, 64-bit integers as strings), and the
 * `google.rpc.ErrorInfo` read from a failed call. Nothing outside this file
 * and `convert.ts` sees wire shapes.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

/** `proto/` of this package (this file is `src/` or `dist/`). */
const PROTO_ROOT = fileURLToPath(new URL('../proto/', import.meta.url));

/** The sidecar's `google.rpc.ErrorInfo.domain`. */
export const ERROR_DOMAIN = 'ipsie-sidecar';

export interface WireStruct {
  fields: Record<string, WireValue>;
}

export type WireValue =
  | { null_value: 'NULL_VALUE' }
  | { number_value: number }
  | { string_value: string }
  | { bool_value: boolean }
  | { struct_value: WireStruct }
  | { list_value: { values: WireValue[] } };

export interface WireSubject {
  session_id?: string;
  user_id?: string;
  token?: string;
  identifier?: { type: string; id: string };
  txn_token?: string;
}

export interface WireContext {
  ip?: string;
  user_agent?: string;
  device_id?: string;
  attributes?: WireStruct;
}

export interface WireAction {
  name: string;
  properties?: WireStruct;
}

export interface WireResource {
  type: string;
  id?: string;
  properties?: WireStruct;
}

export interface WireCheckRequest {
  tenant: string;
  subject: WireSubject;
  action: WireAction;
  resource: WireResource;
  context?: WireContext;
  min_sequence: string;
  txn_token?: { purpose: string };
}

export interface WireBatchCheckRequest {
  tenant: string;
  subject: WireSubject;
  items: { action: WireAction; resource: WireResource; context?: WireContext }[];
  context?: WireContext;
  min_sequence: string;
}

export interface WireReason {
  code: string;
  message: string;
}

export interface WireStepUp {
  acr_values: string[];
  max_age?: number | null;
  authorization_params: Record<string, string>;
  saml_request?: WireSamlRequest | null;
}

export interface WireSamlRequest {
  redirect_url: string;
  request_id: string;
  idp: string;
}

export interface WireCreateSamlRequest {
  tenant: string;
  idp: string;
  relay_state: string;
  acr_values: string[];
  comparison: string;
  force_authn: boolean;
}

export type WireDecision = 'DECISION_UNSPECIFIED' | 'DECISION_ALLOW' | 'DECISION_DENY' | 'DECISION_STEP_UP';

export interface WireCheckResponse {
  decision: WireDecision;
  reasons: WireReason[];
  step_up: WireStepUp | null;
  decision_id: string;
  policy_version: string;
  sequence: string;
  www_authenticate: string;
  txn_token?: string;
}

export interface WireBatchCheckResponse {
  results: Omit<WireCheckResponse, 'policy_version' | 'sequence'>[];
  policy_version: string;
  sequence: string;
}

export interface WireStartSessionRequest {
  tenant: string;
  id_token: string;
  nonce: string;
  context?: WireContext;
  saml_response: string;
}

export interface WireStartSessionResponse {
  session_id: string;
  user_id: string;
  expires_at: string;
  sequence: string;
  binding: string;
}

export interface WireWatchSessionsRequest {
  tenant: string;
  user_ids: string[];
}

export interface WireSessionEvent {
  kind: string;
  tenant: string;
  user_id: string;
  session_id: string;
  reason: string;
  sequence: string;
  at_unix_ms: string;
}

type Callback<T> = (error: grpc.ServiceError | null, response?: T) => void;

/** The `ipsie.sidecar.v1.Authorization` stub, typed by the messages above. */
export interface AuthorizationStub extends grpc.Client {
  check(
    request: WireCheckRequest,
    options: grpc.CallOptions,
    callback: Callback<WireCheckResponse>,
  ): grpc.ClientUnaryCall;
  batchCheck(
    request: WireBatchCheckRequest,
    options: grpc.CallOptions,
    callback: Callback<WireBatchCheckResponse>,
  ): grpc.ClientUnaryCall;
  startSession(
    request: WireStartSessionRequest,
    options: grpc.CallOptions,
    callback: Callback<WireStartSessionResponse>,
  ): grpc.ClientUnaryCall;
  createSamlRequest(
    request: WireCreateSamlRequest,
    options: grpc.CallOptions,
    callback: Callback<WireSamlRequest>,
  ): grpc.ClientUnaryCall;
  watchSessions(
    request: WireWatchSessionsRequest,
    options?: grpc.CallOptions,
  ): grpc.ClientReadableStream<WireSessionEvent>;
}

type StubConstructor = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => AuthorizationStub;

let stubConstructor: StubConstructor | undefined;

/** The service's client class, loaded once. */
export function authorizationStub(): StubConstructor {
  if (stubConstructor === undefined) {
    const definition = protoLoader.loadSync('ipsie/sidecar/v1/authz.proto', {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
      includeDirs: [PROTO_ROOT],
    });
    const loaded = grpc.loadPackageDefinition(definition) as unknown as {
      ipsie: { sidecar: { v1: { Authorization: StubConstructor } } };
    };
    stubConstructor = loaded.ipsie.sidecar.v1.Authorization;
  }
  return stubConstructor;
}

let rpcTypes: { status: protobuf.Type; errorInfo: protobuf.Type } | undefined;

function statusTypes(): { status: protobuf.Type; errorInfo: protobuf.Type } {
  if (rpcTypes === undefined) {
    const root = new protobuf.Root();
    // google/protobuf/* are protobufjs's bundled common types; the rest is ours.
    root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : PROTO_ROOT + target);
    root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
    rpcTypes = { status: root.lookupType('google.rpc.Status'), errorInfo: root.lookupType('google.rpc.ErrorInfo') };
  }
  return rpcTypes;
}

/** The sidecar's ErrorInfo reason in a failed call's `grpc-status-details-bin`, if there is one. */
export function errorInfoReason(metadata: grpc.Metadata | undefined): string | undefined {
  const raw = metadata?.get('grpc-status-details-bin')[0];
  if (!(raw instanceof Buffer)) return undefined;
  const types = statusTypes();
  try {
    const status = types.status.toObject(types.status.decode(raw)) as {
      details?: { type_url?: string; value?: Uint8Array }[];
    };
    for (const detail of status.details ?? []) {
      if (detail.type_url !== 'type.googleapis.com/google.rpc.ErrorInfo' || detail.value === undefined) continue;
      const info = types.errorInfo.toObject(types.errorInfo.decode(detail.value)) as {
        reason?: string;
        domain?: string;
      };
      if (info.domain === ERROR_DOMAIN) return info.reason;
    }
  } catch {
    // Not a google.rpc.Status (a proxy in between): no reason.
  }
  return undefined;
}
