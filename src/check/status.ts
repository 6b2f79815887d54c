/**
 * The gRPC surface of the error table (src/errors.ts): each kind's status,
 * and the code's stable reason in a `google.rpc.ErrorInfo` (docs/errors.md).
 * Handlers throw coded errors; only this file picks gRPC statuses.
 */
import { join } from 'node:path';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { isSidecarError, reasonOf } from '../errors.js';
import type { KindTable } from '../errors.js';
import { PROTO_ROOT } from './proto.js';

/** `ErrorInfo.domain` of every error this service returns. */
export const ERROR_DOMAIN = 'ipsie-sidecar';

/** The canonical code of each kind (google.rpc.Code's own HTTP mapping, read backwards). */
export const GRPC_STATUS: KindTable<GrpcStatus> = {
  invalid_request: GrpcStatus.INVALID_ARGUMENT,
  unprocessable: GrpcStatus.INVALID_ARGUMENT,
  unauthenticated: GrpcStatus.UNAUTHENTICATED,
  permission_denied: GrpcStatus.PERMISSION_DENIED,
  not_found: GrpcStatus.NOT_FOUND,
  method_not_allowed: GrpcStatus.UNIMPLEMENTED,
  conflict: GrpcStatus.ABORTED,
  precondition_failed: GrpcStatus.FAILED_PRECONDITION,
  payload_too_large: GrpcStatus.RESOURCE_EXHAUSTED,
  unsupported_media_type: GrpcStatus.INVALID_ARGUMENT,
  resource_exhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  unavailable: GrpcStatus.UNAVAILABLE,
  upstream_failed: GrpcStatus.UNAVAILABLE,
  timeout: GrpcStatus.DEADLINE_EXCEEDED,
  not_implemented: GrpcStatus.UNIMPLEMENTED,
  internal: GrpcStatus.INTERNAL,
};

interface WireStatus {
  readonly status: GrpcStatus;
  readonly reason: string;
}

const INTERNAL: WireStatus = { status: GrpcStatus.INTERNAL, reason: 'INTERNAL' };

const rpcTypes = (() => {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (target.startsWith('google/protobuf/') ? target : join(PROTO_ROOT, target));
  root.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
  return { status: root.lookupType('google.rpc.Status'), errorInfo: root.lookupType('google.rpc.ErrorInfo') };
})();

/** Whether `error` is a refusal the client caused or may retry: neither a bug nor a fault of ours. */
export function isExpectedError(error: unknown): boolean {
  return isSidecarError(error) && error.kind !== 'internal';
}

/**
 * The gRPC error for `error`: status, client-safe message, and the
 * `grpc-status-details-bin` trailer with a `google.rpc.ErrorInfo`.
 * Errors without a code (bugs) become INTERNAL without their message.
 */
export function serviceErrorFrom(error: unknown): Partial<ServiceError> {
  const known: WireStatus | undefined = isSidecarError(error)
    ? { status: GRPC_STATUS[error.kind], reason: reasonOf(error.code) }
    : undefined;
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
