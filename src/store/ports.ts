import type { PostureKind } from '../changes/index.js';
import type {
  GroupRecord,
  GroupRef,
  IdentityBinding,
  PostureRecord,
  RelationRecord,
  RelationSubject,
  ResourceRecord,
  RevokedSidRecord,
  RevokedTokenRecord,
  SessionRecord,
  StreamOrigin,
  SubjectRead,
  SubjectRef,
  TenantRecord,
  UserRecord,
} from './records.js';

/**
 * The store's three narrow views (STYLE.md b.5): check reads through
 * {@link EntitlementReader}, ingest writes through {@link EntitlementWriter},
 * the gateway's SCIM service reads through {@link DirectoryReader}.
 */

/** What the check path may do with the store: read one subject at a time. */
export interface EntitlementReader {
  hasTenant(tenantId: string): boolean;
  /** Every tenant the store knows. */
  tenantIds(): string[];
  /**
   * Reads a subject's user, groups, session and posture, and the stream
   * sequence they reflect, in one snapshot. The slice is `undefined` when
   * the subject (or its session or binding) is unknown to this tenant.
   *
   * @param deviceId device whose posture to include; defaults to the session's device.
   * @throws {TenantUnknownError} `ERR_STORE_TENANT_UNKNOWN`
   */
  readSubject(tenantId: string, ref: SubjectRef, deviceId?: string): SubjectRead;
  /** The last stream sequence applied to the store (0 before any). */
  appliedSequence(): number;
  /** Whether the IdP revoked the token with this `jti` (CAEP token-claims-change, revocation). */
  isTokenRevoked(tenantId: string, jti: string): boolean;
  /**
   * Whether the IdP session `sid` of `issuer` was revoked (a `sid.revoke` of that IdP, or of any IdP of the
   * tenant), whether or not a stored session carries it.
   */
  isIdpSessionRevoked(tenantId: string, issuer: string, sid: string): boolean;
}

/**
 * The app's resources and relations (docs/resources.md), as decisions, searches and the gateway's writes
 * read them. Every read of a chain of parents stops after `maxDepth` steps, so a cycle that reached the
 * stream anyway is never looped on.
 */
export interface ResourceReader {
  resource(tenantId: string, type: string, id: string): ResourceRecord | undefined;
  /** Resources of `type` whose id sorts after `afterId`, in id order: keyset pages. */
  resourcesAfter(tenantId: string, type: string, afterId: string, limit: number): ResourceRecord[];
  /** The resource's own relations, in key order, at most `limit`. */
  relationsOf(tenantId: string, type: string, id: string, limit: number): RelationRecord[];
  relationCount(tenantId: string, type: string, id: string): number;
  /** Whether the store holds exactly this relation tuple. */
  hasRelation(relation: RelationRecord): boolean;
  /** Relations whose subject is `subject` (a resource's children name it as their parent), at most `limit`. */
  relationsNaming(tenantId: string, subject: RelationSubject, limit: number): RelationRecord[];
  /** The resources named as the resource's `parent`. */
  parentsOf(tenantId: string, type: string, id: string): { readonly type: string; readonly id: string }[];
  /** The relations (names) the user holds on the resource: directly, through its groups, or on an ancestor. */
  subjectRelations(tenantId: string, userId: string, type: string, id: string, maxDepth: number): string[];
  /** Ids of resources of `query.type` on which the user holds `query.relation` (any), as above; keyset paged. */
  resourceIdsRelatedTo(
    tenantId: string,
    userId: string,
    query: {
      readonly type: string;
      readonly relation: string | undefined;
      readonly after: string;
      readonly limit: number;
    },
    maxDepth: number,
  ): string[];
  /** Ids of existing users holding any relation on the resource or an ancestor, named or through a group; keyset paged. */
  userIdsRelatedTo(
    tenantId: string,
    resource: { readonly type: string; readonly id: string },
    page: { readonly after: string; readonly limit: number },
    maxDepth: number,
  ): string[];
}

/**
 * What the ingest path may do: replace or delete one entity's state at a
 * time, atomically with the stream sequence. No write touches another
 * entity: a deletion's consequences arrive as tombstones of their own.
 */
export interface EntitlementWriter {
  /** Runs `fn` in one transaction; nested calls join the outer one. */
  transaction<T>(fn: () => T): T;
  /** Prior state, read inside the write transaction: `undefined` when the user does not exist. */
  userActive(tenantId: string, userId: string): boolean | undefined;
  /** Prior state: `undefined` when the session does not exist. */
  sessionRevoked(tenantId: string, sessionId: string): boolean | undefined;
  upsertTenant(tenant: TenantRecord): void;
  deleteTenant(tenantId: string): void;
  upsertUser(user: UserRecord): void;
  deleteUser(tenantId: string, userId: string): void;
  /** Sessions need an auth_time after `after` (Unix s) to be accepted (IPSIE SL2). */
  setReauthentication(tenantId: string, userId: string, after: number): void;
  /** Every session of the user created at or before `before` (Unix s) is revoked. */
  setSignout(tenantId: string, userId: string, before: number, reason: string): void;
  bindIdentity(binding: IdentityBinding): void;
  unbindIdentity(tenantId: string, issuer: string, subject: string): void;
  upsertGroup(group: GroupRecord): void;
  deleteGroup(tenantId: string, groupId: string): void;
  addMember(tenantId: string, groupId: string, userId: string): void;
  removeMember(tenantId: string, groupId: string, userId: string): void;
  /** Replaces the session's whole state, revocation included. */
  upsertSession(session: SessionRecord): void;
  revokeToken(token: RevokedTokenRecord): void;
  /** Records (or replaces) the revocation of an IdP session id. */
  revokeSid(revocation: RevokedSidRecord): void;
  /** Deletes a sid revocation (it expired from the stream). */
  forgetRevokedSid(tenantId: string, issuer: string | undefined, sid: string): void;
  setPosture(posture: PostureRecord): void;
  clearPosture(tenantId: string, kind: PostureKind, subjectId: string): void;
  /** Replaces one of the app's resources whole. */
  upsertResource(resource: ResourceRecord): void;
  /** Deletes the resource row only: its relations have tombstones of their own. */
  deleteResource(tenantId: string, type: string, id: string): void;
  addRelation(relation: RelationRecord): void;
  removeRelation(relation: RelationRecord): void;
  /**
   * Deletes every session of the tenant whose `expiresAt` is before `expiredBefore` (revoked or not) and
   * records the cutoff. A session that has not expired by then is never touched.
   */
  purgeSessions(tenantId: string, expiredBefore: number): void;
  setAppliedSequence(sequence: number): void;
  /** The stream the store materializes; `undefined` before the first one is recorded. */
  streamOrigin(): StreamOrigin | undefined;
  /**
   * Empties the store and records that it now materializes `origin` from its
   * beginning (applied sequence 0), in one transaction: a reader sees the
   * old state or an empty store, never a mix of the two. The first step of
   * every rebuild from the stream; recording the origin of a new store too.
   */
  resetTo(origin: StreamOrigin): void;
}

/**
 * What the gateway's SCIM service reads: whole users and groups with their
 * stream version, lookups by name, pages, members. Not used on the Check path.
 */
export interface DirectoryReader {
  appliedSequence(): number;
  hasTenant(tenantId: string): boolean;
  user(tenantId: string, id: string): UserRecord | undefined;
  /** Ids of the users whose userName equals `userName`, compared case-insensitively. */
  userIdsByUserName(tenantId: string, userName: string): string[];
  userIdsByExternalId(tenantId: string, externalId: string): string[];
  userCount(tenantId: string): number;
  /** Users ordered by id (stable for pagination). */
  usersPage(tenantId: string, offset: number, limit: number): UserRecord[];
  users(tenantId: string): IterableIterator<UserRecord>;
  group(tenantId: string, id: string): GroupRecord | undefined;
  groupIdsByDisplayName(tenantId: string, displayName: string): string[];
  groupCount(tenantId: string): number;
  groupsPage(tenantId: string, offset: number, limit: number): GroupRecord[];
  groups(tenantId: string): IterableIterator<GroupRecord>;
  /** Members of a group that exist as users, with their userName, ordered by id. */
  groupMembers(tenantId: string, groupId: string): { readonly id: string; readonly userName: string }[];
  /** Every membership row of the user (also to groups that no longer exist). */
  membershipGroupIds(tenantId: string, userId: string): string[];
  /** Groups of the user that exist, ordered by name. */
  groupsOfUser(tenantId: string, userId: string): GroupRef[];
  sessionsOfUser(tenantId: string, userId: string): SessionRecord[];
  bindingsOfUser(tenantId: string, userId: string): IdentityBinding[];
  /** Users an IdP of the tenant signed in as `subject` (its `sub`), whichever IdP: several when two IdPs' subs collide. */
  userIdsByIdpSubject(tenantId: string, subject: string): string[];
  /**
   * Users whose userName, else one of whose `emails` values, equals `email`
   * (case-insensitively). The userName is indexed; the emails are scanned.
   */
  userIdsByEmail(tenantId: string, email: string): string[];
  /** Users one of whose `phoneNumbers` values is `phoneNumber` (compared as {@link phoneNumberKey}s; scanned). */
  userIdsByPhoneNumber(tenantId: string, phoneNumber: string): string[];
  session(tenantId: string, id: string): SessionRecord | undefined;
  /** Sessions started from the IdP session `sid`. */
  sessionsByIdpSessionId(tenantId: string, idpSessionId: string): SessionRecord[];
  /** The cutoff of the tenant's last session purge (Unix s); `undefined` before the first. */
  sessionsPurgedBefore(tenantId: string): number | undefined;
  /** One posture record's state. */
  posture(tenantId: string, kind: PostureKind, subjectId: string): Record<string, unknown> | undefined;
}
