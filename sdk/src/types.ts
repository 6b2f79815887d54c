/**
 * What an app sends and gets back, in this package's own shapes (camelCase,
 * numbers for sequences, `Date` for instants). The sidecar's proto
 * (`proto/ipsie/sidecar/v1/authz.proto`) documents each field.
 */
import type { DecisionReasonCode } from './reasons.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = Record<string, JsonValue>;

/** Who is asking: exactly one form. */
export type Subject =
  /** A session the sidecar started at sign-in (`startSession`). */
  | { readonly sessionId: string }
  /** The internal user id, for apps that authenticated the user themselves (no session rules apply). */
  | { readonly userId: string }
  /** A raw OIDC ID token or access token from the tenant's IdP. */
  | { readonly token: string }
  /**
   * An identifier of a subject type the tenant declares, as AuthZEN names subjects: e.g. `identity` and the
   * IdP's `sub`. It must name exactly one user; no session rules apply.
   */
  | { readonly identifier: { readonly type: string; readonly id: string } }
  /**
   * A transaction token an upstream service received with an ALLOW (`CheckInput.txnToken`): its user and
   * session, and only the action and resource it was minted for (else DENY `TXN_TOKEN_SCOPE_EXCEEDED`).
   */
  | { readonly txnToken: string };

export interface RequestContext {
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
  readonly deviceId?: string | undefined;
  readonly attributes?: JsonObject | undefined;
}

export interface Action {
  readonly name: string;
  readonly properties?: JsonObject | undefined;
}

export interface Resource {
  /** Application-defined type, e.g. `document`. */
  readonly type: string;
  /** Empty or absent for type-level questions ("may create a document"). */
  readonly id?: string | undefined;
  readonly properties?: JsonObject | undefined;
}

/**
 * A stream sequence: decide only once the sidecar's store has applied it
 * (read-after-write). Take it from `startSession`, a session event, or an
 * earlier decision. A JetStream sequence stays far below 2^53.
 */
export type Sequence = number;

export interface CheckInput {
  readonly tenant: string;
  readonly subject: Subject;
  /** The verb, or the verb with properties. */
  readonly action: string | Action;
  readonly resource: Resource;
  readonly context?: RequestContext | undefined;
  /** @defaultValue 0 (no requirement) */
  readonly minSequence?: Sequence | undefined;
  /**
   * Ask for a transaction token with an ALLOW (`CheckResult.txnToken`), to pass to downstream services.
   * Not for `token` or `txnToken` subjects (`TXN_TOKEN_UNSUPPORTED`).
   */
  readonly txnToken?: { readonly purpose?: string | undefined } | undefined;
}

export interface Reason {
  readonly code: DecisionReasonCode;
  /** For people; may change. */
  readonly message: string;
}

/** RFC 9470 step-up: what the user must do at the IdP before the app may proceed. */
export interface StepUpChallenge {
  /** acr values in order of preference; empty when any level will do. */
  readonly acrValues: readonly string[];
  /** Maximum authentication age in seconds; absent when not required. */
  readonly maxAge?: number | undefined;
  /**
   * Ready-made parameters for the next OpenID Connect authorization request
   * (`acr_values`, `max_age`, `claims`, `prompt`), as the tenant's IdP needs them.
   */
  readonly authorizationParams: Readonly<Record<string, string>>;
  /** The RFC 9470 `WWW-Authenticate` value, to send as it is. */
  readonly wwwAuthenticate: string;
  /**
   * For a session a SAML IdP asserted: a ready AuthnRequest (RequestedAuthnContext, ForceAuthn when an
   * authentication age is demanded). Redirect the browser to its `redirectUrl`, then `startSession` with the
   * Response the IdP posts to your ACS.
   */
  readonly samlRequest?: SamlAuthnRequest | undefined;
}

/** A SAML AuthnRequest the sidecar issued (HTTP-Redirect binding); every sidecar replica accepts its Response. */
export interface SamlAuthnRequest {
  /** The IdP's SSO URL with SAMLRequest (and RelayState): redirect the browser here. */
  readonly redirectUrl: string;
  /** Its ID, the InResponseTo of the Response. */
  readonly requestId: string;
  /** The IdP's entityID. */
  readonly idp: string;
}

export interface CreateSamlRequestInput {
  readonly tenant: string;
  /** The IdP's entityID; may be left out when the tenant has one SAML IdP. */
  readonly idp?: string | undefined;
  /** Your state, sent back with the Response; at most 80 bytes. */
  readonly relayState?: string | undefined;
  /** acr values for RequestedAuthnContext (mapped back through the IdP's acr_map). */
  readonly acrValues?: readonly string[] | undefined;
  /** @defaultValue 'exact' */
  readonly comparison?: 'exact' | 'minimum' | undefined;
  /** The IdP must authenticate the user again. */
  readonly forceAuthn?: boolean | undefined;
}

interface DecisionCommon {
  readonly reasons: readonly Reason[];
  /** Unique id of the decision, also in the sidecar's logs and audit. */
  readonly decisionId: string;
}

export type Decision =
  | (DecisionCommon & { readonly decision: 'ALLOW' })
  | (DecisionCommon & { readonly decision: 'DENY' })
  | (DecisionCommon & { readonly decision: 'STEP_UP'; readonly stepUp: StepUpChallenge });

/** A Check's answer: the decision and where it was made. */
export type CheckResult = Decision & {
  /** Which compiled tenant policy answered. */
  readonly policyVersion: string;
  /** The store sequence the decision was made at. */
  readonly sequence: Sequence;
  /** With an ALLOW when `txnToken` was asked for: the signed transaction token (typ `txntoken+jwt`). */
  readonly txnToken?: string | undefined;
};

export interface BatchCheckItem {
  readonly action: string | Action;
  readonly resource: Resource;
  /** Merged over the request's context; item values win. */
  readonly context?: RequestContext | undefined;
}

export interface BatchCheckInput {
  readonly tenant: string;
  readonly subject: Subject;
  readonly items: readonly BatchCheckItem[];
  readonly context?: RequestContext | undefined;
  readonly minSequence?: Sequence | undefined;
}

export interface BatchCheckResult {
  /** In request order, all at one store sequence and policy version. */
  readonly results: readonly Decision[];
  readonly policyVersion: string;
  readonly sequence: Sequence;
}

/** A sign-in: the ID token of an OIDC flow, or the Response a SAML IdP posted to the app's ACS. */
export type StartSessionInput = OidcStartSessionInput | SamlStartSessionInput;

export interface OidcStartSessionInput {
  readonly tenant: string;
  /** The ID token from the token endpoint, exactly as received. */
  readonly idToken: string;
  /** The nonce of the authentication request; the token must carry it. */
  readonly nonce?: string | undefined;
  readonly context?: RequestContext | undefined;
}

export interface SamlStartSessionInput {
  readonly tenant: string;
  /** The `SAMLResponse` form field your ACS received, base64 exactly as posted. */
  readonly samlResponse: string;
  readonly context?: RequestContext | undefined;
}

export interface StartedSession {
  /** The session to name in Checks (`{ sessionId }`). */
  readonly sessionId: string;
  /** The internal user the IdP identity is bound to. */
  readonly userId: string;
  /** The session ends here at the latest. */
  readonly expiresAt: Date;
  /** A `minSequence` that sees the session on any sidecar. */
  readonly sequence: Sequence;
  /** How the identity was bound: `existing`, `linked` or `provisioned`. */
  readonly binding: string;
}

export interface WatchSessionsInput {
  readonly tenant: string;
  /** Only events of these users; empty or absent for every user of the tenant. */
  readonly userIds?: readonly string[] | undefined;
}

export type SessionEventKind =
  /** One session ended (CAEP session-revoked, IdP logout, admin): `sessionId` names it. */
  | 'SESSION_REVOKED'
  /** Every session of the user started before the event ended. */
  | 'USER_SESSIONS_REVOKED'
  | 'USER_DEACTIVATED'
  | 'USER_DELETED'
  /** The IdP asks that the user authenticate again before continuing. */
  | 'REAUTHENTICATION_REQUIRED';

export interface SessionEvent {
  readonly kind: SessionEventKind;
  readonly tenant: string;
  readonly userId: string;
  /** Set for `SESSION_REVOKED`. */
  readonly sessionId?: string | undefined;
  readonly reason: string;
  /** A `minSequence` whose Checks see the change. */
  readonly sequence: Sequence;
  /** When the change was accepted. */
  readonly at: Date;
}
