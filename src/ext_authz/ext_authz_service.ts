import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { CheckRequest, CheckResult, Decider } from '../check/index.js';
import { isSidecarError } from '../errors.js';
import type { KindTable } from '../errors.js';
import type { Logger } from '../logging/index.js';
import { stepUpChallenge } from '../session/index.js';
import { tenantKeyOf } from '../tenant_id.js';

/** google.rpc.Code values Envoy reads in `CheckResponse.status`. */
const RPC = { OK: 0, INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, UNAVAILABLE: 14, UNAUTHENTICATED: 16 } as const;

/**
 * The denial Envoy sends for a Check that ended in an error, by kind: a
 * request the sidecar cannot decide as configured is the route's fault
 * (400); one the tenant may not be served at all (its key revoked) is 403;
 * anything else is "retry" (503). Never an allow.
 */
const DENIAL_OF_KIND: KindTable<'bad_request' | 'forbidden' | 'unavailable'> = {
  invalid_request: 'bad_request',
  unprocessable: 'bad_request',
  unauthenticated: 'unavailable',
  permission_denied: 'forbidden',
  not_found: 'bad_request',
  method_not_allowed: 'bad_request',
  conflict: 'unavailable',
  precondition_failed: 'unavailable',
  payload_too_large: 'bad_request',
  unsupported_media_type: 'bad_request',
  resource_exhausted: 'unavailable',
  unavailable: 'unavailable',
  upstream_failed: 'unavailable',
  timeout: 'unavailable',
  not_implemented: 'bad_request',
  internal: 'unavailable',
};

/** Reasons that mean "who are you?" (401), not "you may not" (403). */
const UNAUTHENTICATED_REASONS = /^(TOKEN_|SESSION_UNKNOWN$|SESSION_EXPIRED$|SUBJECT_UNKNOWN$|AUTHENTICATION_REQUIRED$)/;

interface HttpRequestAttributes {
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  readonly scheme?: string;
  readonly headers?: Record<string, string>;
}

/** A `google.protobuf.Struct` as proto-loader gives it (oneofs on). */
interface StructMessage {
  readonly fields?: Record<string, { readonly stringValue?: string; readonly structValue?: StructMessage }>;
}

interface AttributeContext {
  readonly source?: { readonly address?: { readonly socket_address?: { readonly address?: string } } };
  readonly request?: { readonly http?: HttpRequestAttributes };
  readonly context_extensions?: Record<string, string>;
  /** Dynamic metadata the route forwards (`metadata_context_namespaces`): Envoy's verified JWT payload. */
  readonly metadata_context?: { readonly filter_metadata?: Record<string, StructMessage> };
}

/** Where Envoy's `jwt_authn` filter puts a verified token's payload (`payload_in_metadata`). */
const JWT_AUTHN_NAMESPACE = 'envoy.filters.http.jwt_authn';
const DEFAULT_JWT_PAYLOAD_KEY = 'jwt_payload';

interface HeaderValueOption {
  readonly header: { readonly key: string; readonly value: string };
  readonly append_action?: string;
}

/** The `envoy.service.auth.v3.CheckResponse` we send (proto-loader JSON form). */
export interface ExtAuthzResponse {
  readonly status: { readonly code: number; readonly message: string };
  readonly ok_response?: {
    readonly headers: readonly HeaderValueOption[];
    readonly headers_to_remove: readonly string[];
  };
  readonly denied_response?: {
    readonly status: { readonly code: string };
    readonly headers: readonly HeaderValueOption[];
    readonly body: string;
  };
}

/** The loaded `envoy.service.auth.v3` package: its service definition, and a client constructor (tests, tools). */
export interface EnvoyAuthPackage {
  readonly envoy: {
    readonly service: { readonly auth: { readonly v3: { readonly Authorization: grpc.ServiceClientConstructor } } };
  };
}

let loadedPackage: EnvoyAuthPackage | undefined;

/** `envoy.service.auth.v3`, loaded once from the Envoy protos `@grpc/grpc-js-xds` ships. */
export function envoyAuthPackage(): EnvoyAuthPackage {
  if (loadedPackage !== undefined) return loadedPackage;
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
  const loaded = protoLoader.loadSync('envoy/service/auth/v3/external_auth.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'].map((d) => join(deps, d)),
  });
  loadedPackage = grpc.loadPackageDefinition(loaded) as unknown as EnvoyAuthPackage;
  return loadedPackage;
}

export function extAuthzServiceDefinition(): grpc.ServiceDefinition {
  return envoyAuthPackage().envoy.service.auth.v3.Authorization.service;
}

export interface ExtAuthzOptions {
  readonly decider: Pick<Decider, 'check'>;
  readonly logger: Logger;
}

/**
 * Envoy's external authorization (`ext_authz` v3, gRPC) in front of an app:
 * each HTTP request becomes a Check. The tenant comes from the route's
 * `context_extensions.ipsie_tenant` (else the `x-ipsie-tenant` header); the
 * subject from the bearer token (else `x-ipsie-session`); the action from
 * `context_extensions.ipsie_action` (else the lower-cased method); the
 * resource is `{type: ipsie_resource_type ?? "http", id: path}` with method,
 * path, host and query as properties. Allow: OK with the decision id and
 * policy version as request headers. Deny: 403 (401 when the subject is not
 * authenticated). Step-up: 401 with the RFC 9470 `WWW-Authenticate`.
 */
export function extAuthzImplementation(options: ExtAuthzOptions): grpc.UntypedServiceImplementation {
  return {
    Check: (
      call: grpc.ServerUnaryCall<{ attributes?: AttributeContext }, ExtAuthzResponse>,
      callback: grpc.sendUnaryData<ExtAuthzResponse>,
    ) => {
      void answer(call.request.attributes ?? {}, options).then((response) => {
        callback(null, response);
      });
    },
  };
}

async function answer(attributes: AttributeContext, options: ExtAuthzOptions): Promise<ExtAuthzResponse> {
  const http = attributes.request?.http ?? {};
  const headers = http.headers ?? {};
  const extensions = attributes.context_extensions ?? {};
  // A sandbox by its name (acme.sandbox) or its key.
  const tenant = tenantKeyOf(extensions['ipsie_tenant'] ?? headers['x-ipsie-tenant'] ?? '');
  if (tenant === undefined) {
    return denied(RPC.INVALID_ARGUMENT, 'BadRequest', 'no tenant: set context_extensions.ipsie_tenant on the route');
  }
  const subject = subjectOf(attributes, headers, extensions);
  if (subject === undefined) {
    return denied(RPC.UNAUTHENTICATED, 'Unauthorized', 'authentication required', [['www-authenticate', 'Bearer']]);
  }
  const [path = '/', query = ''] = (http.path ?? '/').split('?', 2);
  const method = (http.method ?? 'GET').toUpperCase();
  const forwarded = headers['x-forwarded-for']?.split(',')[0]?.trim();
  const request: CheckRequest = {
    tenantId: tenant,
    subject,
    action: { name: extensions['ipsie_action'] ?? method.toLowerCase(), properties: { method } },
    resource: {
      type: extensions['ipsie_resource_type'] ?? 'http',
      id: path,
      properties: { method, path, query, host: http.host ?? '' },
    },
    context: {
      ip: forwarded ?? attributes.source?.address?.socket_address?.address,
      userAgent: headers['user-agent'],
      deviceId: headers['x-device-id'],
      attributes: {},
    },
    minSequence: 0,
  };
  let result: CheckResult;
  try {
    result = await options.decider.check(request);
  } catch (error) {
    if (!isSidecarError(error)) options.logger.error({ err: error, tenant }, 'ext_authz check failed');
    const denial = isSidecarError(error) ? DENIAL_OF_KIND[error.kind] : 'unavailable';
    if (denial === 'bad_request') return denied(RPC.INVALID_ARGUMENT, 'BadRequest', (error as Error).message);
    if (denial === 'forbidden') return denied(RPC.PERMISSION_DENIED, 'Forbidden', (error as Error).message);
    return denied(RPC.UNAVAILABLE, 'ServiceUnavailable', 'authorization is unavailable; retry');
  }
  const { decision } = result;
  const stamp: [string, string][] = [
    ['x-ipsie-decision-id', decision.decisionId],
    ['x-ipsie-policy-version', result.policyVersion],
  ];
  if (decision.kind === 'allow') {
    return {
      status: { code: RPC.OK, message: '' },
      ok_response: {
        headers: stamp.map(([key, value]) => header(key, value)),
        // The app must never trust a client-sent copy of these.
        headers_to_remove: ['x-ipsie-session'],
      },
    };
  }
  const body = JSON.stringify({
    decision: decision.kind,
    reasons: decision.reasons.map((r) => ({ code: r.code, message: r.message })),
    ...(decision.stepUp === undefined ? {} : { step_up: decision.stepUp }),
  });
  if (decision.kind === 'step_up' && decision.stepUp !== undefined) {
    return denied(RPC.UNAUTHENTICATED, 'Unauthorized', body, [
      ...stamp,
      ['www-authenticate', stepUpChallenge(decision.stepUp)],
    ]);
  }
  const unauthenticated = decision.reasons.some((r) => UNAUTHENTICATED_REASONS.test(r.code));
  return unauthenticated
    ? denied(RPC.UNAUTHENTICATED, 'Unauthorized', body, [
        ...stamp,
        ['www-authenticate', 'Bearer error="invalid_token"'],
      ])
    : denied(RPC.PERMISSION_DENIED, 'Forbidden', body, stamp);
}

/**
 * A route with `ipsie_subject_type` names the subject by the `sub` of the token Envoy's `jwt_authn` verified
 * (its payload forwarded in `metadata_context`; key `ipsie_jwt_payload`, default `jwt_payload`), resolved as
 * that subject type of the tenant: never by a header the client could set. Otherwise the bearer token, else
 * `x-ipsie-session`. Undefined: no credentials.
 */
function subjectOf(
  attributes: AttributeContext,
  headers: Readonly<Record<string, string>>,
  extensions: Readonly<Record<string, string>>,
): CheckRequest['subject'] | undefined {
  const type = extensions['ipsie_subject_type'];
  if (type !== undefined && type !== '') {
    const verified = attributes.metadata_context?.filter_metadata?.[JWT_AUTHN_NAMESPACE];
    const payload = verified?.fields?.[extensions['ipsie_jwt_payload'] ?? DEFAULT_JWT_PAYLOAD_KEY]?.structValue;
    const sub = payload?.fields?.['sub']?.stringValue;
    return sub === undefined || sub === '' ? undefined : { kind: 'identifier', type, id: sub };
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(headers['authorization'] ?? '')?.[1];
  if (bearer !== undefined) return { kind: 'token', token: bearer };
  const session = headers['x-ipsie-session'];
  return session === undefined || session === '' ? undefined : { kind: 'session', sessionId: session };
}

function denied(
  code: number,
  httpStatus: string,
  body: string,
  headers: readonly (readonly [string, string])[] = [],
): ExtAuthzResponse {
  return {
    status: { code, message: httpStatus },
    denied_response: {
      status: { code: httpStatus },
      headers: [header('content-type', 'application/json'), ...headers.map(([k, v]) => header(k, v))],
      body: body.startsWith('{') ? body : JSON.stringify({ error: body }),
    },
  };
}

function header(key: string, value: string): HeaderValueOption {
  return { header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' };
}
