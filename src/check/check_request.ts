import type { PolicyDecision, StepUpChallenge } from '../policy/index.js';
import type { SubjectRef } from '../store/index.js';

/**
 * The subject of a Check: a store reference, a raw token to verify first, or an identifier of a subject
 * type the tenant declares (AuthZEN `subject.type` and `id`), resolved to one user first.
 */
export type CheckSubject =
  | SubjectRef
  | { readonly kind: 'token'; readonly token: string }
  /** A transaction token a sidecar of the tenant minted: its user and session, limited to its scope. */
  | { readonly kind: 'txn_token'; readonly token: string }
  | { readonly kind: 'identifier'; readonly type: string; readonly id: string };

export interface RequestContext {
  readonly ip: string | undefined;
  readonly userAgent: string | undefined;
  readonly deviceId: string | undefined;
  readonly attributes: Readonly<Record<string, unknown>>;
}

export interface CheckedAction {
  readonly name: string;
  readonly properties: Readonly<Record<string, unknown>>;
}

export interface CheckedResource {
  readonly type: string;
  readonly id: string;
  readonly properties: Readonly<Record<string, unknown>>;
  /** Other members the caller sent beside type, id and properties (AuthZEN); the policy sees them in `input.resource`. */
  readonly fields?: Readonly<Record<string, unknown>> | undefined;
}

export interface CheckRequest {
  readonly tenantId: string;
  readonly subject: CheckSubject;
  readonly action: CheckedAction;
  readonly resource: CheckedResource;
  readonly context: RequestContext;
  /** Decide only once the store has applied this stream sequence (0 = any). */
  readonly minSequence: number;
  /** What the caller says about the subject (AuthZEN `subject.properties`): `input.subject.properties`, unverified. */
  readonly subjectProperties?: Readonly<Record<string, unknown>> | undefined;
  /** Mint a transaction token if the decision is ALLOW (`CheckRequest.txn_token`). */
  readonly txnToken?: { readonly purpose: string | undefined } | undefined;
}

export interface BatchCheckItem {
  readonly action: CheckedAction;
  readonly resource: CheckedResource;
  readonly context: RequestContext;
}

export interface BatchCheckRequest {
  readonly tenantId: string;
  readonly subject: CheckSubject;
  readonly items: readonly BatchCheckItem[];
  /** The request-level context; each item's context already includes it. */
  readonly context: RequestContext;
  readonly minSequence: number;
  /** What the caller says about the subject: `input.subject.properties`, unverified. */
  readonly subjectProperties?: Readonly<Record<string, unknown>> | undefined;
}

/** A policy decision with what identifies it, and for a step-up what to send the subject's IdP. */
export interface Decision extends Omit<PolicyDecision, 'stepUp'> {
  readonly decisionId: string;
  readonly stepUp: StepUpRequest | undefined;
}

/** The policy's step-up, with the authorization-request parameters for the subject's IdP (docs/sessions.md). */
export interface StepUpRequest extends StepUpChallenge {
  readonly authorizationParams: Readonly<Record<string, string>>;
  /**
   * For a session a SAML IdP asserted: a ready AuthnRequest (RequestedAuthnContext for the acr values,
   * ForceAuthn when an authentication age is demanded) whose id every replica accepts as InResponseTo.
   */
  readonly samlRequest?: SamlStepUpRequest | undefined;
}

/** A SAML AuthnRequest issued for a step-up: where to redirect the browser. */
export interface SamlStepUpRequest {
  readonly redirectUrl: string;
  readonly requestId: string;
  readonly idp: string;
}

export interface CheckResult {
  readonly decision: Decision;
  readonly policyVersion: string;
  readonly sequence: number;
  /** Minted after an ALLOW when the request asked for one. */
  readonly txnToken?: string | undefined;
}

export interface BatchCheckResult {
  readonly decisions: readonly Decision[];
  readonly policyVersion: string;
  readonly sequence: number;
}
