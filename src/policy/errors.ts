import { SidecarError } from '../errors.js';

/** One compiler finding, located in the tenant's own file names. */
export interface CompileProblem {
  readonly file: string | undefined;
  readonly row: number | undefined;
  readonly col: number | undefined;
  /** OPA's error code, e.g. `rego_parse_error`, `rego_type_error`. */
  readonly code: string;
  readonly message: string;
}

/** The Rego does not parse, type-check or compile to Wasm. */
export class PolicyCompileError extends SidecarError {
  readonly code = 'ERR_POLICY_COMPILE_FAILED';
  readonly problems: readonly CompileProblem[];

  constructor(tenantId: string, problems: readonly CompileProblem[], detail?: Record<string, unknown>) {
    const first = problems[0];
    const where = first?.file === undefined ? '' : `${first.file}:${first.row ?? 0}:${first.col ?? 0}: `;
    super(
      `policy for tenant "${tenantId}" does not compile: ${where}${first?.message ?? 'unknown error'}` +
        (problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''),
      detail === undefined ? undefined : { detail },
    );
    this.problems = problems;
  }
}

/** The tenant's own `*_test.rego` tests fail: `problems` locates each failing test. */
export class PolicyTestFailedError extends SidecarError {
  readonly code = 'ERR_POLICY_TEST_FAILED';
  readonly problems: readonly CompileProblem[];

  constructor(tenantId: string, problems: readonly CompileProblem[]) {
    const first = problems[0];
    const where = first?.file === undefined ? '' : `${first.file}:${first.row ?? 0}: `;
    super(
      `the tests of tenant "${tenantId}" fail: ${where}${first?.message ?? 'unknown'}` +
        (problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''),
    );
    this.problems = problems;
  }
}

/** A module declares a package outside the tenant's namespace, or is not a valid upload. */
export class PolicyModuleRejectedError extends SidecarError {
  readonly code = 'ERR_POLICY_MODULE_REJECTED';
}

/** `opa` did not finish within the configured time. */
export class PolicyCompileTimeoutError extends SidecarError {
  readonly code = 'ERR_POLICY_COMPILE_TIMEOUT';
}

/** `opa` needed more memory than it may use (`IPSIE_OPA_MEMORY_LIMIT_MB`). */
export class PolicyCompileMemoryError extends SidecarError {
  readonly code = 'ERR_POLICY_COMPILE_MEMORY';
}

/** The `opa` CLI is missing or failed for reasons unrelated to the Rego. */
export class OpaUnavailableError extends SidecarError {
  readonly code = 'ERR_POLICY_OPA_UNAVAILABLE';
}

/** The tenant is known but no compiled policy is loaded for it: fail closed. */
export class PolicyNotLoadedError extends SidecarError {
  readonly code = 'ERR_POLICY_NOT_LOADED';
}

/** The Wasm evaluation trapped or threw. */
export class PolicyEvaluationError extends SidecarError {
  readonly code = 'ERR_POLICY_EVALUATION_FAILED';
}

/** The evaluation pool was closed (the process is stopping): a caller retries on another replica. */
export class EvaluationPoolClosedError extends SidecarError {
  readonly code = 'ERR_POLICY_POOL_CLOSED';
}

/** Too many of one tenant's evaluations are waiting for a worker: retry later. */
export class PolicyOverloadedError extends SidecarError {
  readonly code = 'ERR_POLICY_OVERLOADED';
}
