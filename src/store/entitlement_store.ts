import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import {
  CLEAR_DATA,
  emailLookup,
  externalIdLookup,
  openPostureState,
  openSessionData,
  openUserData,
  phoneNumberKey,
  phoneNumberLookup,
  POSTURE_KIND_REGISTRY,
  userNameLookup,
} from '../changes/index.js';
import type { PostureKind, SealerOf } from '../changes/index.js';
import { tenantDigest } from './digest.js';
import { StoreUnavailableError, TenantUnknownError } from './errors.js';
import type { DirectoryReader, EntitlementReader, EntitlementWriter, ResourceReader } from './ports.js';
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
  SubjectSlice,
  SessionRecord,
  StreamOrigin,
  SubjectRead,
  SubjectRef,
  TenantRecord,
  UserRecord,
} from './records.js';
import {
  groupFromRow,
  groupRowOf,
  relationFromRow,
  relationRowOf,
  resourceFromRow,
  resourceRowOf,
  sessionFromRow,
  sessionRowOf,
  userFromRow,
  userRowOf,
} from './rows.js';
import type { GroupRow, RelationRow, ResourceRow, SessionRow, UserRow } from './rows.js';
import { sessionDataOf, sessionOf, userDataOf, userOf } from './records.js';
import { BOOKKEEPING_TABLES, DIRECTORY_INDEXES, migrate, SchemaMismatchError } from './schema.js';
import { prepareStatements } from './statements.js';
import type { Statements } from './statements.js';
import { checkStoreFile, defectOfOpenError, setAsideStoreFile } from './store_file.js';
import type { StoreDefectReason } from './store_file.js';
import { cacheTag, SubjectCache, subjectCacheSizeOf } from './subject_cache.js';
import { SUBJECT_QUERIES, subjectParams, subjectReadOfRow } from './subject_query.js';
import type { SubjectRow } from './subject_query.js';

export interface EntitlementStoreOptions {
  /** Create the indexes the gateway's SCIM lookups need. @defaultValue false */
  readonly directoryIndexes?: boolean;
  /**
   * Subject reads kept in memory (least recently used evicted); 0 disables.
   * @defaultValue 10000
   */
  readonly subjectCacheSize?: number;
  /**
   * The sealer of a tenant with a customer-managed key: what opens its sealed rows and hashes its lookups.
   * The store keeps rows as the stream carries them; a read opens them. @defaultValue no tenant seals
   */
  readonly sealerOf?: SealerOf;
}

/** How {@link EntitlementStore.openChecked} judges an existing file. */
export interface CheckedOpenOptions extends EntitlementStoreOptions {
  /**
   * Longest the integrity check (`PRAGMA quick_check`) may take, in ms; a file
   * it cannot finish is not trusted. 0 skips the check.
   * @defaultValue 30000
   */
  readonly checkBudgetMs?: number;
  /** Unreadable files kept aside (the newest); older ones are deleted. @defaultValue 3 */
  readonly setAsideKept?: number;
}

/** An unreadable store file that was moved aside; the store opened in its place is empty. */
export interface SetAsideStore {
  readonly reason: StoreDefectReason;
  /** What SQLite or the check said. */
  readonly detail: string;
  /** Where the file is now (its `-wal` and `-shm` beside it with the same name). */
  readonly movedTo: string;
}

export interface CheckedStore {
  readonly store: EntitlementStore;
  /** Set when the file at the path was unreadable: the store is new and empty. */
  readonly setAside: SetAsideStore | undefined;
}

export const DEFAULT_STORE_CHECK_BUDGET_MS = 30_000;
export const DEFAULT_STORE_SET_ASIDE_KEPT = 3;

/**
 * The sidecar's local entitlement store: one SQLite file (WAL), prepared
 * statements, one writer. Check reads it through {@link EntitlementReader},
 * ingest writes it through {@link EntitlementWriter}.
 */
export class EntitlementStore implements EntitlementReader, EntitlementWriter, DirectoryReader, ResourceReader {
  readonly #db: SqliteDatabase;
  readonly #stmt: Statements;
  readonly #subjectBy: Readonly<Record<SubjectRef['kind'], Statement>>;
  readonly #cache: SubjectCache;
  readonly #sealerOf: SealerOf;
  /**
   * The applied sequence as last committed: kept here so that a Check asks
   * SQLite for nothing but its subject. Set by the writer's commits on this
   * connection, read again when another connection committed.
   */
  #applied: number;
  /** Set by the transaction in progress; {@link #applied} once it commits. */
  #appliedPending: number | undefined;
  /** `PRAGMA data_version` when {@link #applied} and the cache were last known valid: it moves when another connection commits. */
  #dataVersion: number;

  private constructor(db: SqliteDatabase, options: EntitlementStoreOptions) {
    this.#db = db;
    this.#cache = new SubjectCache(subjectCacheSizeOf(options.subjectCacheSize));
    this.#sealerOf = options.sealerOf ?? CLEAR_DATA;
    if (options.directoryIndexes === true) db.exec(DIRECTORY_INDEXES);
    this.#stmt = prepareStatements(db);
    this.#dataVersion = this.#stmt.dataVersion.get() as number;
    this.#applied = this.#stmt.appliedSequence.get() as number;
    this.#subjectBy = {
      user: db.prepare(SUBJECT_QUERIES.user).expand(true),
      session: db.prepare(SUBJECT_QUERIES.session).expand(true),
      identity: db.prepare(SUBJECT_QUERIES.identity).expand(true),
    };
  }

  /**
   * Opens (creating if needed) and migrates the store at `path`.
   * `:memory:` gives a private in-memory store.
   *
   * @throws {StoreUnavailableError} `ERR_STORE_UNAVAILABLE`
   */
  static open(path: string, options: EntitlementStoreOptions = {}): EntitlementStore {
    subjectCacheSizeOf(options.subjectCacheSize);
    let db: SqliteDatabase | undefined;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      // With WAL, NORMAL can lose the last transactions on power loss but never
      // corrupts; the applied sequence is lost with them and replayed.
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      migrate(db);
      return new EntitlementStore(db, options);
    } catch (cause) {
      try {
        db?.close();
      } catch {
        // the cause is what matters
      }
      if (cause instanceof SchemaMismatchError) throw new StoreUnavailableError(cause.message, { cause });
      throw new StoreUnavailableError(`cannot open the entitlement store at ${path}`, { cause });
    }
  }

  /**
   * Opens the store at `path` like {@link EntitlementStore.open}, but first
   * makes sure an existing file can be trusted: it must pass `PRAGMA
   * quick_check` within `checkBudgetMs`, be an SQLite database, and have a
   * schema this build knows. A file that fails is never deleted: it is moved to
   * `<path>.bad-<UTC time>` (the newest `setAsideKept` kept) and an empty store
   * is opened in its place, for the stream to fill from sequence 1. The store is
   * a materialized view of the stream, so nothing is lost but time.
   *
   * @throws {StoreUnavailableError} `ERR_STORE_UNAVAILABLE` when the file cannot be read
   *   for reasons moving it would not cure (permissions, I/O errors, locks).
   */
  static async openChecked(path: string, options: CheckedOpenOptions = {}): Promise<CheckedStore> {
    const budgetMs = options.checkBudgetMs ?? DEFAULT_STORE_CHECK_BUDGET_MS;
    const kept = options.setAsideKept ?? DEFAULT_STORE_SET_ASIDE_KEPT;
    if (!Number.isSafeInteger(budgetMs) || budgetMs < 0) {
      throw new TypeError('checkBudgetMs must be a non-negative integer');
    }
    if (!Number.isSafeInteger(kept) || kept < 1) throw new TypeError('setAsideKept must be a positive integer');
    if (path === ':memory:' || !existsSync(path)) {
      return { store: EntitlementStore.open(path, options), setAside: undefined };
    }
    let defect = budgetMs === 0 ? undefined : await checkStoreFile(path, budgetMs);
    if (defect === undefined) {
      try {
        return { store: EntitlementStore.open(path, options), setAside: undefined };
      } catch (error) {
        defect = defectOfOpenError(error);
        if (defect === undefined) throw error;
      }
    }
    const movedTo = setAsideStoreFile(path, kept);
    return { store: EntitlementStore.open(path, options), setAside: { ...defect, movedTo } };
  }

  close(): void {
    this.#db.close();
  }

  transaction<T>(fn: () => T): T {
    // Nothing to undo in the cache on a rollback: reads inside a transaction
    // are not cached, and each write dropped the reads it touched already.
    const outermost = !this.#db.inTransaction;
    const pendingBefore = this.#appliedPending;
    try {
      const result = this.#db.transaction(fn)();
      if (outermost && this.#appliedPending !== undefined) this.#applied = this.#appliedPending;
      return result;
    } catch (error) {
      this.#appliedPending = pendingBefore;
      throw error;
    } finally {
      if (outermost) this.#appliedPending = undefined;
    }
  }

  /** How the subject read cache fares: reads answered from memory, from the database, and reads held. */
  subjectCacheStats(): { readonly hits: number; readonly misses: number; readonly size: number } {
    return this.#cache.stats;
  }

  /**
   * A canonical hash of everything the store holds for one tenant. Two
   * stores fed the same stream have the same digest.
   */
  digest(tenantId: string): string {
    return tenantDigest(this.#db, tenantId);
  }

  // --- reader ---------------------------------------------------------------

  hasTenant(tenantId: string): boolean {
    return this.#stmt.tenantExists.get(tenantId) !== undefined;
  }

  tenantIds(): string[] {
    return this.#stmt.tenantIds.all() as string[];
  }

  /**
   * @throws {TenantUnknownError}
   * @throws whatever the tenant's sealer throws when its key cannot be used (revoked: the cached slices too)
   */
  readSubject(tenantId: string, ref: SubjectRef, deviceId?: string): SubjectRead {
    // Asked on every read, cached or not: a revoked key stops the tenant's Checks at once.
    this.#sealerOf(tenantId);
    if (!this.#cache.enabled || this.#db.inTransaction) return this.#readSubjectFromDb(tenantId, ref, deviceId);
    this.#syncWithOtherConnections();
    const cached = this.#cache.get(tenantId, ref, deviceId);
    // Still what the store holds: no write since touched it.
    if (cached !== null) return { sequence: this.#applied, slice: cached };
    const read = this.#readSubjectFromDb(tenantId, ref, deviceId);
    this.#cache.set(tenantId, ref, deviceId, read.slice);
    return read;
  }

  #readSubjectFromDb(tenantId: string, ref: SubjectRef, deviceId?: string): SubjectRead {
    // One statement is one snapshot: the slice and its sequence agree even
    // while the writer commits.
    const row = this.#subjectBy[ref.kind].get(subjectParams(tenantId, ref, deviceId)) as SubjectRow | undefined;
    const read = row === undefined ? undefined : subjectReadOfRow(row);
    if (read !== undefined) {
      return read.slice === undefined ? read : { ...read, slice: this.#openSlice(read.slice, deviceId) };
    }
    const miss = this.#stmt.tenantAndSequence.get(tenantId) as { known: number | null; sequence: number };
    if (miss.known === null) throw new TenantUnknownError(tenantId);
    return { sequence: miss.sequence, slice: undefined };
  }

  appliedSequence(): number {
    if (this.#db.inTransaction) return this.#appliedPending ?? this.#applied;
    this.#syncWithOtherConnections();
    return this.#applied;
  }

  /** Forgets what another connection's commit may have changed: the cached reads and the applied sequence. */
  #syncWithOtherConnections(): void {
    const dataVersion = this.#stmt.dataVersion.get() as number;
    if (dataVersion === this.#dataVersion) return;
    this.#dataVersion = dataVersion;
    this.#cache.clear();
    this.#applied = this.#stmt.appliedSequence.get() as number;
  }

  /** Whether a token was revoked (and has not expired since). */
  isTokenRevoked(tenantId: string, jti: string): boolean {
    return this.#stmt.tokenRevoked.get(tenantId, jti) !== undefined;
  }

  isIdpSessionRevoked(tenantId: string, issuer: string, sid: string): boolean {
    return this.#stmt.idpSessionRevoked.get(tenantId, sid, issuer) !== undefined;
  }

  // --- directory (gateway) ---------------------------------------------------

  user(tenantId: string, id: string): UserRecord | undefined {
    const row = this.#stmt.userRow.get(tenantId, id) as UserRow | undefined;
    return row === undefined ? undefined : this.#userOfRow(row);
  }

  userIdsByUserName(tenantId: string, userName: string): string[] {
    const sealer = this.#sealerOf(tenantId);
    return this.#lookup(
      this.#stmt.userIdsByUserName,
      tenantId,
      sealer === undefined ? undefined : userNameLookup(sealer, userName),
      userName,
    );
  }

  userIdsByExternalId(tenantId: string, externalId: string): string[] {
    const sealer = this.#sealerOf(tenantId);
    return this.#lookup(
      this.#stmt.userIdsByExternalId,
      tenantId,
      sealer === undefined ? undefined : externalIdLookup(sealer, externalId),
      externalId,
    );
  }

  /**
   * The ids `statement` finds by `hash` (a sealed tenant's lookup hash), else by the `clear` value: what the
   * tenant wrote before its key was configured stays in clear until it is written again.
   */
  #lookup(statement: Statement, tenantId: string, hash: string | undefined, clear: string): string[] {
    if (hash !== undefined) {
      const ids = statement.all(tenantId, hash) as string[];
      if (ids.length > 0) return ids;
    }
    return statement.all(tenantId, clear) as string[];
  }

  /** A stored user as its record, opened if it is sealed. */
  #userOfRow(row: UserRow): UserRecord {
    return this.#openUser(userFromRow(row));
  }

  /** A stored session as its record, opened if it is sealed. */
  #sessionOfRow(row: SessionRow): SessionRecord {
    return this.#openSession(sessionFromRow(row));
  }

  #openUser(user: UserRecord): UserRecord {
    if (user.sealed === undefined) return user;
    return userOf(user.tenantId, openUserData(user.tenantId, userDataOf(user), this.#sealerOf), user.version);
  }

  #openSession<S extends SessionRecord>(session: S): S {
    if (session.sealed === undefined) return session;
    // What the subject read adds to a session (its IdP session's revocation) is kept.
    return {
      ...session,
      ...sessionOf(session.tenantId, openSessionData(session.tenantId, sessionDataOf(session), this.#sealerOf)),
      revokedAt: session.revokedAt,
      revokeReason: session.revokeReason,
      sealed: undefined,
    };
  }

  /** A subject's slice with its user, session and posture opened (the device's as the query chose it). */
  #openSlice(slice: SubjectSlice, deviceId: string | undefined): SubjectSlice {
    const { user, session } = slice;
    const sealedPosture = Object.values(slice.posture).some((state) => Array.isArray(state));
    if (user.sealed === undefined && session?.sealed === undefined && !sealedPosture) return slice;
    const posture = !sealedPosture
      ? slice.posture
      : Object.fromEntries(
          Object.entries(slice.posture).map(([kind, state]) => {
            const subjectId = kind === 'device' ? (deviceId ?? session?.deviceId ?? '') : user.id;
            return [kind, this.#postureState(user.tenantId, kind, subjectId, state)];
          }),
        );
    return {
      ...slice,
      user: this.#openUser(user),
      session: session === undefined ? undefined : this.#openSession(session),
      posture,
    };
  }

  userIdsByIdpSubject(tenantId: string, subject: string): string[] {
    return this.#stmt.userIdsByIdpSubject.all(tenantId, subject) as string[];
  }

  userCount(tenantId: string): number {
    return this.#stmt.userCount.get(tenantId) as number;
  }

  usersPage(tenantId: string, offset: number, limit: number): UserRecord[] {
    return (this.#stmt.usersPage.all(tenantId, limit, offset) as UserRow[]).map((row) => this.#userOfRow(row));
  }

  *users(tenantId: string): IterableIterator<UserRecord> {
    for (const row of this.#stmt.usersAll.iterate(tenantId) as IterableIterator<UserRow>) yield this.#userOfRow(row);
  }

  group(tenantId: string, id: string): GroupRecord | undefined {
    const row = this.#stmt.groupRow.get(tenantId, id) as GroupRow | undefined;
    return row === undefined ? undefined : groupFromRow(row);
  }

  groupIdsByDisplayName(tenantId: string, displayName: string): string[] {
    return this.#stmt.groupIdsByDisplayName.all(tenantId, displayName) as string[];
  }

  groupCount(tenantId: string): number {
    return this.#stmt.groupCount.get(tenantId) as number;
  }

  groupsPage(tenantId: string, offset: number, limit: number): GroupRecord[] {
    return (this.#stmt.groupsPage.all(tenantId, limit, offset) as GroupRow[]).map(groupFromRow);
  }

  *groups(tenantId: string): IterableIterator<GroupRecord> {
    for (const row of this.#stmt.groupsAll.iterate(tenantId) as IterableIterator<GroupRow>) yield groupFromRow(row);
  }

  groupMembers(tenantId: string, groupId: string): { readonly id: string; readonly userName: string }[] {
    return (this.#stmt.groupMembers.all(tenantId, groupId) as UserRow[]).map((row) => {
      const user = this.#userOfRow(row);
      return { id: user.id, userName: user.userName };
    });
  }

  membershipGroupIds(tenantId: string, userId: string): string[] {
    return this.#stmt.membershipGroupIds.all(tenantId, userId) as string[];
  }

  groupsOfUser(tenantId: string, userId: string): GroupRef[] {
    return (this.#stmt.groupsOfUser.all(tenantId, userId) as GroupRow[]).map((g) => ({
      id: g.id,
      displayName: g.display_name,
      externalId: g.external_id ?? undefined,
    }));
  }

  sessionsOfUser(tenantId: string, userId: string): SessionRecord[] {
    return (this.#stmt.sessionsOfUser.all(tenantId, userId) as SessionRow[]).map((row) => this.#sessionOfRow(row));
  }

  userIdsByEmail(tenantId: string, email: string): string[] {
    const byUserName = this.userIdsByUserName(tenantId, email);
    if (byUserName.length > 0) return byUserName;
    const sealer = this.#sealerOf(tenantId);
    return this.#lookup(
      this.#stmt.userIdsByEmail,
      tenantId,
      sealer === undefined ? undefined : emailLookup(sealer, email),
      email,
    );
  }

  userIdsByPhoneNumber(tenantId: string, phoneNumber: string): string[] {
    const sealer = this.#sealerOf(tenantId);
    return this.#lookup(
      this.#stmt.userIdsByPhoneNumber,
      tenantId,
      sealer === undefined ? undefined : phoneNumberLookup(sealer, phoneNumber),
      phoneNumberKey(phoneNumber),
    );
  }

  session(tenantId: string, id: string): SessionRecord | undefined {
    const row = this.#stmt.sessionRow.get(tenantId, id) as SessionRow | undefined;
    return row === undefined ? undefined : this.#sessionOfRow(row);
  }

  sessionsByIdpSessionId(tenantId: string, idpSessionId: string): SessionRecord[] {
    return (this.#stmt.sessionsByIdpSessionId.all(tenantId, idpSessionId) as SessionRow[]).map((row) =>
      this.#sessionOfRow(row),
    );
  }

  posture(tenantId: string, kind: PostureKind, subjectId: string): Record<string, unknown> | undefined {
    const state = this.#stmt.postureState.get(tenantId, kind, subjectId) as string | undefined;
    return state === undefined ? undefined : this.#postureState(tenantId, kind, subjectId, JSON.parse(state));
  }

  /** A posture state as {@link POSTURE_STATE_SQL} reads it, opened if it is sealed. */
  #postureState(tenantId: string, kind: string, subjectId: string, state: unknown): Record<string, unknown> {
    if (!Array.isArray(state)) return state as Record<string, unknown>;
    return openPostureState(tenantId, kind, subjectId, String(state[0]), this.#sealerOf);
  }

  sessionsPurgedBefore(tenantId: string): number | undefined {
    return this.#stmt.sessionsPurgedBefore.get(tenantId) as number | undefined;
  }

  bindingsOfUser(tenantId: string, userId: string): IdentityBinding[] {
    return (this.#stmt.bindingsOfUser.all(tenantId, userId) as { issuer: string; subject: string }[]).map((b) => ({
      tenantId,
      issuer: b.issuer,
      subject: b.subject,
      userId,
    }));
  }

  // --- the app's resources ----------------------------------------------------

  resource(tenantId: string, type: string, id: string): ResourceRecord | undefined {
    const row = this.#stmt.resourceRow.get(tenantId, type, id) as ResourceRow | undefined;
    return row === undefined ? undefined : resourceFromRow(row);
  }

  resourcesAfter(tenantId: string, type: string, afterId: string, limit: number): ResourceRecord[] {
    return (this.#stmt.resourcesAfter.all(tenantId, type, afterId, limit) as ResourceRow[]).map(resourceFromRow);
  }

  relationsOf(tenantId: string, type: string, id: string, limit: number): RelationRecord[] {
    return (this.#stmt.relationsOfResource.all(tenantId, type, id, limit) as RelationRow[]).map(relationFromRow);
  }

  relationsNaming(tenantId: string, subject: RelationSubject, limit: number): RelationRecord[] {
    return (
      this.#stmt.relationsNaming.all(tenantId, subject.kind, subject.type ?? '', subject.id, limit) as RelationRow[]
    ).map(relationFromRow);
  }

  hasRelation(relation: RelationRecord): boolean {
    return this.#stmt.hasRelation.get(relationRowOf(relation)) !== undefined;
  }

  relationCount(tenantId: string, type: string, id: string): number {
    return this.#stmt.relationCount.get(tenantId, type, id) as number;
  }

  parentsOf(tenantId: string, type: string, id: string): { readonly type: string; readonly id: string }[] {
    return this.#stmt.parentsOf.all(tenantId, type, id) as { type: string; id: string }[];
  }

  subjectRelations(tenantId: string, userId: string, type: string, id: string, maxDepth: number): string[] {
    return this.#stmt.subjectRelations.all({ tenant: tenantId, user: userId, type, id, depth: maxDepth }) as string[];
  }

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
  ): string[] {
    return this.#stmt.resourceIdsRelatedTo.all({
      tenant: tenantId,
      user: userId,
      resource_type: query.type,
      relation: query.relation ?? null,
      after: query.after,
      limit: query.limit,
      depth: maxDepth,
    }) as string[];
  }

  userIdsRelatedTo(
    tenantId: string,
    resource: { readonly type: string; readonly id: string },
    page: { readonly after: string; readonly limit: number },
    maxDepth: number,
  ): string[] {
    return this.#stmt.userIdsRelatedTo.all({
      tenant: tenantId,
      type: resource.type,
      id: resource.id,
      after: page.after,
      limit: page.limit,
      depth: maxDepth,
    }) as string[];
  }

  // --- writer ---------------------------------------------------------------

  userActive(tenantId: string, userId: string): boolean | undefined {
    const active = this.#stmt.userActive.get(tenantId, userId) as number | undefined;
    return active === undefined ? undefined : active === 1;
  }

  sessionRevoked(tenantId: string, sessionId: string): boolean | undefined {
    const row = this.#stmt.sessionRevoked.get(tenantId, sessionId) as { revoked: number } | undefined;
    return row === undefined ? undefined : row.revoked === 1;
  }

  /**
   * Every write goes through here, naming the cached reads it can change
   * ({@link cacheTag}): no cached read outlives a change, and no other is lost.
   */
  #run(invalidates: readonly string[], statement: Statement, ...params: unknown[]): void {
    statement.run(...params);
    this.#cache.invalidate(...invalidates);
  }

  upsertTenant(tenant: TenantRecord): void {
    this.#run([cacheTag.tenant(tenant.id)], this.#stmt.upsertTenant, tenant.id, tenant.displayName);
  }

  deleteTenant(tenantId: string): void {
    this.#run([cacheTag.tenant(tenantId)], this.#stmt.deleteTenant, tenantId);
  }

  upsertUser(user: UserRecord): void {
    this.#run(
      [cacheTag.user(user.tenantId, user.id), cacheTag.notFound(user.tenantId)],
      this.#stmt.upsertUser,
      userRowOf(user),
    );
  }

  deleteUser(tenantId: string, userId: string): void {
    this.#run([cacheTag.user(tenantId, userId)], this.#stmt.deleteUser, tenantId, userId);
  }

  setReauthentication(tenantId: string, userId: string, after: number): void {
    this.#run([cacheTag.user(tenantId, userId)], this.#stmt.setReauthentication, tenantId, userId, after);
  }

  setSignout(tenantId: string, userId: string, before: number, reason: string): void {
    this.#run([cacheTag.user(tenantId, userId)], this.#stmt.setSignout, tenantId, userId, before, reason);
  }

  bindIdentity(binding: IdentityBinding): void {
    const { tenantId, issuer, subject, userId } = binding;
    this.#run(
      [cacheTag.identity(tenantId, issuer, subject), cacheTag.notFound(tenantId)],
      this.#stmt.bindIdentity,
      tenantId,
      issuer,
      subject,
      userId,
    );
  }

  unbindIdentity(tenantId: string, issuer: string, subject: string): void {
    this.#run([cacheTag.identity(tenantId, issuer, subject)], this.#stmt.unbindIdentity, tenantId, issuer, subject);
  }

  upsertGroup(group: GroupRecord): void {
    // A group new to the store may complete memberships that arrived before it
    // (replay order); nothing here finds their users but a scan, so the tenant's reads go.
    const known = this.#stmt.groupRow.get(group.tenantId, group.id) !== undefined;
    this.#run(
      [known ? cacheTag.group(group.tenantId, group.id) : cacheTag.tenant(group.tenantId)],
      this.#stmt.upsertGroup,
      groupRowOf(group),
    );
  }

  deleteGroup(tenantId: string, groupId: string): void {
    this.#run([cacheTag.group(tenantId, groupId)], this.#stmt.deleteGroup, tenantId, groupId);
  }

  addMember(tenantId: string, groupId: string, userId: string): void {
    this.#run([cacheTag.user(tenantId, userId)], this.#stmt.addMember, tenantId, groupId, userId);
  }

  removeMember(tenantId: string, groupId: string, userId: string): void {
    this.#run([cacheTag.user(tenantId, userId)], this.#stmt.removeMember, tenantId, groupId, userId);
  }

  upsertSession(session: SessionRecord): void {
    this.#run(
      [cacheTag.session(session.tenantId, session.id), cacheTag.notFound(session.tenantId)],
      this.#stmt.upsertSession,
      sessionRowOf(session),
    );
  }

  revokeToken(token: RevokedTokenRecord): void {
    // Not part of a subject read: isTokenRevoked asks the store each time.
    this.#run(
      [],
      this.#stmt.revokeToken,
      token.tenantId,
      token.jti,
      token.userId ?? null,
      token.revokedAt,
      token.expiresAt ?? null,
    );
  }

  revokeSid(revocation: RevokedSidRecord): void {
    this.#run(
      [cacheTag.sid(revocation.tenantId, revocation.sid)],
      this.#stmt.revokeSid,
      revocation.tenantId,
      revocation.sid,
      revocation.issuer ?? '',
      revocation.revokedAt,
      revocation.expiresAt,
      revocation.reason,
    );
  }

  forgetRevokedSid(tenantId: string, issuer: string | undefined, sid: string): void {
    this.#run([cacheTag.sid(tenantId, sid)], this.#stmt.forgetRevokedSid, tenantId, sid, issuer ?? '');
  }

  setPosture(posture: PostureRecord): void {
    this.#run(
      [postureTag(posture.tenantId, posture.kind, posture.subjectId)],
      this.#stmt.setPosture,
      posture.tenantId,
      posture.kind,
      posture.subjectId,
      JSON.stringify(posture.state),
      posture.updatedAt,
      posture.sealed ?? null,
    );
  }

  clearPosture(tenantId: string, kind: PostureKind, subjectId: string): void {
    this.#run([postureTag(tenantId, kind, subjectId)], this.#stmt.clearPosture, tenantId, kind, subjectId);
  }

  // Resources and relations are not part of any subject read (a decision reads them afresh): nothing cached to drop.
  upsertResource(resource: ResourceRecord): void {
    this.#run([], this.#stmt.upsertResource, resourceRowOf(resource));
  }

  deleteResource(tenantId: string, type: string, id: string): void {
    this.#run([], this.#stmt.deleteResource, tenantId, type, id);
  }

  addRelation(relation: RelationRecord): void {
    this.#run([], this.#stmt.addRelation, relationRowOf(relation));
  }

  removeRelation(relation: RelationRecord): void {
    this.#run([], this.#stmt.removeRelation, relationRowOf(relation));
  }

  purgeSessions(tenantId: string, expiredBefore: number): void {
    // Many sessions at once, none named: the tenant's cached reads go.
    this.#run([cacheTag.tenant(tenantId)], this.#stmt.purgeSessions, tenantId, expiredBefore);
    this.#run([], this.#stmt.setSessionPurge, tenantId, expiredBefore);
  }

  setAppliedSequence(sequence: number): void {
    // A read's sequence is not cached with its slice.
    this.#run([], this.#stmt.setAppliedSequence, sequence);
    if (this.#db.inTransaction) this.#appliedPending = sequence;
    else this.#applied = sequence;
  }

  streamOrigin(): StreamOrigin | undefined {
    return this.#stmt.streamOrigin.get() as StreamOrigin | undefined;
  }

  /**
   * Forgets the subject reads kept in memory for `tenantId`, as they were opened with its keys: called when
   * its keys change (rotated, revoked).
   */
  keysChanged(_tenantId: string): void {
    // Rare enough that the whole cache may go; the tenant's next reads open with the keys it has now.
    this.#cache.clear();
  }

  resetTo(origin: StreamOrigin): void {
    // Every table but the bookkeeping: a table added by a later migration is emptied too.
    const tables = (this.#stmt.tableNames.all() as string[]).filter((t) => !BOOKKEEPING_TABLES.includes(t));
    this.transaction(() => {
      for (const table of tables) this.#db.exec(`DELETE FROM "${table}"`);
      this.setAppliedSequence(0);
      this.#run([], this.#stmt.setStreamOrigin, origin.stream, origin.created);
    });
    this.#cache.clear();
  }
}

/** The reads a posture record is part of: its user's, or those whose device it is. */
function postureTag(tenantId: string, kind: PostureKind, subjectId: string): string {
  return POSTURE_KIND_REGISTRY[kind].keyedBy === 'user'
    ? cacheTag.user(tenantId, subjectId)
    : cacheTag.device(tenantId, subjectId);
}
