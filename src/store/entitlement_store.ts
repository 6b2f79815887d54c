import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { USER_POSTURE_KINDS } from '../changes/index.js';
import type { PostureKind } from '../changes/index.js';
import { StoreUnavailableError, TenantUnknownError } from './errors.js';
import type {
  GroupRecord,
  GroupRef,
  IdentityBinding,
  PostureRecord,
  RevokedSidRecord,
  RevokedTokenRecord,
  SessionRecord,
  StreamOrigin,
  SubjectRead,
  SubjectRef,
  SubjectSlice,
  TenantRecord,
  UserRecord,
} from './records.js';
import { BOOKKEEPING_TABLES, DIRECTORY_INDEXES, MIGRATIONS, TENANT_TABLES } from './schema.js';
import { checkStoreFile, defectOfSqliteCode, setAsideStoreFile } from './store_file.js';
import type { StoreDefect, StoreDefectReason } from './store_file.js';

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
  /** One posture record's state. */
  posture(tenantId: string, kind: PostureKind, subjectId: string): Record<string, unknown> | undefined;
}

export interface EntitlementStoreOptions {
  /** Create the indexes the gateway's SCIM lookups need. @defaultValue false */
  readonly directoryIndexes?: boolean;
  /**
   * Subject reads kept in memory (least recently used evicted); 0 disables.
   * @defaultValue 10000
   */
  readonly subjectCacheSize?: number;
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

const USER_POSTURE_SQL = USER_POSTURE_KINDS.map((k) => `'${k}'`).join(', ');

/** One row of a subject query: the user, the session (when asked by session) and aggregates. */
interface SubjectRow {
  tenant_known: number;
  sequence: number;
  tenant_id: string;
  id: string;
  user_name: string;
  external_id: string | null;
  active: number;
  attributes: string;
  roles: string;
  extra: string;
  reauthenticate_after: number | null;
  /** JSON array of `[id, display_name, external_id]`, ordered by name. */
  groups_json: string;
  /** JSON object of user posture by kind. */
  posture_json: string;
  device_json: string | null;
  s_id: string | null;
  s_issuer: string;
  s_acr: string | null;
  s_amr: string;
  s_auth_time: number | null;
  s_expires_at: number;
  s_created_at: number;
  s_revoked_at: number | null;
  s_revoke_reason: string | null;
  s_ip: string | null;
  s_device_id: string | null;
  s_idp_session_id: string | null;
  s_extra: string;
  signed_out_before: number | null;
  /** JSON `[revoked_at, reason]` of the sid revocation the session or token names. */
  sid_revoked_json: string | null;
}

/**
 * The sidecar's local entitlement store: one SQLite file (WAL), prepared
 * statements, one writer. Check reads it through {@link EntitlementReader},
 * ingest writes it through {@link EntitlementWriter}.
 */
export class EntitlementStore implements EntitlementReader, EntitlementWriter, DirectoryReader {
  readonly #db: SqliteDatabase;
  readonly #stmt: Statements;
  readonly #subjectBy: Readonly<Record<SubjectRef['kind'], Statement>>;
  /** Reads by key, in least-recently-used order (a Map keeps insertion order). */
  readonly #cache = new Map<string, SubjectRead>();
  readonly #cacheSize: number;
  /** `PRAGMA data_version` when the cache was last known valid: it moves when another connection commits. */
  #dataVersion = 0;

  private constructor(db: SqliteDatabase, options: EntitlementStoreOptions) {
    this.#db = db;
    this.#cacheSize = cacheSizeOf(options);
    if (options.directoryIndexes === true) db.exec(DIRECTORY_INDEXES);
    this.#stmt = prepareStatements(db);
    this.#subjectBy = {
      user: db.prepare(subjectQuery('FROM users u LEFT JOIN sessions s ON 0', 'u.tenant_id = @tenant AND u.id = @key')),
      session: db.prepare(
        subjectQuery(
          'FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id',
          's.tenant_id = @tenant AND s.id = @key',
        ),
      ),
      identity: db.prepare(
        subjectQuery(
          `FROM identity_bindings b JOIN users u ON u.tenant_id = b.tenant_id AND u.id = b.user_id
           LEFT JOIN sessions s ON s.tenant_id = b.tenant_id AND s.id = @session AND s.user_id = u.id`,
          'b.tenant_id = @tenant AND b.issuer = @issuer AND b.subject = @key',
        ),
      ),
    };
  }

  /**
   * Opens (creating if needed) and migrates the store at `path`.
   * `:memory:` gives a private in-memory store.
   *
   * @throws {StoreUnavailableError} `ERR_STORE_UNAVAILABLE`
   */
  static open(path: string, options: EntitlementStoreOptions = {}): EntitlementStore {
    cacheSizeOf(options);
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
    try {
      return this.#db.transaction(fn)();
    } finally {
      // Reads inside the transaction are not cached, but be certain nothing
      // survives a rollback.
      this.#cache.clear();
    }
  }

  /**
   * A canonical hash of everything the store holds for one tenant. Two
   * stores fed the same stream have the same digest.
   */
  digest(tenantId: string): string {
    const hash = createHash('sha256');
    for (const { table, tenantColumn, orderBy } of TENANT_TABLES) {
      hash.update(`${table}\n`);
      const rows = this.#db
        .prepare(`SELECT * FROM ${table} WHERE ${tenantColumn} = ? ORDER BY ${orderBy}`)
        .raw()
        .iterate(tenantId) as IterableIterator<unknown[]>;
      for (const row of rows) hash.update(`${JSON.stringify(row)}\n`);
    }
    return hash.digest('hex');
  }

  // --- reader ---------------------------------------------------------------

  hasTenant(tenantId: string): boolean {
    return this.#stmt.tenantExists.get(tenantId) !== undefined;
  }

  tenantIds(): string[] {
    return this.#stmt.tenantIds.all() as string[];
  }

  readSubject(tenantId: string, ref: SubjectRef, deviceId?: string): SubjectRead {
    if (this.#cacheSize === 0 || this.#db.inTransaction) return this.#readSubjectFromDb(tenantId, ref, deviceId);
    const dataVersion = this.#stmt.dataVersion.get() as number;
    if (dataVersion !== this.#dataVersion) {
      this.#cache.clear();
      this.#dataVersion = dataVersion;
    }
    const key = cacheKey(tenantId, ref, deviceId);
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return hit;
    }
    const read = this.#readSubjectFromDb(tenantId, ref, deviceId);
    if (this.#cache.size >= this.#cacheSize) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, read);
    return read;
  }

  #readSubjectFromDb(tenantId: string, ref: SubjectRef, deviceId?: string): SubjectRead {
    const params = {
      tenant: tenantId,
      key: ref.kind === 'user' ? ref.userId : ref.kind === 'session' ? ref.sessionId : ref.subject,
      issuer: ref.kind === 'identity' ? ref.issuer : null,
      session: ref.kind === 'identity' ? (ref.sessionId ?? null) : null,
      device: deviceId ?? null,
    };
    // One statement is one snapshot: the slice and its sequence agree even
    // while the writer commits.
    const row = this.#subjectBy[ref.kind].get(params) as SubjectRow | undefined;
    if (row === undefined || row.tenant_known === 0) {
      const miss = this.#stmt.tenantAndSequence.get(tenantId) as { known: number | null; sequence: number };
      if (miss.known === null) throw new TenantUnknownError(tenantId);
      return { sequence: miss.sequence, slice: undefined };
    }
    return { sequence: row.sequence, slice: sliceFromRow(row) };
  }

  appliedSequence(): number {
    return this.#stmt.appliedSequence.get() as number;
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
    return row === undefined ? undefined : userFromRow(row);
  }

  userIdsByUserName(tenantId: string, userName: string): string[] {
    return this.#stmt.userIdsByUserName.all(tenantId, userName) as string[];
  }

  userIdsByExternalId(tenantId: string, externalId: string): string[] {
    return this.#stmt.userIdsByExternalId.all(tenantId, externalId) as string[];
  }

  userCount(tenantId: string): number {
    return this.#stmt.userCount.get(tenantId) as number;
  }

  usersPage(tenantId: string, offset: number, limit: number): UserRecord[] {
    return (this.#stmt.usersPage.all(tenantId, limit, offset) as UserRow[]).map(userFromRow);
  }

  *users(tenantId: string): IterableIterator<UserRecord> {
    for (const row of this.#stmt.usersAll.iterate(tenantId) as IterableIterator<UserRow>) yield userFromRow(row);
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
    return (this.#stmt.groupMembers.all(tenantId, groupId) as { id: string; user_name: string }[]).map((r) => ({
      id: r.id,
      userName: r.user_name,
    }));
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
    return (this.#stmt.sessionsOfUser.all(tenantId, userId) as SessionRow[]).map(sessionFromRow);
  }

  userIdsByEmail(tenantId: string, email: string): string[] {
    const byUserName = this.userIdsByUserName(tenantId, email);
    if (byUserName.length > 0) return byUserName;
    return this.#stmt.userIdsByEmail.all(tenantId, email) as string[];
  }

  userIdsByPhoneNumber(tenantId: string, phoneNumber: string): string[] {
    return this.#stmt.userIdsByPhoneNumber.all(tenantId, phoneNumberKey(phoneNumber)) as string[];
  }

  session(tenantId: string, id: string): SessionRecord | undefined {
    const row = this.#stmt.sessionRow.get(tenantId, id) as SessionRow | undefined;
    return row === undefined ? undefined : sessionFromRow(row);
  }

  sessionsByIdpSessionId(tenantId: string, idpSessionId: string): SessionRecord[] {
    return (this.#stmt.sessionsByIdpSessionId.all(tenantId, idpSessionId) as SessionRow[]).map(sessionFromRow);
  }

  posture(tenantId: string, kind: PostureKind, subjectId: string): Record<string, unknown> | undefined {
    const state = this.#stmt.postureState.get(tenantId, kind, subjectId) as string | undefined;
    return state === undefined ? undefined : (JSON.parse(state) as Record<string, unknown>);
  }

  bindingsOfUser(tenantId: string, userId: string): IdentityBinding[] {
    return (this.#stmt.bindingsOfUser.all(tenantId, userId) as { issuer: string; subject: string }[]).map((b) => ({
      tenantId,
      issuer: b.issuer,
      subject: b.subject,
      userId,
    }));
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

  /** Every write goes through here, so no cached read outlives a change. */
  #run(statement: Statement, ...params: unknown[]): void {
    statement.run(...params);
    this.#cache.clear();
  }

  upsertTenant(tenant: TenantRecord): void {
    this.#run(this.#stmt.upsertTenant, tenant.id, tenant.displayName);
  }

  deleteTenant(tenantId: string): void {
    this.#run(this.#stmt.deleteTenant, tenantId);
  }

  upsertUser(user: UserRecord): void {
    this.#run(this.#stmt.upsertUser, {
      tenant_id: user.tenantId,
      id: user.id,
      user_name: user.userName,
      external_id: user.externalId ?? null,
      active: user.active ? 1 : 0,
      attributes: JSON.stringify(user.attributes),
      roles: JSON.stringify(user.roles),
      extra: JSON.stringify(user.extra ?? {}),
      seq: user.version?.sequence ?? 0,
      created_at: user.version?.createdAt ?? 0,
      modified_at: user.version?.modifiedAt ?? 0,
    });
  }

  deleteUser(tenantId: string, userId: string): void {
    this.#run(this.#stmt.deleteUser, tenantId, userId);
  }

  setReauthentication(tenantId: string, userId: string, after: number): void {
    this.#run(this.#stmt.setReauthentication, tenantId, userId, after);
  }

  setSignout(tenantId: string, userId: string, before: number, reason: string): void {
    this.#run(this.#stmt.setSignout, tenantId, userId, before, reason);
  }

  bindIdentity(binding: IdentityBinding): void {
    this.#run(this.#stmt.bindIdentity, binding.tenantId, binding.issuer, binding.subject, binding.userId);
  }

  unbindIdentity(tenantId: string, issuer: string, subject: string): void {
    this.#run(this.#stmt.unbindIdentity, tenantId, issuer, subject);
  }

  upsertGroup(group: GroupRecord): void {
    this.#run(
      this.#stmt.upsertGroup,
      group.tenantId,
      group.id,
      group.displayName,
      group.externalId ?? null,
      JSON.stringify(group.extra ?? {}),
      group.version?.sequence ?? 0,
      group.version?.createdAt ?? 0,
      group.version?.modifiedAt ?? 0,
    );
  }

  deleteGroup(tenantId: string, groupId: string): void {
    this.#run(this.#stmt.deleteGroup, tenantId, groupId);
  }

  addMember(tenantId: string, groupId: string, userId: string): void {
    this.#run(this.#stmt.addMember, tenantId, groupId, userId);
  }

  removeMember(tenantId: string, groupId: string, userId: string): void {
    this.#run(this.#stmt.removeMember, tenantId, groupId, userId);
  }

  upsertSession(session: SessionRecord): void {
    this.#run(this.#stmt.upsertSession, {
      tenant_id: session.tenantId,
      id: session.id,
      user_id: session.userId,
      issuer: session.issuer,
      acr: session.acr ?? null,
      amr: JSON.stringify(session.amr),
      auth_time: session.authTime ?? null,
      expires_at: session.expiresAt,
      created_at: session.createdAt,
      revoked_at: session.revokedAt ?? null,
      revoke_reason: session.revokeReason ?? null,
      ip: session.ip ?? null,
      device_id: session.deviceId ?? null,
      idp_session_id: session.idpSessionId ?? null,
      extra: JSON.stringify(session.extra ?? {}),
    });
  }

  revokeToken(token: RevokedTokenRecord): void {
    this.#run(
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
    this.#run(this.#stmt.forgetRevokedSid, tenantId, sid, issuer ?? '');
  }

  setPosture(posture: PostureRecord): void {
    this.#run(
      this.#stmt.setPosture,
      posture.tenantId,
      posture.kind,
      posture.subjectId,
      JSON.stringify(posture.state),
      posture.updatedAt,
    );
  }

  clearPosture(tenantId: string, kind: PostureKind, subjectId: string): void {
    this.#run(this.#stmt.clearPosture, tenantId, kind, subjectId);
  }

  setAppliedSequence(sequence: number): void {
    this.#run(this.#stmt.setAppliedSequence, sequence);
  }

  streamOrigin(): StreamOrigin | undefined {
    return this.#stmt.streamOrigin.get() as StreamOrigin | undefined;
  }

  resetTo(origin: StreamOrigin): void {
    // Every table but the bookkeeping: a table added by a later migration is emptied too.
    const tables = (this.#stmt.tableNames.all() as string[]).filter((t) => !BOOKKEEPING_TABLES.includes(t));
    this.transaction(() => {
      for (const table of tables) this.#db.exec(`DELETE FROM "${table}"`);
      this.#run(this.#stmt.setAppliedSequence, 0);
      this.#run(this.#stmt.setStreamOrigin, origin.stream, origin.created);
    });
  }
}

/** The file's schema is not one this build can read or migrate. */
class SchemaMismatchError extends Error {}

function migrate(db: SqliteDatabase): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new SchemaMismatchError(
      `the store has schema version ${version}; this build knows up to ${MIGRATIONS.length}`,
    );
  }
  db.transaction(() => {
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v] ?? '');
    }
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  })();
}

/**
 * How phone numbers compare: `tel:+1 (206) 555-0100` and `+12065550100` are
 * the same number (RFC 3966 URIs and the usual separators are ignored).
 */
export function phoneNumberKey(value: string): string {
  return value
    .trim()
    .toLowerCase()
    .replaceAll('tel:', '')
    .replace(/[ ().-]/g, '');
}

/** {@link phoneNumberKey} in SQL, over the expression `value`. */
function phoneNumberKeySql(value: string): string {
  let sql = `replace(lower(trim(${value})), 'tel:', '')`;
  for (const separator of [' ', '(', ')', '.', '-']) sql = `replace(${sql}, '${separator}', '')`;
  return sql;
}

/**
 * What a failure to open says about the file itself: corrupt, not SQLite, or
 * a schema this build cannot use (newer, or tables that are not ours: an SQL
 * error while migrating or preparing). Undefined when it is about the file's
 * surroundings.
 */
function defectOfOpenError(error: unknown): StoreDefect | undefined {
  const cause = error instanceof StoreUnavailableError ? error.cause : error;
  if (cause instanceof SchemaMismatchError) return { reason: 'schema', detail: cause.message };
  if (!(cause instanceof Database.SqliteError)) return undefined;
  if (cause.code === 'SQLITE_ERROR') return { reason: 'schema', detail: cause.message };
  return defectOfSqliteCode(cause.code, cause.message);
}

function cacheSizeOf(options: EntitlementStoreOptions): number {
  const size = options.subjectCacheSize ?? 10_000;
  if (!Number.isSafeInteger(size) || size < 0) throw new TypeError('subjectCacheSize must be a non-negative integer');
  return size;
}

/** Every statement the store runs, prepared once at open. */
const SQL = {
  tenantExists: 'SELECT 1 FROM tenants WHERE id = ?',
  tenantIds: 'SELECT id FROM tenants ORDER BY id',
  appliedSequence: "SELECT value FROM store_meta WHERE key = 'applied_sequence'",
  dataVersion: 'PRAGMA data_version',
  tenantAndSequence: `SELECT (SELECT 1 FROM tenants WHERE id = ?) AS known,
    (SELECT value FROM store_meta WHERE key = 'applied_sequence') AS sequence`,
  tokenRevoked: `SELECT 1 FROM revoked_tokens WHERE tenant_id = ? AND jti = ?`,
  // As the subject query joins them: '' is a revocation of the sid at any IdP of the tenant.
  idpSessionRevoked: `SELECT 1 FROM revoked_sids WHERE tenant_id = ? AND sid = ? AND issuer IN ('', ?)`,
  userActive: 'SELECT active FROM users WHERE tenant_id = ? AND id = ?',
  userRow: 'SELECT * FROM users WHERE tenant_id = ? AND id = ?',
  userIdsByUserName: 'SELECT id FROM users WHERE tenant_id = ? AND user_name = ? COLLATE NOCASE ORDER BY id',
  userIdsByExternalId: 'SELECT id FROM users WHERE tenant_id = ? AND external_id = ? ORDER BY id',
  userCount: 'SELECT count(*) FROM users WHERE tenant_id = ?',
  usersPage: 'SELECT * FROM users WHERE tenant_id = ? ORDER BY id LIMIT ? OFFSET ?',
  usersAll: 'SELECT * FROM users WHERE tenant_id = ? ORDER BY id',
  groupRow: 'SELECT * FROM groups WHERE tenant_id = ? AND id = ?',
  groupIdsByDisplayName: 'SELECT id FROM groups WHERE tenant_id = ? AND display_name = ? COLLATE NOCASE ORDER BY id',
  groupCount: 'SELECT count(*) FROM groups WHERE tenant_id = ?',
  groupsPage: 'SELECT * FROM groups WHERE tenant_id = ? ORDER BY id LIMIT ? OFFSET ?',
  groupsAll: 'SELECT * FROM groups WHERE tenant_id = ? ORDER BY id',
  groupMembers: `SELECT u.id, u.user_name FROM memberships m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
    WHERE m.tenant_id = ? AND m.group_id = ? ORDER BY u.id`,
  membershipGroupIds: 'SELECT group_id FROM memberships WHERE tenant_id = ? AND user_id = ? ORDER BY group_id',
  groupsOfUser: `SELECT g.* FROM memberships m JOIN groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
    WHERE m.tenant_id = ? AND m.user_id = ? ORDER BY g.display_name, g.id`,
  sessionsOfUser: 'SELECT * FROM sessions WHERE tenant_id = ? AND user_id = ? ORDER BY id',
  sessionRow: 'SELECT * FROM sessions WHERE tenant_id = ? AND id = ?',
  sessionsByIdpSessionId: 'SELECT * FROM sessions WHERE tenant_id = ? AND idp_session_id = ? ORDER BY id',
  userIdsByEmail: `SELECT u.id FROM users u WHERE u.tenant_id = ? AND EXISTS (
      SELECT 1 FROM json_each(u.attributes, '$.emails') e
       WHERE json_extract(e.value, '$.value') = ? COLLATE NOCASE) ORDER BY u.id`,
  userIdsByPhoneNumber: `SELECT u.id FROM users u WHERE u.tenant_id = ? AND EXISTS (
      SELECT 1 FROM json_each(u.attributes, '$.phoneNumbers') p
       WHERE ${phoneNumberKeySql("json_extract(p.value, '$.value')")} = ?) ORDER BY u.id`,
  postureState: 'SELECT state FROM posture WHERE tenant_id = ? AND kind = ? AND subject_id = ?',
  bindingsOfUser:
    'SELECT issuer, subject FROM identity_bindings WHERE tenant_id = ? AND user_id = ? ORDER BY issuer, subject',
  sessionRevoked: 'SELECT revoked_at IS NOT NULL AS revoked FROM sessions WHERE tenant_id = ? AND id = ?',
  setAppliedSequence: "UPDATE store_meta SET value = ? WHERE key = 'applied_sequence'",
  streamOrigin: 'SELECT stream, created FROM stream_origin WHERE id = 1',
  setStreamOrigin: `INSERT INTO stream_origin (id, stream, created) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET stream = excluded.stream, created = excluded.created`,
  tableNames: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
  upsertTenant: `INSERT INTO tenants (id, display_name) VALUES (?, ?)
       ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name`,
  deleteTenant: 'DELETE FROM tenants WHERE id = ?',
  upsertUser: `INSERT INTO users (tenant_id, id, user_name, external_id, active, attributes, roles, extra,
                          seq, created_at, modified_at)
       VALUES (@tenant_id, @id, @user_name, @external_id, @active, @attributes, @roles, @extra,
               @seq, @created_at, @modified_at)
       ON CONFLICT (tenant_id, id) DO UPDATE SET
         user_name = excluded.user_name, external_id = excluded.external_id, active = excluded.active,
         attributes = excluded.attributes, roles = excluded.roles, extra = excluded.extra,
         seq = excluded.seq, created_at = excluded.created_at, modified_at = excluded.modified_at`,
  deleteUser: 'DELETE FROM users WHERE tenant_id = ? AND id = ?',
  setReauthentication: `INSERT INTO reauthentications (tenant_id, user_id, after) VALUES (?, ?, ?)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET after = excluded.after`,
  setSignout: `INSERT INTO signouts (tenant_id, user_id, before, reason) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, user_id) DO UPDATE SET before = excluded.before, reason = excluded.reason`,
  bindIdentity: `INSERT INTO identity_bindings (tenant_id, issuer, subject, user_id) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, issuer, subject) DO UPDATE SET user_id = excluded.user_id`,
  unbindIdentity: 'DELETE FROM identity_bindings WHERE tenant_id = ? AND issuer = ? AND subject = ?',
  upsertGroup: `INSERT INTO groups (tenant_id, id, display_name, external_id, extra, seq, created_at, modified_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name,
         external_id = excluded.external_id, extra = excluded.extra, seq = excluded.seq,
         created_at = excluded.created_at, modified_at = excluded.modified_at`,
  deleteGroup: 'DELETE FROM groups WHERE tenant_id = ? AND id = ?',
  addMember: 'INSERT OR IGNORE INTO memberships (tenant_id, group_id, user_id) VALUES (?, ?, ?)',
  removeMember: 'DELETE FROM memberships WHERE tenant_id = ? AND group_id = ? AND user_id = ?',
  upsertSession: `INSERT INTO sessions (tenant_id, id, user_id, issuer, acr, amr, auth_time, expires_at, created_at,
                             revoked_at, revoke_reason, ip, device_id, idp_session_id, extra)
       VALUES (@tenant_id, @id, @user_id, @issuer, @acr, @amr, @auth_time, @expires_at, @created_at,
               @revoked_at, @revoke_reason, @ip, @device_id, @idp_session_id, @extra)
       ON CONFLICT (tenant_id, id) DO UPDATE SET
         user_id = excluded.user_id, issuer = excluded.issuer, acr = excluded.acr, amr = excluded.amr,
         auth_time = excluded.auth_time, expires_at = excluded.expires_at, created_at = excluded.created_at,
         revoked_at = excluded.revoked_at, revoke_reason = excluded.revoke_reason, ip = excluded.ip,
         device_id = excluded.device_id, idp_session_id = excluded.idp_session_id, extra = excluded.extra`,
  revokeToken: `INSERT INTO revoked_tokens (tenant_id, jti, user_id, revoked_at, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, jti) DO UPDATE SET user_id = excluded.user_id, revoked_at = excluded.revoked_at,
         expires_at = excluded.expires_at`,
  revokeSid: `INSERT INTO revoked_sids (tenant_id, sid, issuer, revoked_at, expires_at, reason) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, sid, issuer) DO UPDATE SET revoked_at = excluded.revoked_at,
         expires_at = excluded.expires_at, reason = excluded.reason`,
  forgetRevokedSid: 'DELETE FROM revoked_sids WHERE tenant_id = ? AND sid = ? AND issuer = ?',
  setPosture: `INSERT INTO posture (tenant_id, kind, subject_id, state, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, kind, subject_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
  clearPosture: 'DELETE FROM posture WHERE tenant_id = ? AND kind = ? AND subject_id = ?',
} as const;

/** Statements that return their first column's value rather than a row. */
const PLUCKED: ReadonlySet<keyof typeof SQL> = new Set<keyof typeof SQL>([
  'tenantExists',
  'tenantIds',
  'appliedSequence',
  'dataVersion',
  'tableNames',
  'userActive',
  'userIdsByUserName',
  'userIdsByExternalId',
  'userCount',
  'groupIdsByDisplayName',
  'groupCount',
  'membershipGroupIds',
  'userIdsByEmail',
  'userIdsByPhoneNumber',
  'postureState',
]);

type Statements = { readonly [K in keyof typeof SQL]: Statement };

function prepareStatements(db: SqliteDatabase): Statements {
  const prepared: Partial<Record<keyof typeof SQL, Statement>> = {};
  for (const key of Object.keys(SQL) as (keyof typeof SQL)[]) {
    const statement = db.prepare(SQL[key]);
    prepared[key] = PLUCKED.has(key) ? statement.pluck() : statement;
  }
  return prepared as Statements;
}

interface UserRow {
  tenant_id: string;
  id: string;
  user_name: string;
  external_id: string | null;
  active: number;
  attributes: string;
  roles: string;
  extra: string;
  seq: number;
  created_at: number;
  modified_at: number;
}

interface GroupRow {
  tenant_id: string;
  id: string;
  display_name: string;
  external_id: string | null;
  extra: string;
  seq: number;
  created_at: number;
  modified_at: number;
}

interface SessionRow {
  tenant_id: string;
  id: string;
  user_id: string;
  issuer: string;
  acr: string | null;
  amr: string;
  auth_time: number | null;
  expires_at: number;
  created_at: number;
  revoked_at: number | null;
  revoke_reason: string | null;
  ip: string | null;
  device_id: string | null;
  idp_session_id: string | null;
  extra: string;
}

function userFromRow(row: UserRow): UserRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    userName: row.user_name,
    externalId: row.external_id ?? undefined,
    active: row.active === 1,
    attributes: JSON.parse(row.attributes) as Record<string, unknown>,
    roles: JSON.parse(row.roles) as string[],
    extra: JSON.parse(row.extra) as Record<string, unknown>,
    version: { sequence: row.seq, createdAt: row.created_at, modifiedAt: row.modified_at },
  };
}

function groupFromRow(row: GroupRow): GroupRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    displayName: row.display_name,
    externalId: row.external_id ?? undefined,
    extra: JSON.parse(row.extra) as Record<string, unknown>,
    version: { sequence: row.seq, createdAt: row.created_at, modifiedAt: row.modified_at },
  };
}

function sessionFromRow(row: SessionRow): SessionRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    userId: row.user_id,
    issuer: row.issuer,
    acr: row.acr ?? undefined,
    amr: JSON.parse(row.amr) as string[],
    authTime: row.auth_time ?? undefined,
    expiresAt: row.expires_at,
    createdAt: row.created_at,
    revokedAt: row.revoked_at ?? undefined,
    revokeReason: row.revoke_reason ?? undefined,
    ip: row.ip ?? undefined,
    deviceId: row.device_id ?? undefined,
    idpSessionId: row.idp_session_id ?? undefined,
    extra: JSON.parse(row.extra) as Record<string, unknown>,
  };
}

function cacheKey(tenantId: string, ref: SubjectRef, deviceId: string | undefined): string {
  const id =
    ref.kind === 'user'
      ? ref.userId
      : ref.kind === 'session'
        ? ref.sessionId
        : `${ref.issuer}\0${ref.subject}\0${ref.sessionId ?? ''}`;
  return `${tenantId}\0${ref.kind}\0${id}\0${deviceId ?? ''}`;
}

/**
 * The subject read: one statement joining the user to its groups, posture,
 * device posture, re-authentication and sign-out markers and the applied
 * sequence. `from` and `where` pick the subject by user id, session or IdP
 * binding. A session created at or before the user's sign-out reads as
 * revoked by it.
 */
function subjectQuery(from: string, where: string): string {
  return `
    SELECT EXISTS (SELECT 1 FROM tenants t WHERE t.id = u.tenant_id) AS tenant_known,
           (SELECT value FROM store_meta WHERE key = 'applied_sequence') AS sequence,
           u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.attributes, u.roles, u.extra,
           (SELECT r.after FROM reauthentications r WHERE r.tenant_id = u.tenant_id AND r.user_id = u.id)
             AS reauthenticate_after,
           (SELECT json_group_array(json_array(g.id, g.display_name, g.external_id))
              FROM (SELECT g.id, g.display_name, g.external_id
                      FROM memberships m JOIN groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
                     WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id
                     ORDER BY g.display_name, g.id) g) AS groups_json,
           (SELECT json_group_object(p.kind, json(p.state)) FROM posture p
             WHERE p.tenant_id = u.tenant_id AND p.subject_id = u.id AND p.kind IN (${USER_POSTURE_SQL})) AS posture_json,
           (SELECT p.state FROM posture p
             WHERE p.tenant_id = u.tenant_id AND p.kind = 'device' AND p.subject_id = coalesce(@device, s.device_id))
             AS device_json,
           s.id AS s_id, s.issuer AS s_issuer, s.acr AS s_acr, s.amr AS s_amr, s.auth_time AS s_auth_time,
           s.expires_at AS s_expires_at, s.created_at AS s_created_at,
           coalesce(s.revoked_at, so.before) AS s_revoked_at,
           CASE WHEN s.revoked_at IS NOT NULL THEN s.revoke_reason ELSE so.reason END AS s_revoke_reason,
           s.ip AS s_ip, s.device_id AS s_device_id, s.idp_session_id AS s_idp_session_id, s.extra AS s_extra,
           (SELECT so2.before FROM signouts so2 WHERE so2.tenant_id = u.tenant_id AND so2.user_id = u.id)
             AS signed_out_before,
           (SELECT json_array(r.revoked_at, r.reason) FROM revoked_sids r
             WHERE r.tenant_id = u.tenant_id AND r.sid = coalesce(@session, s.idp_session_id)
               AND r.issuer IN ('', coalesce(@issuer, s.issuer))
             ORDER BY r.revoked_at, r.issuer LIMIT 1) AS sid_revoked_json
      ${from}
      LEFT JOIN signouts so ON so.tenant_id = s.tenant_id AND so.user_id = s.user_id AND s.created_at <= so.before
     WHERE ${where}`;
}

function sliceFromRow(row: SubjectRow): SubjectSlice {
  const posture = JSON.parse(row.posture_json) as Partial<Record<PostureKind, Record<string, unknown>>>;
  if (row.device_json !== null) posture.device = JSON.parse(row.device_json) as Record<string, unknown>;
  const sidRevoked = row.sid_revoked_json === null ? undefined : (JSON.parse(row.sid_revoked_json) as [number, string]);
  const idpSessionRevoked = sidRevoked === undefined ? undefined : { revokedAt: sidRevoked[0], reason: sidRevoked[1] };
  // A session whose IdP session was revoked is revoked, whatever its own record says.
  const revokedAt = row.s_revoked_at ?? idpSessionRevoked?.revokedAt;
  const revokeReason = row.s_revoked_at !== null ? row.s_revoke_reason : idpSessionRevoked?.reason;
  return {
    user: {
      tenantId: row.tenant_id,
      id: row.id,
      userName: row.user_name,
      externalId: row.external_id ?? undefined,
      active: row.active === 1,
      attributes: JSON.parse(row.attributes) as Record<string, unknown>,
      roles: JSON.parse(row.roles) as string[],
      extra: JSON.parse(row.extra) as Record<string, unknown>,
    },
    reauthenticateAfter: row.reauthenticate_after ?? undefined,
    signedOutBefore: row.signed_out_before ?? undefined,
    groups: (JSON.parse(row.groups_json) as [string, string, string | null][]).map(
      ([id, displayName, externalId]): GroupRef => ({ id, displayName, externalId: externalId ?? undefined }),
    ),
    session:
      row.s_id === null
        ? undefined
        : {
            tenantId: row.tenant_id,
            id: row.s_id,
            userId: row.id,
            issuer: row.s_issuer,
            acr: row.s_acr ?? undefined,
            amr: JSON.parse(row.s_amr) as string[],
            authTime: row.s_auth_time ?? undefined,
            expiresAt: row.s_expires_at,
            createdAt: row.s_created_at,
            revokedAt,
            revokeReason: revokeReason ?? undefined,
            ip: row.s_ip ?? undefined,
            deviceId: row.s_device_id ?? undefined,
            idpSessionId: row.s_idp_session_id ?? undefined,
            extra: JSON.parse(row.s_extra) as Record<string, unknown>,
          },
    idpSessionRevoked,
    posture,
  };
}
