import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { PolicyInputEncoder } from '../policy/index.js';
import type { PolicyDecision, PolicyRegistry, TenantPolicy } from '../policy/index.js';
import type { EntitlementReader, SubjectRef, SubjectSlice } from '../store/index.js';
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
import { SequenceNotReachedError, SubjectFormUnsupportedError } from './errors.js';
import { requestInput, subjectInput } from './policy_input_builder.js';

export interface DeciderOptions {
  readonly reader: EntitlementReader;
  readonly policies: PolicyRegistry;
  readonly logger: Logger;
  /** Unix seconds. @defaultValue the system clock */
  readonly clock?: () => number;
}

/**
 * Answers Checks: reads the subject's slice from the store, evaluates the
 * tenant's active policy over it, and stamps the answer with a decision id,
 * the policy version and the store sequence it was made at.
 */
export class Decider {
  readonly #reader: EntitlementReader;
  readonly #policies: PolicyRegistry;
  readonly #logger: Logger;
  readonly #clock: () => number;

  constructor(options: DeciderOptions) {
    this.#reader = options.reader;
    this.#policies = options.policies;
    this.#logger = options.logger;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * @throws {SequenceNotReachedError} `ERR_CHECK_SEQUENCE_NOT_REACHED`
   * @throws {SubjectFormUnsupportedError} `ERR_CHECK_SUBJECT_UNSUPPORTED`
   * @throws {TenantUnknownError} `ERR_STORE_TENANT_UNKNOWN`
   * @throws {PolicyNotLoadedError} `ERR_POLICY_NOT_LOADED`
   * @throws {PolicyEvaluationError} `ERR_POLICY_EVALUATION_FAILED`
   * @throws {PolicyResultInvalidError} `ERR_POLICY_RESULT_INVALID`
   */
  check(request: CheckRequest): CheckResult {
    const { tenantId } = request;
    const prepared = this.#prepare(tenantId, request.subject, request.minSequence, request.context);
    const decision = this.#decide(prepared, request.action, request.resource, request.context);
    return { decision, policyVersion: prepared.policy.version, sequence: prepared.sequence };
  }

  /** Decides every item against one snapshot of the subject and one policy version. */
  batchCheck(request: BatchCheckRequest): BatchCheckResult {
    const { tenantId } = request;
    const prepared = this.#prepare(tenantId, request.subject, request.minSequence, request.context);
    const decisions = request.items.map((item) => this.#decide(prepared, item.action, item.resource, item.context));
    return { decisions, policyVersion: prepared.policy.version, sequence: prepared.sequence };
  }

  #prepare(tenantId: string, subject: CheckSubject, minSequence: number, context: RequestContext): Prepared {
    if (subject.kind === 'token') {
      throw new SubjectFormUnsupportedError('token subjects are not supported yet; send session_id or user_id');
    }
    if (minSequence > 0) {
      const applied = this.#reader.appliedSequence();
      if (minSequence > applied) {
        throw new SequenceNotReachedError(`the store is at sequence ${applied}, the request needs ${minSequence}`);
      }
    }
    // Tenant first: an unknown tenant is NOT_FOUND even when no policy is loaded.
    const { sequence, slice } = this.#reader.readSubject(tenantId, subject, context.deviceId);
    const policy = this.#policies.get(tenantId);
    // One clock reading per request: every item of a batch is decided at the same `now`.
    const encoder =
      slice === undefined ? undefined : new PolicyInputEncoder(subjectInput(tenantId, this.#clock(), slice));
    return { sequence, ref: subject, slice, policy, encoder };
  }

  #decide(prepared: Prepared, action: CheckedAction, resource: CheckedResource, context: RequestContext): Decision {
    const { policy, slice, encoder } = prepared;
    const decisionId = randomUUID();
    const outcome: PolicyDecision =
      encoder === undefined
        ? unknownSubject(prepared.ref)
        : policy.evaluate(encoder.encode(requestInput(action, resource, context)));
    const decision = { ...outcome, decisionId };
    this.#log(policy, slice, action, resource, decision);
    return decision;
  }

  #log(
    policy: TenantPolicy,
    slice: SubjectSlice | undefined,
    action: CheckedAction,
    resource: CheckedResource,
    decision: Decision,
  ): void {
    const level = decision.kind === 'allow' ? 'debug' : 'info';
    if (!this.#logger.isLevelEnabled(level)) return;
    this.#logger[level](
      {
        decision_id: decision.decisionId,
        tenant: policy.tenantId,
        user_id: slice?.user.id,
        session_id: slice?.session?.id,
        action: action.name,
        resource_type: resource.type,
        resource_id: resource.id,
        decision: decision.kind,
        reasons: decision.reasons.map((r) => r.code),
        policy_version: policy.version,
      },
      'decision',
    );
  }
}

/** What every item of a request shares: one store snapshot, one policy version, one subject encoding. */
interface Prepared {
  readonly sequence: number;
  readonly ref: SubjectRef;
  readonly slice: SubjectSlice | undefined;
  readonly policy: TenantPolicy;
  readonly encoder: PolicyInputEncoder | undefined;
}

/** No store record matches: deny without consulting the tenant's rules. */
function unknownSubject(subject: SubjectRef): PolicyDecision {
  const reason =
    subject.kind === 'session'
      ? { code: 'SESSION_UNKNOWN', message: 'the session is not known to this tenant' }
      : { code: 'SUBJECT_UNKNOWN', message: 'the subject is not known to this tenant' };
  return { kind: 'deny', reasons: [reason], stepUp: undefined };
}
