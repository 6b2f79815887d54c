import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { PolicyInputEncoder } from '../policy/index.js';
import type { PolicyDecision, PolicyRegistry, TenantPolicy } from '../policy/index.js';
import { DEFAULT_STEP_UP_PARAMETERS } from '../config/index.js';
import type { StepUpParameter } from '../config/index.js';
import type { IdentifierResolver } from '../identifiers/index.js';
import { authorizationParams } from '../session/index.js';
import type { SessionAuthority, TokenIdentity } from '../session/index.js';
import { TenantUnknownError } from '../store/index.js';
import type { EntitlementReader, ResourceReader, SessionRecord, SubjectRef, SubjectSlice } from '../store/index.js';
import type { StoredResourceInput } from '../policy/index.js';
import { TokenRejectedError } from '../tokens/index.js';
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
import { requestInput, storedResourceInput, subjectInput } from './policy_input_builder.js';

/**
 * How current the store is. The ingest side implements it; without one the
 * store is taken as authoritative (a standalone sidecar).
 */
export interface StoreFreshness {
  /** True when the store may be behind the stream by more than the configured bound. */
  isStale(): boolean;
  /** Resolves true once `sequence` is applied, false if `timeoutMs` passes first. */
  waitForSequence(sequence: number, timeoutMs: number): Promise<boolean>;
}

/** Where a decision reads the app's resources (docs/resources.md), and how far. */
export interface StoredResources {
  readonly reader: Pick<ResourceReader, 'resource' | 'relationsOf' | 'subjectRelations'>;
  /** Most parent steps walked up for the subject's relations. */
  readonly maxDepth: number;
  /** Most of the resource's own relations in the input. */
  readonly maxRelations: number;
}

export interface DeciderOptions {
  readonly reader: EntitlementReader;
  /** The app's resources: without it, `input.resource.stored` is never set. */
  readonly resources?: StoredResources | undefined;
  /** Resolves `subject.token`; without it token subjects answer UNIMPLEMENTED. */
  readonly tokens?: Pick<SessionAuthority, 'identify'> | undefined;
  /** Resolves identifier subjects (a subject type and id) to one user; without it they answer UNIMPLEMENTED. */
  readonly identifiers?: Pick<IdentifierResolver, 'resolveSubject'> | undefined;
  readonly policies: PolicyRegistry;
  readonly logger: Logger;
  readonly freshness?: StoreFreshness | undefined;
  /** Longest wait for a `min_sequence`, in ms (the call deadline may cut it shorter). @defaultValue 2000 */
  readonly maxSequenceWaitMs?: number;
  /** Unix seconds. @defaultValue the system clock */
  readonly clock?: () => number;
  /** Told of every decision and how long each call took (metrics). */
  readonly observer?: DecisionObserver;
  /** Told of each live stored session a Check presents, with where the request came from (IPSIE SL3). */
  readonly onSessionPresented?: (presented: PresentedSession) => void;
  /**
   * Which authorization-request parameters a step-up gives for the IdP of the subject's session or token
   * (undefined: not known, a user named directly). @defaultValue the OIDC essential `claims` request
   */
  readonly stepUpParameters?: (tenantId: string, issuer: string | undefined) => readonly StepUpParameter[];
}

/** Sees decisions as they are made; must not throw or block. */
export interface DecisionObserver {
  decided(tenantId: string, decision: Decision, about: DecidedRequest): void;
  timed(call: 'check' | 'batch', seconds: number): void;
}

/** What a decision was about (never a raw token: a token subject appears as its issuer and subject). */
export interface DecidedRequest {
  readonly subject: SubjectRef;
  readonly action: string;
  readonly resource: { readonly type: string; readonly id: string };
  readonly policyVersion: string;
  readonly sequence: number;
}

/** A live stored session as a Check presented it: the session (where it was established), and where it is now. */
export interface PresentedSession {
  readonly session: SessionRecord;
  readonly context: RequestContext;
}

export const DEFAULT_MAX_SEQUENCE_WAIT_MS = 2_000;

/**
 * Answers Checks: reads the subject's slice from the store, evaluates the
 * tenant's active policy over it, and stamps the answer with a decision id,
 * the policy version and the store sequence it was made at.
 */
export class Decider {
  readonly #reader: EntitlementReader;
  readonly #resources: StoredResources | undefined;
  readonly #policies: PolicyRegistry;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #freshness: StoreFreshness | undefined;
  readonly #tokens: Pick<SessionAuthority, 'identify'> | undefined;
  readonly #identifiers: Pick<IdentifierResolver, 'resolveSubject'> | undefined;
  readonly #maxSequenceWaitMs: number;
  readonly #onSessionPresented: ((presented: PresentedSession) => void) | undefined;
  readonly #observer: DecisionObserver | undefined;
  readonly #stepUpParameters: (tenantId: string, issuer: string | undefined) => readonly StepUpParameter[];

  constructor(options: DeciderOptions) {
    this.#stepUpParameters = options.stepUpParameters ?? (() => DEFAULT_STEP_UP_PARAMETERS);
    this.#observer = options.observer;
    this.#onSessionPresented = options.onSessionPresented;
    this.#reader = options.reader;
    this.#resources = options.resources;
    this.#policies = options.policies;
    this.#logger = options.logger;
    this.#freshness = options.freshness;
    this.#tokens = options.tokens;
    this.#identifiers = options.identifiers;
    this.#maxSequenceWaitMs = options.maxSequenceWaitMs ?? DEFAULT_MAX_SEQUENCE_WAIT_MS;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * @throws {SequenceNotReachedError} `ERR_CHECK_SEQUENCE_NOT_REACHED`
   * @throws {SubjectFormUnsupportedError} `ERR_CHECK_SUBJECT_UNSUPPORTED`
   * @throws {TenantUnknownError} `ERR_STORE_TENANT_UNKNOWN`
   * @throws {PolicyNotLoadedError} `ERR_POLICY_NOT_LOADED`
   * @throws {PolicyEvaluationError} `ERR_POLICY_EVALUATION_FAILED`
   * @throws {PolicyOverloadedError} `ERR_POLICY_OVERLOADED`
   */
  async check(request: CheckRequest, waitMs?: number): Promise<CheckResult> {
    const started = performance.now();
    await this.#awaitSequence(request.minSequence, waitMs);
    const result = await this.decide(request, await this.#resolve(request.tenantId, request.subject, request.context));
    this.#observer?.timed('check', (performance.now() - started) / 1000);
    return result;
  }

  /**
   * Decides now, without waiting for `min_sequence` (refused if not yet applied):
   * one store read, then one evaluation on the policy workers. A token subject
   * must be resolved first (`check` does).
   */
  async decide(request: CheckRequest, resolved?: Resolved): Promise<CheckResult> {
    if (this.#notReached(request.minSequence)) throw this.#sequenceNotReached(request.minSequence);
    const prepared = this.#prepare(
      request.tenantId,
      resolved ?? resolvedFrom(request.subject),
      request.context,
      request.subjectProperties,
    );
    const decision = await this.#decide(prepared, request.action, request.resource, request.context);
    this.#reportPresented(prepared, request.context);
    return { decision, policyVersion: prepared.policy.version, sequence: prepared.sequence };
  }

  /** Decides every item against one snapshot of the subject and one policy version. */
  async batchCheck(request: BatchCheckRequest, waitMs?: number): Promise<BatchCheckResult> {
    const started = performance.now();
    await this.#awaitSequence(request.minSequence, waitMs);
    if (this.#notReached(request.minSequence)) throw this.#sequenceNotReached(request.minSequence);
    const resolved = await this.#resolve(request.tenantId, request.subject, request.context);
    const prepared = this.#prepare(request.tenantId, resolved, request.context, request.subjectProperties);
    const { items } = request;
    // One Wasm evaluation for the whole batch: the subject is parsed once.
    const outcomes = await this.#outcomes(prepared, (encoder) =>
      prepared.policy.evaluateBatch(
        encoder.encodeBatch(
          items.map((i) => requestInput(i.action, i.resource, i.context, this.#stored(prepared, i.resource))),
        ),
        items.length,
      ),
    );
    const decisions = items.map((item, i) =>
      this.#stamp(prepared, item.action, item.resource, outcomes?.[i] ?? this.#fixedOutcome(prepared)),
    );
    this.#reportPresented(prepared, request.context);
    this.#observer?.timed('batch', (performance.now() - started) / 1000);
    return { decisions, policyVersion: prepared.policy.version, sequence: prepared.sequence };
  }

  /**
   * Read-after-write: wait (bounded by `waitMs`, the caller's deadline) until
   * the store has applied `minSequence`.
   */
  async #awaitSequence(minSequence: number, waitMs: number | undefined): Promise<void> {
    if (!this.#notReached(minSequence)) return;
    const timeout = Math.min(waitMs ?? this.#maxSequenceWaitMs, this.#maxSequenceWaitMs);
    const reached = (await this.#freshness?.waitForSequence(minSequence, timeout)) ?? false;
    if (!reached) throw this.#sequenceNotReached(minSequence);
  }

  /** Whether the store has yet to apply `minSequence`; without one (0) the store is not asked. */
  #notReached(minSequence: number): boolean {
    return minSequence > 0 && minSequence > this.#reader.appliedSequence();
  }

  #sequenceNotReached(minSequence: number): SequenceNotReachedError {
    return new SequenceNotReachedError(
      `the store is at sequence ${this.#reader.appliedSequence()}, the request needs ${minSequence}`,
    );
  }

  /**
   * A token subject becomes the IdP identity it proves (or the reason it proves nothing); an identifier
   * subject, the one user it names (or the reason it names none).
   */
  async #resolve(tenantId: string, subject: CheckSubject, context: RequestContext): Promise<Resolved> {
    if (subject.kind === 'identifier') {
      return this.#resolveIdentifier(tenantId, subject.type, subject.id, context.deviceId);
    }
    if (subject.kind !== 'token') return resolvedFrom(subject);
    if (this.#tokens === undefined) {
      throw new SubjectFormUnsupportedError('this sidecar has no identity providers configured for token subjects');
    }
    try {
      const identity = await this.#tokens.identify(tenantId, subject.token);
      if (identity.jti !== undefined && this.#reader.isTokenRevoked(tenantId, identity.jti)) {
        throw new TokenRejectedError('ERR_TOKEN_REVOKED', 'the identity provider revoked this token');
      }
      return {
        ref: { kind: 'identity', issuer: identity.issuer, subject: identity.subject, sessionId: identity.session.id },
        asserted: identity.session,
        refused: undefined,
      };
    } catch (error) {
      if (!(error instanceof TokenRejectedError)) throw error;
      return {
        ref: { kind: 'identity', issuer: '', subject: '' },
        asserted: undefined,
        refused: { kind: 'deny', reasons: [{ code: error.reason, message: error.message }], stepUp: undefined },
      };
    }
  }

  #resolveIdentifier(tenantId: string, type: string, id: string, deviceId: string | undefined): Resolved {
    if (this.#identifiers === undefined) {
      throw new SubjectFormUnsupportedError('this sidecar resolves no identifier subjects');
    }
    const resolution = this.#identifiers.resolveSubject(tenantId, type, id, deviceId);
    if (resolution.kind === 'found') {
      return { ref: { kind: 'user', userId: resolution.userId }, asserted: undefined, refused: undefined };
    }
    const message =
      resolution.kind === 'ambiguous'
        ? `the subject is ambiguous: its ${resolution.by} matches ${resolution.count} users of this tenant`
        : 'the subject is not known to this tenant';
    return {
      ref: { kind: 'user', userId: '' },
      asserted: undefined,
      refused: { kind: 'deny', reasons: [{ code: 'SUBJECT_UNKNOWN', message }], stepUp: undefined },
    };
  }

  #prepare(
    tenantId: string,
    resolved: Resolved,
    context: RequestContext,
    subjectProperties: Readonly<Record<string, unknown>> | undefined,
  ): Prepared {
    if (resolved.refused !== undefined) {
      if (!this.#reader.hasTenant(tenantId)) throw new TenantUnknownError(tenantId);
      const policy = this.#policies.get(tenantId);
      return {
        sequence: this.#reader.appliedSequence(),
        ref: resolved.ref,
        slice: undefined,
        policy,
        encoder: undefined,
        stale: false,
        fixed: resolved.refused,
      };
    }
    // Tenant first: an unknown tenant is NOT_FOUND even when no policy is loaded.
    const read = this.#reader.readSubject(tenantId, resolved.ref, context.deviceId);
    const { sequence } = read;
    const slice =
      read.slice === undefined || resolved.asserted === undefined
        ? read.slice
        : withAssertedSession(tenantId, read.slice, resolved.ref, resolved.asserted);
    const policy = this.#policies.get(tenantId);
    // Cut off from the stream for too long: the store may be missing a
    // deactivation or revocation, so nothing is allowed.
    const stale = this.#freshness?.isStale() ?? false;
    // One clock reading per request: every item of a batch is decided at the same `now`.
    const encoder =
      slice === undefined || stale
        ? undefined
        : new PolicyInputEncoder(subjectInput(tenantId, this.#clock(), slice, subjectProperties));
    return { sequence, ref: resolved.ref, slice, policy, encoder, stale, fixed: undefined };
  }

  /** After the decision, never in its way: a live stored session the request presented, and from where. */
  #reportPresented(prepared: Prepared, context: RequestContext): void {
    const session = prepared.slice?.session;
    if (this.#onSessionPresented === undefined || session === undefined || session.revokedAt !== undefined) return;
    this.#onSessionPresented({ session, context });
  }

  async #decide(
    prepared: Prepared,
    action: CheckedAction,
    resource: CheckedResource,
    context: RequestContext,
  ): Promise<Decision> {
    const outcome = (
      await this.#outcomes(prepared, async (encoder) => [
        await prepared.policy.evaluate(
          encoder.encode(requestInput(action, resource, context, this.#stored(prepared, resource))),
        ),
      ])
    )?.[0];
    return this.#stamp(prepared, action, resource, outcome ?? this.#fixedOutcome(prepared));
  }

  /** What the store holds of the request's resource, with the relations the decided-on user holds on it. */
  #stored(prepared: Prepared, resource: CheckedResource): StoredResourceInput | undefined {
    const resources = this.#resources;
    const user = prepared.slice?.user;
    if (resources === undefined || user === undefined) return undefined;
    const tenantId = prepared.policy.tenantId;
    const stored = resources.reader.resource(tenantId, resource.type, resource.id);
    if (stored === undefined) return undefined;
    return storedResourceInput(
      stored,
      resources.reader.relationsOf(tenantId, resource.type, resource.id, resources.maxRelations),
      resources.reader.subjectRelations(tenantId, user.id, resource.type, resource.id, resources.maxDepth),
    );
  }

  /** The policy's outcomes, or undefined when the answer does not depend on it (stale, unknown subject). */
  async #outcomes(
    prepared: Prepared,
    evaluate: (encoder: PolicyInputEncoder) => Promise<PolicyDecision[]>,
  ): Promise<PolicyDecision[] | undefined> {
    return prepared.stale || prepared.encoder === undefined ? undefined : await evaluate(prepared.encoder);
  }

  #fixedOutcome(prepared: Prepared): PolicyDecision {
    return prepared.fixed ?? (prepared.stale ? STALE_DATA : unknownSubject(prepared.ref));
  }

  #stamp(prepared: Prepared, action: CheckedAction, resource: CheckedResource, outcome: PolicyDecision): Decision {
    const { stepUp } = outcome;
    const issuer =
      prepared.slice?.session?.issuer ?? (prepared.ref.kind === 'identity' ? prepared.ref.issuer : undefined);
    const decision: Decision = {
      ...outcome,
      decisionId: randomUUID(),
      stepUp:
        stepUp === undefined
          ? undefined
          : {
              ...stepUp,
              authorizationParams: authorizationParams(
                stepUp,
                this.#stepUpParameters(prepared.policy.tenantId, issuer),
              ),
            },
    };
    this.#log(prepared.policy, prepared.slice, action, resource, decision);
    // Every decision, single or batched, is made here: the one place to tell the observer.
    this.#observer?.decided(prepared.policy.tenantId, decision, {
      subject: prepared.ref,
      action: action.name,
      resource: { type: resource.type, id: resource.id },
      policyVersion: prepared.policy.version,
      sequence: prepared.sequence,
    });
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
  readonly stale: boolean;
  /** An outcome decided before any policy (a refused token). */
  readonly fixed: PolicyDecision | undefined;
}

/** A subject as the store can look it up, with what a token asserted about its session. */
export interface Resolved {
  readonly ref: SubjectRef;
  readonly asserted: TokenIdentity['session'] | undefined;
  readonly refused: PolicyDecision | undefined;
}

function resolvedFrom(subject: CheckSubject): Resolved {
  if (subject.kind === 'token' || subject.kind === 'identifier') {
    throw new SubjectFormUnsupportedError(`a ${subject.kind} subject must be resolved first: use check()`);
  }
  return { ref: subject, asserted: undefined, refused: undefined };
}

/**
 * The session of a Check by token: what the token asserts (acr, amr,
 * auth_time, the lifetime it allows), revoked if the IdP revoked its `sid`
 * (a stored session, or a sid revocation) or signed the user out after it
 * was authenticated.
 */
function withAssertedSession(
  tenantId: string,
  slice: SubjectSlice,
  ref: SubjectRef,
  asserted: TokenIdentity['session'],
): SubjectSlice {
  const stored = slice.session;
  const signedOut =
    slice.signedOutBefore !== undefined && asserted.createdAt <= slice.signedOutBefore
      ? slice.signedOutBefore
      : undefined;
  const revokedAt = stored?.revokedAt ?? slice.idpSessionRevoked?.revokedAt ?? signedOut;
  return {
    ...slice,
    session: {
      tenantId,
      id: asserted.id,
      userId: slice.user.id,
      issuer: ref.kind === 'identity' ? ref.issuer : '',
      acr: asserted.acr,
      amr: asserted.amr,
      authTime: asserted.authTime,
      expiresAt: asserted.expiresAt,
      createdAt: asserted.createdAt,
      revokedAt,
      revokeReason:
        stored?.revokeReason ??
        slice.idpSessionRevoked?.reason ??
        (revokedAt === undefined ? undefined : 'signed out by the identity provider'),
      ip: stored?.ip,
      deviceId: stored?.deviceId,
    },
  };
}

const STALE_DATA: PolicyDecision = {
  kind: 'deny',
  reasons: [{ code: 'STALE_DATA', message: 'the sidecar has been cut off from its entitlement stream for too long' }],
  stepUp: undefined,
};

/** No store record matches: deny without consulting the tenant's rules. */
function unknownSubject(subject: SubjectRef): PolicyDecision {
  const reason =
    subject.kind === 'session'
      ? { code: 'SESSION_UNKNOWN', message: 'the session is not known to this tenant' }
      : { code: 'SUBJECT_UNKNOWN', message: 'the subject is not known to this tenant' };
  return { kind: 'deny', reasons: [reason], stepUp: undefined };
}
