import type {
  GroupData,
  PostureKind,
  RelationData,
  RelationSubjectKind,
  ResourceData,
  SessionData,
  UserData,
} from '../changes/index.js';

/**
 * The entitlement store's records: what the IdP told us about a tenant's
 * users, groups, sessions and posture. Times are Unix seconds.
 */

export interface TenantRecord {
  /** Tenant id: lowercase letter first, then `[a-z0-9_]`, at most 63 chars. */
  readonly id: string;
  readonly displayName: string;
}

export interface UserRecord {
  readonly tenantId: string;
  /** Internal UUID; also the SCIM `id`. */
  readonly id: string;
  /** SCIM userName; unique per tenant, compared case-insensitively. */
  readonly userName: string;
  readonly externalId: string | undefined;
  readonly active: boolean;
  /** Profile attributes the policy may use (department, title, ...). */
  readonly attributes: Readonly<Record<string, unknown>>;
  /** SCIM `roles` values, if the IdP sends any. */
  readonly roles: readonly string[];
  /** Fields a newer producer sent that this build does not interpret; kept. */
  readonly extra?: Readonly<Record<string, unknown>>;
  /**
   * Set while the record is as stored for a tenant with a customer-managed key: the personal fields, sealed;
   * userName and externalId then hold lookup hashes and attributes only the e-mail and phone hashes.
   */
  readonly sealed?: string;
  /** Provenance, set by ingest: the stream sequence of the user's latest change (the SCIM version). */
  readonly version?: EntityVersion;
}

/**
 * The conversions of each entity between its wire form (a change's `data`,
 * snake_case, null for absent) and its record (camelCase, undefined for
 * absent): one pair per entity, which every producer and the applier use.
 * test/store/records.test.ts round-trips each and checks every wire field is
 * covered.
 */

/** A user change's data as the record it stores, at `version` in the stream (undefined: not stored yet). */
export function userOf(tenantId: string, data: UserData, version: EntityVersion | undefined): UserRecord {
  return {
    tenantId,
    id: data.id,
    userName: data.user_name,
    externalId: data.external_id ?? undefined,
    active: data.active,
    attributes: data.attributes,
    roles: data.roles,
    ...(data.extra === undefined ? {} : { extra: data.extra }),
    ...(data.sealed === undefined ? {} : { sealed: data.sealed }),
    ...(version === undefined ? {} : { version }),
  };
}

/**
 * A stored user as the whole-entity change that would write it again: what a
 * writer starts from to publish a modified user (with only its changes).
 */
export function userDataOf(user: UserRecord): UserData {
  return {
    id: user.id,
    user_name: user.userName,
    external_id: user.externalId ?? null,
    active: user.active,
    attributes: user.attributes,
    roles: user.roles,
    ...(user.version === undefined ? {} : { created_at: user.version.createdAt }),
    ...(user.extra === undefined || Object.keys(user.extra).length === 0 ? {} : { extra: user.extra }),
    ...(user.sealed === undefined ? {} : { sealed: user.sealed }),
  };
}

/** Where an entity's current state came from in the stream. */
export interface EntityVersion {
  /** Stream sequence of the entity's latest message. */
  readonly sequence: number;
  /** Unix ms. */
  readonly createdAt: number;
  /** Unix ms. */
  readonly modifiedAt: number;
}

/** Binds an IdP's `(issuer, sub)` to an internal user of one tenant. */
export interface IdentityBinding {
  readonly tenantId: string;
  readonly issuer: string;
  readonly subject: string;
  readonly userId: string;
}

export interface GroupRecord {
  readonly tenantId: string;
  readonly id: string;
  readonly displayName: string;
  readonly externalId: string | undefined;
  readonly extra?: Readonly<Record<string, unknown>>;
  readonly version?: EntityVersion;
}

/** A group change's data as the record it stores, at `version` in the stream. */
export function groupOf(tenantId: string, data: GroupData, version: EntityVersion): GroupRecord {
  return {
    tenantId,
    id: data.id,
    displayName: data.display_name,
    externalId: data.external_id ?? undefined,
    ...(data.extra === undefined ? {} : { extra: data.extra }),
    version,
  };
}

/** A stored group as the whole-entity change that would write it again (see {@link userDataOf}). */
export function groupDataOf(group: GroupRecord): GroupData {
  return {
    id: group.id,
    display_name: group.displayName,
    external_id: group.externalId ?? null,
    ...(group.version === undefined ? {} : { created_at: group.version.createdAt }),
    ...(group.extra === undefined || Object.keys(group.extra).length === 0 ? {} : { extra: group.extra }),
  };
}

/** A group as a subject's slice carries it. */
export interface GroupRef {
  readonly id: string;
  readonly displayName: string;
  readonly externalId: string | undefined;
}

export interface SessionRecord {
  readonly tenantId: string;
  readonly id: string;
  readonly userId: string;
  /** The IdP that asserted the session. */
  readonly issuer: string;
  readonly acr: string | undefined;
  readonly amr: readonly string[];
  readonly authTime: number | undefined;
  /** The session ends here at the latest (IPSIE SL1: from the assertion). */
  readonly expiresAt: number;
  readonly createdAt: number;
  readonly revokedAt: number | undefined;
  readonly revokeReason: string | undefined;
  readonly ip: string | undefined;
  readonly deviceId: string | undefined;
  /** The IdP's own session id (`sid`). */
  readonly idpSessionId?: string | undefined;
  readonly extra?: Readonly<Record<string, unknown>>;
  /** Set while the record is as stored for a tenant with a customer-managed key: the ip, sealed. */
  readonly sealed?: string;
}

/** A session change's data as the record it stores. */
export function sessionOf(tenantId: string, data: SessionData): SessionRecord {
  return {
    tenantId,
    id: data.id,
    userId: data.user_id,
    issuer: data.issuer,
    acr: data.acr ?? undefined,
    amr: data.amr,
    authTime: data.auth_time ?? undefined,
    expiresAt: data.expires_at,
    createdAt: data.created_at,
    revokedAt: data.revoked_at ?? undefined,
    revokeReason: data.revoke_reason ?? undefined,
    ip: data.ip ?? undefined,
    deviceId: data.device_id ?? undefined,
    idpSessionId: data.idp_session_id,
    ...(data.extra === undefined ? {} : { extra: data.extra }),
    ...(data.sealed === undefined ? {} : { sealed: data.sealed }),
  };
}

/** A stored session as the whole-entity change that would write it again. */
export function sessionDataOf(session: SessionRecord): SessionData {
  return {
    id: session.id,
    user_id: session.userId,
    issuer: session.issuer,
    acr: session.acr ?? null,
    amr: session.amr,
    auth_time: session.authTime ?? null,
    expires_at: session.expiresAt,
    created_at: session.createdAt,
    revoked_at: session.revokedAt ?? null,
    revoke_reason: session.revokeReason ?? null,
    ip: session.ip ?? null,
    device_id: session.deviceId ?? null,
    ...(session.idpSessionId === undefined ? {} : { idp_session_id: session.idpSessionId }),
    ...(session.extra === undefined || Object.keys(session.extra).length === 0 ? {} : { extra: session.extra }),
    ...(session.sealed === undefined ? {} : { sealed: session.sealed }),
  };
}

/** An access or refresh token the IdP (or an admin) revoked before it expired. */
export interface RevokedTokenRecord {
  readonly tenantId: string;
  readonly jti: string;
  readonly userId: string | undefined;
  readonly revokedAt: number;
  readonly expiresAt: number | undefined;
}

/** An IdP session (`sid`) the IdP ended: stored sessions and tokens carrying it are revoked. */
export interface RevokedSidRecord {
  readonly tenantId: string;
  /** The IdP whose session it is; undefined: any IdP of the tenant. */
  readonly issuer: string | undefined;
  readonly sid: string;
  readonly revokedAt: number;
  /** No token or session carrying the sid is valid after this anyway. */
  readonly expiresAt: number;
  readonly reason: string;
}

/** Posture reported by the IdP or device management, by kind (keyed by user or device id: `POSTURE_KIND_REGISTRY`). */
export interface PostureRecord {
  readonly tenantId: string;
  readonly kind: PostureKind;
  readonly subjectId: string;
  readonly state: Readonly<Record<string, unknown>>;
  readonly updatedAt: number;
  /** Set for a tenant with a customer-managed key: the state, sealed (`state` is then empty). */
  readonly sealed?: string;
}

/** How a Check names its subject. */
export type SubjectRef =
  | { readonly kind: 'user'; readonly userId: string }
  | { readonly kind: 'session'; readonly sessionId: string }
  | {
      readonly kind: 'identity';
      readonly issuer: string;
      readonly subject: string;
      /** A session the token names (its `sid`): joined when the store holds it (e.g. revoked by the IdP). */
      readonly sessionId?: string | undefined;
    };

/** Everything a decision needs to know about one subject, read at one point in time. */
export interface SubjectSlice {
  readonly user: UserRecord;
  /** Set when the user must re-authenticate with an auth_time after it (IPSIE SL2). */
  readonly reauthenticateAfter: number | undefined;
  /** Every session of the user created at or before this time is revoked (Unix s). */
  readonly signedOutBefore?: number | undefined;
  readonly groups: readonly GroupRef[];
  readonly session: SessionRecord | undefined;
  /**
   * The IdP revoked the IdP session (`sid`) the subject's session or token
   * carries. A stored session reads as revoked by it already; a token's
   * session is the caller's to mark.
   */
  readonly idpSessionRevoked?: { readonly revokedAt: number; readonly reason: string } | undefined;
  readonly posture: Readonly<Partial<Record<PostureKind, Readonly<Record<string, unknown>>>>>;
}

/** A subject's slice with the stream sequence the store was at when it was read. */
export interface SubjectRead {
  readonly sequence: number;
  /** `undefined` when the subject is unknown to the tenant. */
  readonly slice: SubjectSlice | undefined;
}

/**
 * The stream a store materializes: its name and the server's creation time.
 * A stream deleted and created again under the same name has another
 * creation time, and its sequences start again from 1.
 */
export interface StreamOrigin {
  readonly stream: string;
  /** The stream's `created` timestamp as JetStream reports it (RFC 3339, nanoseconds). */
  readonly created: string;
}

/** One of the app's resources (docs/resources.md): what the app told the gateway about it. */
export interface ResourceRecord {
  readonly tenantId: string;
  readonly type: string;
  readonly id: string;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly extra?: Readonly<Record<string, unknown>>;
  readonly version?: EntityVersion;
}

/** A resource change's data as the record it stores, at `version` in the stream. */
export function resourceOf(tenantId: string, data: ResourceData, version: EntityVersion): ResourceRecord {
  return {
    tenantId,
    type: data.type,
    id: data.id,
    attributes: data.attributes,
    ...(data.extra === undefined ? {} : { extra: data.extra }),
    version,
  };
}

/** A stored resource as the whole-entity change that would write it again. */
export function resourceDataOf(resource: ResourceRecord): ResourceData {
  return {
    type: resource.type,
    id: resource.id,
    attributes: resource.attributes,
    ...(resource.extra === undefined || Object.keys(resource.extra).length === 0 ? {} : { extra: resource.extra }),
  };
}

/** What a relation points at: a user or group of the directory, or another resource (`type` set). */
export interface RelationSubject {
  readonly kind: RelationSubjectKind;
  /** The resource type of a resource subject; undefined for a user or group. */
  readonly type: string | undefined;
  readonly id: string;
}

/** One relation tuple: `resource -relation-> subject`. */
export interface RelationRecord {
  readonly tenantId: string;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly relation: string;
  readonly subject: RelationSubject;
}

/** A relation change's data as the record it stores. */
export function relationOf(tenantId: string, data: RelationData): RelationRecord {
  return {
    tenantId,
    resourceType: data.resource_type,
    resourceId: data.resource_id,
    relation: data.relation,
    subject: { kind: data.subject_kind, type: data.subject_type ?? undefined, id: data.subject_id },
  };
}

/** A stored relation as the change data that would write it again (`relation.add`) or end it (`relation.remove`). */
export function relationDataOf(relation: RelationRecord): RelationData {
  return {
    resource_type: relation.resourceType,
    resource_id: relation.resourceId,
    relation: relation.relation,
    subject_kind: relation.subject.kind,
    subject_type: relation.subject.type ?? null,
    subject_id: relation.subject.id,
  };
}
