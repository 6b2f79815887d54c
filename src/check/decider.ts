import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { PolicyInputEncoder } from '../policy/index.js';
import type {
  PolicyDecision,
  PolicyInput,
  PolicyRegistry,
  RequestInput,
  SubjectInput,
  TenantPolicy,
} from '../policy/index.js';
import { DEFAULT_STEP_UP_PARAMETERS } from '../config/index.js';
import type { StepUpParameter } from '../config/index.js';
import type { IdentifierResolver } from '../identifiers/index.js';
import { authorizationParams } from '../session/index.js';
import type { SessionAuthority, TokenIdentity } from '../session/index.js';
import { TenantUnknownError } from '../store/index.js';
import type { EntitlementReader, ResourceReader, SessionRecord, SubjectRef, SubjectSlice } from '../store/index.js';
import type { StoredResourceInput } from '../policy/index.js';
import { TokenRejectedError } from '../tokens/index.js';
import { TxnKeysUnavailableError, withinScope } from '../txn_tokens/index.js';
import type { TxnScope, TxnTokenService } from '../txn_tokens/index.js';
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
  SamlStepUpRequest,
} from './check_request.js';
import { CheckRequestError, SequenceNotReachedError, SubjectFormUnsupportedError } from './errors.js';
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
  /**
   * Mints transaction tokens after an ALLOW that asked for one, and verifies `subject.txn_token`; without it
   * both answer UNAVAILABLE `TXN_KEYS_UNAVAILABLE` (no key bucket: a sidecar without NATS).
   */
  readonly txnTokens?: Pick<TxnTokenService, 'mint' | 'verify'> | undefined;
  /** The user's subject at an IdP (its identity binding), named in minted transaction tokens. */
  readonly idpSubject?: (tenantId: string, userId: string, issuer: string) => string | undefined;
  /**
   * A SAML AuthnRequest for a step-up of a session `issuer` asserted, or undefined when it is no SAML IdP of the
   * tenant. A failure leaves the request out of the answer (the app asks CreateSamlRequest), never the decision.
   */
  readonly samlStepUp?: (
    tenantId: string,
    issuer: string,
    stepUp: { readonly acrValues: readonly string[]; readonly maxAge: number | undefined },
  ) => Promise<SamlStepUpRequest | undefined>;
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
  /**
   * The input the policy evaluated, built only when called (decision sampling, explanations);
   * undefined when the sidecar decided without the policy (stale store, unknown subject, refused token).
   */
  readonly input: (() => PolicyInput) | undefined;
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
  readonly #txnTokens: Pick<TxnTokenService, 'mint' | 'verify'> | undefined;
  readonly #idpSubject: ((tenantId: string, userId: string, issuer: string) => string | undefined) | undefined;
  readonly #samlStepUp: DeciderOptions['samlStepUp'];

  constructor(options: DeciderOptions) {
    this.#txnTokens = options.txnTokens;
    this.#idpSubject = options.idpSubject;
    this.#stepUpParameters = options.stepUpParameters ?? (() => DEFAULT_STEP_UP_PARAMETERS);
    this.#samlStepUp = options.samlStepUp;
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
    if (request.txnToken !== undefined && (request.subject.kind === 'token' || request.subject.kind === 'txn_token')) {
      // A raw IdP token's session lives only in that token, which a downstream sidecar never sees; a
      // transaction token is not exchanged for another (the draft's replacement tokens are out of scope).
      throw new CheckRequestError(
        'ERR_CHECK_TXN_TOKEN_UNSUPPORTED',
        `a transaction token is minted for a session_id, user_id or identifier subject, not a ${request.subject.kind}`,
      );
    }
    await this.#awaitSequence(request.minSequence, waitMs);
    const resolved = await this.#resolve(request.tenantId, request.subject, request.context);
    const result = await this.decide(request, withinTxnScope(resolved, request.action, request.resource));
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
    const decision = await this.#withSamlRequest(
      prepared,
      await this.#decide(prepared, request.action, request.resource, request.context),
    );
    this.#reportPresented(prepared, request.context);
    const txnToken =
      request.txnToken === undefined || decision.kind !== 'allow'
        ? undefined
        : await this.#mint(prepared, request, decision);
    return { decision, policyVersion: prepared.policy.version, sequence: prepared.sequence, txnToken };
  }

  /** A transaction token for this ALLOW: this decision's tenant, user, session, action and resource. */
  async #mint(prepared: Prepared, request: CheckRequest, decision: Decision): Promise<string | undefined> {
    const { slice } = prepared;
    if (slice === undefined) return undefined;
    const tokens = this.#requireTxnTokens();
    const session = prepared.ref.kind === 'session' ? slice.session : undefined;
    return await tokens.mint({
      tenantId: request.tenantId,
      userId: slice.user.id,
      sessionId: session?.id,
      idp:
        session === undefined
          ? undefined
          : { iss: session.issuer, sub: this.#idpSubject?.(request.tenantId, slice.user.id, session.issuer) },
      scope: { action: request.action.name, resource: { type: request.resource.type, id: request.resource.id } },
      decisionId: decision.decisionId,
      policyVersion: prepared.policy.version,
      purpose: request.txnToken?.purpose,
      requestIp: request.context.ip,
    });
  }

  #requireTxnTokens(): Pick<TxnTokenService, 'mint' | 'verify'> {
    if (this.#txnTokens === undefined) {
      throw new TxnKeysUnavailableError('this sidecar has no transaction-token keys (it runs without NATS)');
    }
    return this.#txnTokens;
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
    const inputs = items.map((i) => requestInput(i.action, i.resource, i.context, this.#stored(prepared, i.resource)));
    const outcomes = await this.#outcomes(prepared, (encoder) =>
      prepared.policy.evaluateBatch(encoder.encodeBatch(inputs), items.length),
    );
    const { scope } = resolved;
    const decisions = await Promise.all(
      items.map(async (item, i) => {
        if (scope !== undefined && !withinScope(scope, item.action.name, item.resource)) {
          return this.#stamp(prepared, item.action, item.resource, TXN_SCOPE_EXCEEDED, undefined);
        }
        const outcome = outcomes?.[i];
        return await this.#withSamlRequest(
          prepared,
          outcome === undefined
            ? this.#stamp(prepared, item.action, item.resource, this.#fixedOutcome(prepared), undefined)
            : this.#stamp(prepared, item.action, item.resource, outcome, inputs[i]),
        );
      }),
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
    if (subject.kind === 'txn_token') return await this.#resolveTxnToken(tenantId, subject.token);
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

  /**
   * A transaction token becomes the session it names (the session rules apply: revoked or expired is DENY with
   * their reasons), or its user when it names none; its scope limits what it may be asked. No IdP is asked.
   */
  async #resolveTxnToken(tenantId: string, token: string): Promise<Resolved> {
    try {
      const verified = await this.#requireTxnTokens().verify(tenantId, token);
      return {
        ref:
          verified.sessionId === undefined
            ? { kind: 'user', userId: verified.userId }
            : { kind: 'session', sessionId: verified.sessionId },
        asserted: undefined,
        refused: undefined,
        scope: verified.scope,
        userId: verified.userId,
        upstream: { txn: verified.txn, decisionId: verified.decisionId },
      };
    } catch (error) {
      if (!(error instanceof TokenRejectedError)) throw error;
      return {
        ref: { kind: 'user', userId: '' },
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
        subject: undefined,
        encoder: undefined,
        stale: false,
        fixed: resolved.refused,
        upstream: resolved.upstream,
      };
    }
    // Tenant first: an unknown tenant is NOT_FOUND even when no policy is loaded.
    const read = this.#reader.readSubject(tenantId, resolved.ref, context.deviceId);
    const { sequence } = read;
    if (resolved.userId !== undefined && read.slice !== undefined && read.slice.user.id !== resolved.userId) {
      // A transaction token whose session now belongs to someone else: never decide for another user.
      return this.#prepare(tenantId, { ...resolved, refused: TXN_SUBJECT_MISMATCH }, context, subjectProperties);
    }
    const slice =
      read.slice === undefined || resolved.asserted === undefined
        ? read.slice
        : withAssertedSession(tenantId, read.slice, resolved.ref, resolved.asserted);
    const policy = this.#policies.get(tenantId);
    // Cut off from the stream for too long: the store may be missing a
    // deactivation or revocation, so nothing is allowed.
    const stale = this.#freshness?.isStale() ?? false;
    // One clock reading per request: every item of a batch is decided at the same `now`.
    const subject =
      slice === undefined || stale ? undefined : subjectInput(tenantId, this.#clock(), slice, subjectProperties);
    return {
      sequence,
      ref: resolved.ref,
      slice,
      policy,
      subject,
      encoder: subject === undefined ? undefined : new PolicyInputEncoder(subject),
      stale,
      fixed: undefined,
      upstream: resolved.upstream,
    };
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
    const input = requestInput(action, resource, context, this.#stored(prepared, resource));
    const outcome = (
      await this.#outcomes(prepared, async (encoder) => [await prepared.policy.evaluate(encoder.encode(input))])
    )?.[0];
    return outcome === undefined
      ? this.#stamp(prepared, action, resource, this.#fixedOutcome(prepared), undefined)
      : this.#stamp(prepared, action, resource, outcome, input);
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

  /** A step-up of a session a SAML IdP asserted carries a ready AuthnRequest. */
  async #withSamlRequest(prepared: Prepared, decision: Decision): Promise<Decision> {
    const issuer = prepared.slice?.session?.issuer;
    const { stepUp } = decision;
    if (stepUp === undefined || issuer === undefined || this.#samlStepUp === undefined) return decision;
    try {
      const samlRequest = await this.#samlStepUp(prepared.policy.tenantId, issuer, stepUp);
      return samlRequest === undefined ? decision : { ...decision, stepUp: { ...stepUp, samlRequest } };
    } catch (error) {
      this.#logger.warn(
        { err: error, tenant: prepared.policy.tenantId, issuer },
        'no SAML AuthnRequest for this step-up; the app can ask CreateSamlRequest',
      );
      return decision;
    }
  }

  #stamp(
    prepared: Prepared,
    action: CheckedAction,
    resource: CheckedResource,
    outcome: PolicyDecision,
    request: RequestInput | undefined,
  ): Decision {
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
    this.#log(prepared, action, resource, decision);
    // Every decision, single or batched, is made here: the one place to tell the observer.
    this.#observer?.decided(prepared.policy.tenantId, decision, {
      subject: prepared.ref,
      action: action.name,
      resource: { type: resource.type, id: resource.id },
      policyVersion: prepared.policy.version,
      sequence: prepared.sequence,
      input: policyInputOf(prepared.subject, request),
    });
    return decision;
  }

  #log(prepared: Prepared, action: CheckedAction, resource: CheckedResource, decision: Decision): void {
    const { policy, slice, upstream } = prepared;
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
        // A transaction token's call chain: its id, and the decision upstream that minted it.
        ...(upstream === undefined ? {} : { txn: upstream.txn, txn_decision_id: upstream.decisionId }),
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
  /** The subject half of the policy input, when the policy is consulted. */
  readonly subject: SubjectInput | undefined;
  readonly encoder: PolicyInputEncoder | undefined;
  readonly stale: boolean;
  /** An outcome decided before any policy (a refused token). */
  readonly fixed: PolicyDecision | undefined;
  /** The transaction token the subject came from: logged with the decision. */
  readonly upstream: Resolved['upstream'];
}

function policyInputOf(
  subject: SubjectInput | undefined,
  request: RequestInput | undefined,
): (() => PolicyInput) | undefined {
  return subject === undefined || request === undefined ? undefined : () => ({ ...subject, ...request });
}

/** A subject as the store can look it up, with what a token asserted about its session. */
export interface Resolved {
  readonly ref: SubjectRef;
  readonly asserted: TokenIdentity['session'] | undefined;
  readonly refused: PolicyDecision | undefined;
  /** A transaction token's: only this action and resource may be decided for it. */
  readonly scope?: TxnScope | undefined;
  /** A transaction token's user: its session must still be this user's. */
  readonly userId?: string | undefined;
  /** A transaction token's transaction id and the decision that minted it. */
  readonly upstream?: { readonly txn: string; readonly decisionId: string } | undefined;
}

/** A transaction token asked about anything but the one action and resource it was minted for is refused. */
function withinTxnScope(resolved: Resolved, action: CheckedAction, resource: CheckedResource): Resolved {
  const { scope } = resolved;
  if (scope === undefined || resolved.refused !== undefined || withinScope(scope, action.name, resource)) {
    return resolved;
  }
  return { ...resolved, refused: TXN_SCOPE_EXCEEDED };
}

const TXN_SCOPE_EXCEEDED: PolicyDecision = {
  kind: 'deny',
  reasons: [
    {
      code: 'TXN_TOKEN_SCOPE_EXCEEDED',
      message: 'the transaction token authorizes another action or resource than this request names',
    },
  ],
  stepUp: undefined,
};

const TXN_SUBJECT_MISMATCH: PolicyDecision = {
  kind: 'deny',
  reasons: [{ code: 'TOKEN_CLAIM_INVALID', message: "the transaction token's session is not its subject's" }],
  stepUp: undefined,
};

function resolvedFrom(subject: CheckSubject): Resolved {
  if (subject.kind === 'token' || subject.kind === 'identifier' || subject.kind === 'txn_token') {
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
