/**
 * The base of every domain error the sidecar raises. Each concept folder owns
 * its subclasses and codes (`src/<concept>/errors.ts`); edges map a `code` to
 * their wire status in one table (gRPC in `src/check/status.ts`).
 *
 * `message` is safe to show a client; `detail` is for logs only.
 */
export abstract class SidecarError extends Error {
  /** Stable, grep-able identifier, e.g. `ERR_POLICY_COMPILE_FAILED`. */
  abstract readonly code: string;
  /** Extra facts for operators' logs; never sent to a client. */
  readonly detail: Record<string, unknown> | undefined;

  constructor(message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.detail = options?.detail;
  }
}

export function isSidecarError(value: unknown): value is SidecarError {
  return value instanceof SidecarError;
}
