/**
 * The one table from domain error codes to gRPC status and the stable
 * `google.rpc.ErrorInfo.reason` a client switches on (docs/errors.md).
 * Handlers throw coded errors; only this file picks wire statuses.
 */
import { join } from 'node:path';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { isSidecarError } from '../errors.js';
import { TOKEN_ERROR_CODES } from '../tokens/index.js';
import { PROTO_ROOT } from './proto.js';

/** `ErrorInfo.domain` of every error this service returns. */
export const ERROR_DOMAIN = 'ipsie-sidecar';

interface WireStatus {
  readonly status: GrpcStatus;
  readonly reason: string;
}

const STATUS_BY_CODE: Readonly<Record<string, WireStatus>> = {
  ERR_CHECK_TENANT_MISSING: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'TENANT_MISSING' },
  ERR_CHECK_TENANT_INVALID: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'TENANT_INVALID' },
  ERR_CHECK_SUBJECT_MISSING: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'SUBJECT_MISSING' },
  ERR_CHECK_ACTION_MISSING: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'ACTION_MISSING' },
  ERR_CHECK_RESOURCE_MISSING: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'RESOURCE_MISSING' },
  ERR_CHECK_BATCH_EMPTY: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'BATCH_EMPTY' },
  ERR_CHECK_BATCH_TOO_LARGE: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'BATCH_TOO_LARGE' },
  ERR_CHECK_WATCH_TOO_MANY_USERS: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'WATCH_TOO_MANY_USERS' },
  ERR_CHECK_SEQUENCE_NOT_REACHED: { status: GrpcStatus.FAILED_PRECONDITION, reason: 'SEQUENCE_NOT_REACHED' },
  ERR_CHECK_SESSION_EVENTS_UNAVAILABLE: { status: GrpcStatus.UNAVAILABLE, reason: 'SESSION_EVENTS_UNAVAILABLE' },
  ERR_CHECK_WATCHER_TOO_SLOW: { status: GrpcStatus.RESOURCE_EXHAUSTED, reason: 'WATCHER_TOO_SLOW' },
  ERR_CHECK_SUBJECT_UNSUPPORTED: { status: GrpcStatus.UNIMPLEMENTED, reason: 'SUBJECT_UNSUPPORTED' },
  ERR_CHECK_TOKEN_MISSING: { status: GrpcStatus.INVALID_ARGUMENT, reason: 'TOKEN_MISSING' },
  ERR_CHECK_CALLER_UNAUTHENTICATED: { status: GrpcStatus.UNAUTHENTICATED, reason: 'CALLER_UNAUTHENTICATED' },
  ERR_STORE_TENANT_UNKNOWN: { status: GrpcStatus.NOT_FOUND, reason: 'TENANT_UNKNOWN' },
  // Sign-in (StartSession). A refused token at Check is a DENY decision, not an error.
  ...Object.fromEntries(
    TOKEN_ERROR_CODES.map((code) => [code, { status: GrpcStatus.UNAUTHENTICATED, reason: code.slice('ERR_'.length) }]),
  ),
  ERR_TOKEN_IDP_UNAVAILABLE: { status: GrpcStatus.UNAVAILABLE, reason: 'IDP_UNAVAILABLE' },
  ERR_SIGNIN_NOT_PROVISIONED: { status: GrpcStatus.PERMISSION_DENIED, reason: 'USER_NOT_PROVISIONED' },
  ERR_SIGNIN_ACCOUNT_INACTIVE: { status: GrpcStatus.PERMISSION_DENIED, reason: 'ACCOUNT_INACTIVE' },
  ERR_SIGNIN_UNAVAILABLE: { status: GrpcStatus.UNAVAILABLE, reason: 'SIGNIN_UNAVAILABLE' },
  ERR_SIGNIN_SESSION_EXPIRED: { status: GrpcStatus.UNAUTHENTICATED, reason: 'SESSION_EXPIRED' },
  ERR_SIGNIN_SESSION_REVOKED: { status: GrpcStatus.UNAUTHENTICATED, reason: 'SESSION_REVOKED' },
  ERR_STORE_UNAVAILABLE: { status: GrpcStatus.UNAVAILABLE, reason: 'STORE_UNAVAILABLE' },
  ERR_POLICY_NOT_LOADED: { status: GrpcStatus.UNAVAILABLE, reason: 'POLICY_NOT_LOADED' },
  ERR_POLICY_EVALUATION_FAILED: { status: GrpcStatus.INTERNAL, reason: 'POLICY_EVALUATION_FAILED' },
  ERR_POLICY_OVERLOADED: { status: GrpcStatus.RESOURCE_EXHAUSTED, reason: 'POLICY_OVERLOADED' },
};

const INTERNAL: WireStatus = { status: GrpcStatus.INTERNAL, reason: 'INTERNAL' };

const rpcTypes = (() => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_ROOT, target));
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  return { status: root.lookupType('google.rpc.Status'), errorInfo: root.lookupType('google.rpc.ErrorInfo') };
})();

/** Whether `error` is a domain failure the client caused or may retry (not a bug). */
export function isExpectedError(error: unknown): boolean {
  return isSidecarError(error) && error.code in STATUS_BY_CODE;
}

/**
 * The gRPC error for `error`: status, client-safe message, and the
 * `grpc-status-details-bin` trailer with a `google.rpc.ErrorInfo`.
 * Unexpected errors become INTERNAL without their message.
 */
export function serviceErrorFrom(error: unknown): Partial<ServiceError> {
  const known = isSidecarError(error) ? STATUS_BY_CODE[error.code] : undefined;
  const wire = known ?? INTERNAL;
  const message = known !== undefined && error instanceof Error ? error.message : 'internal error';
  const errorInfo = rpcTypes.errorInfo.encode({ reason: wire.reason, domain: ERROR_DOMAIN }).finish();
  const details = rpcTypes.status
    .encode({
      code: wire.status,
      message,
      details: [{ type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: errorInfo }],
    })
    .finish();
  const metadata = new Metadata();
  metadata.set('grpc-status-details-bin', Buffer.from(details));
  return { code: wire.status, details: message, metadata };
}

/** Reads the ErrorInfo reason back from a client-side error (tests, demo). */
export function errorReasonOf(error: Partial<ServiceError>): string | undefined {
  const raw = error.metadata?.get('grpc-status-details-bin')[0];
  if (!(raw instanceof Buffer)) return undefined;
  const decoded = rpcTypes.status.toObject(rpcTypes.status.decode(raw), { bytes: Buffer }) as {
    details?: { type_url?: string; value?: Buffer }[];
  };
  for (const detail of decoded.details ?? []) {
    if (detail.type_url === 'type.googleapis.com/google.rpc.ErrorInfo' && detail.value !== undefined) {
      return (rpcTypes.errorInfo.toObject(rpcTypes.errorInfo.decode(detail.value)) as { reason?: string }).reason;
    }
  }
  return undefined;
}
