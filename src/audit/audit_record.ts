import { createHash } from 'node:crypto';
import { tenantSubjectToken } from '../tenant_id.js';

export const AUDIT_STREAM = 'IPSIE_AUDIT';
export const AUDIT_SUBJECT_PREFIX = 'ipsie.audit';

/**
 * What happened, for a tenant's security team. Append-only; newer kinds may
 * appear, so readers skip kinds they do not know.
 */
export type AuditKind =
  /** A SET was verified and its effects stored. Its subject is claimed once per `(iss, jti)`. */
  | 'set.accepted'
  /** An ID token presented at sign-in (StartSession). Its subject is claimed once per `(iss, assertion)`. */
  | 'signin.assertion'
  /** A SET from an authenticated transmitter was refused, with the RFC 8935 error it got. */
  | 'set.refused'
  /** A SET we sent to the tenant's receiver, and how it answered. */
  | 'set.transmitted'
  /** We asked a transmitter for a verification event with this `state` (SSF §8.1.4.2). */
  | 'ssf.verification_requested'
  /** A SCIM request that changed (or tried to change) the directory: method, path, status. */
  | 'scim.write'
  /** A write of the app's resource API (docs/resources.md), done or refused: method, path, status, sequence. */
  | 'resource.write'
  /** A policy version uploaded, activated (or rolled back to), or deleted. */
  | 'policy.change'
  /** A tenant administrator's action (re-authentication, session revocation, stream management). */
  | 'admin.action'
  /** An IdP's published keys changed (`kid`s added, removed), or its discovery named another `jwks_uri`. */
  | 'idp.change'
  /** A sampled authorization decision (`IPSIE_DECISION_AUDIT_RATE`). */
  | 'decision'
  /** A request to one of the tenant's APIs whose credential was missing or refused (never the credential). */
  | 'auth.refused'
  /** The tenant's customer-managed-key data keys were created (docs/keys.md). */
  | 'tenant_key.created'
  /** Its data key was rotated, or its keys re-wrapped under another customer-managed key. */
  | 'tenant_key.rotated'
  /** Its keys were crypto-shredded, or its key service refused its key (disabled, deleted). */
  | 'tenant_key.revoked';

export interface AuditRecord {
  readonly v: 1;
  /** Unique id; the `Nats-Msg-Id`. */
  readonly id: string;
  readonly tenant: string;
  readonly kind: AuditKind;
  /** Unix ms. */
  readonly at: number;
  readonly data: Readonly<Record<string, unknown>>;
}

/** Every subject of one tenant's audit trail. */
export function tenantAuditSubjects(tenant: string): string {
  return `${AUDIT_SUBJECT_PREFIX}.${tenantSubjectToken(tenant)}.>`;
}

/**
 * The subject of an accepted SET: one per `(issuer, jti)`, so the stream
 * itself refuses a second one (replay) on every gateway replica.
 */
export function acceptedSetSubject(tenant: string, issuer: string, jti: string): string {
  const key = createHash('sha256').update(`${issuer}\0${jti}`).digest('base64url');
  return `${AUDIT_SUBJECT_PREFIX}.${tenantSubjectToken(tenant)}.set.${key}`;
}

/**
 * The subject of a sign-in assertion: one per `(issuer, assertion id)`, so the
 * stream refuses the same ID token on a second sidecar replica, as a SET's
 * `jti` on a second gateway (see {@link acceptedSetSubject}).
 */
export function signInAssertionSubject(tenant: string, issuer: string, assertionId: string): string {
  const key = createHash('sha256').update(`${issuer}\0${assertionId}`).digest('base64url');
  return `${AUDIT_SUBJECT_PREFIX}.${tenantSubjectToken(tenant)}.signin.${key}`;
}

/** Where a verification request is recorded: any replica receiving the event finds its `state` there. */
export function verificationRequestSubject(tenant: string, state: string): string {
  const key = createHash('sha256').update(state).digest('base64url');
  return `${AUDIT_SUBJECT_PREFIX}.${tenantSubjectToken(tenant)}.verify.${key}`;
}

/** Every accepted SET's subject of one tenant (see {@link acceptedSetSubject}). */
export function acceptedSetSubjects(tenant: string): string {
  return `${AUDIT_SUBJECT_PREFIX}.${tenantSubjectToken(tenant)}.set.*`;
}

export function auditSubject(record: AuditRecord): string {
  const decisionId = record.data['decision_id'];
  if (record.kind === 'decision' && typeof decisionId === 'string' && DECISION_ID.test(decisionId)) {
    return decisionSubject(record.tenant, decisionId);
  }
  return `${AUDIT_SUBJECT_PREFIX}.${tenantSubjectToken(record.tenant)}.${record.kind.replace('.', '_')}`;
}

/** Decision ids are the sidecars' own UUIDs: safe as one subject token, and nothing else is. */
const DECISION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isDecisionId(value: string): boolean {
  return DECISION_ID.test(value);
}

/** Every sampled decision of one tenant (see {@link decisionSubject}). */
export function decisionSubjects(tenant: string): string {
  return `${AUDIT_SUBJECT_PREFIX}.${tenantSubjectToken(tenant)}.decision.*`;
}

/**
 * Where a sampled decision is recorded: one subject per decision, so that it is found by its id
 * (a direct get of the subject's last message) rather than by reading the tenant's trail.
 */
export function decisionSubject(tenant: string, decisionId: string): string {
  if (!DECISION_ID.test(decisionId)) throw new TypeError(`${decisionId} is not a decision id`);
  return `${AUDIT_SUBJECT_PREFIX}.${tenantSubjectToken(tenant)}.decision.${decisionId}`;
}
