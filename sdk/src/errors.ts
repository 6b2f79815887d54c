import { status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { isSidecarErrorReason } from './reasons.js';
import type { ErrorReason } from './reasons.js';
import { errorInfoReason } from './wire.js';

/** Reasons worth another attempt of an idempotent call: the sidecar says "not now", not "no". */
const RETRYABLE: ReadonlySet<ErrorReason> = new Set<ErrorReason>([
  'SIDECAR_UNREACHABLE',
  'POLICY_NOT_LOADED',
  'STORE_UNAVAILABLE',
  'POLICY_OVERLOADED',
  'IDP_UNAVAILABLE',
]);

/**
 * A call the sidecar refused or that did not complete. Switch on `reason`
 * (the sidecar's `google.rpc.ErrorInfo.reason`, or one of this client's own
 * for a failure without one); never on `message`.
 */
export class SidecarClientError extends Error {
  readonly reason: ErrorReason;
  /** The gRPC status code (`@grpc/grpc-js` `status`). */
  readonly grpcCode: number;
  /** The ErrorInfo reason as received, also when `reason` is `UNRECOGNIZED`. */
  readonly wireReason: string | undefined;

  constructor(
    reason: ErrorReason,
    grpcCode: number,
    message: string,
    options?: { cause?: unknown; wireReason?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.reason = reason;
    this.grpcCode = grpcCode;
    this.wireReason = options?.wireReason;
  }

  /** Whether an idempotent call (Check, BatchCheck) may be sent again. */
  get retryable(): boolean {
    return RETRYABLE.has(this.reason);
  }
}

export function isSidecarClientError(value: unknown): value is SidecarClientError {
  return value instanceof SidecarClientError;
}

/** The client error for what a grpc-js call failed with. */
export function clientErrorFrom(error: unknown): SidecarClientError {
  if (error instanceof SidecarClientError) return error;
  const failure = error as Partial<ServiceError>;
  if (typeof failure.code !== 'number') {
    return new SidecarClientError('UNRECOGNIZED', GrpcStatus.UNKNOWN, String(error), { cause: error });
  }
  const code = failure.code;
  const message = failure.details ?? failure.message ?? '';
  const wireReason = errorInfoReason(failure.metadata);
  if (wireReason !== undefined) {
    const reason = isSidecarErrorReason(wireReason) ? wireReason : 'UNRECOGNIZED';
    return new SidecarClientError(reason, code, message, { cause: error, wireReason });
  }
  return new SidecarClientError(transportReason(code), code, message, { cause: error });
}

function transportReason(code: GrpcStatus): ErrorReason {
  switch (code) {
    case GrpcStatus.UNAVAILABLE:
      return 'SIDECAR_UNREACHABLE';
    case GrpcStatus.DEADLINE_EXCEEDED:
      return 'DEADLINE_EXCEEDED';
    case GrpcStatus.CANCELLED:
      return 'CANCELLED';
    default:
      return 'UNRECOGNIZED';
  }
}
