import Database from 'better-sqlite3';
import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { StoreUnavailableError, TenantUnknownError } from './errors.js';
import type {
  GroupRecord,
  GroupRef,
  IdentityBinding,
  PostureKind,
  PostureRecord,
  SessionRecord,
  SubjectRef,
  SubjectSlice,
  TenantRecord,
  UserRecord,
} from './records.js';
import { MIGRATIONS } from './schema.js';

/** What the check path may do with the store: read one subject at a time. */
export interface EntitlementReader {
  hasTenant(tenantId: string): boolean;
  /**
   * Reads a subject's user, groups, session and posture in one consistent
   * snapshot. `undefined` when the subject (or its session or binding) is
   * unknown to this tenant.
   *
   * @param deviceId device whose posture to include; defaults to the session's device.
   * @throws {TenantUnknownError} `ERR_STORE_TENANT_UNKNOWN`
   */
  readSubject(tenantId: string, ref: SubjectRef, deviceId?: string): SubjectSlice | undefined;
  /** The last stream sequence applied to the store (0 before any). */
  appliedSequence(): number;
}

/** What the ingest path may do: change state, atomically. */
export interface EntitlementWriter {
  /** Runs `fn` in one transaction; nested calls join the outer one. */
  transaction<T>(fn: () => T): T;
  upsertTenant(tenant: TenantRecord): void;
  upsertUser(user: UserRecord): void;
  /** Deletes the user with their memberships, bindings, sessions and posture. */
  deleteUser(tenantId: string, userId: string): void;
  /** Sessions must carry an auth_time after `at` (Unix s) to be accepted (IPSIE SL2). */
  requireReauthentication(tenantId: string, userId: string, at: number): void;
  bindIdentity(binding: IdentityBinding): void;
  unbindIdentity(tenantId: string, issuer: string, subject: string): void;
  upsertGroup(group: GroupRecord): void;
  /** Deletes the group with its memberships. */
  deleteGroup(tenantId: string, groupId: string): void;
  addMember(tenantId: string, groupId: string, userId: string): void;
  removeMember(tenantId: string, groupId: string, userId: string): void;
  upsertSession(session: SessionRecord): void;
  revokeSession(tenantId: string, sessionId: string, at: number, reason: string): void;
  setPosture(posture: PostureRecord): void;
  clearPosture(tenantId: string, kind: PostureKind, subjectId: string): void;
  setAppliedSequence(sequence: number): void;
}

export interface EntitlementStoreOptions {
  /** Unix seconds; injected so tests control time. @defaultValue the system clock */
  readonly clock?: () => number;
}

const USER_POSTURE_KINDS: readonly PostureKind[] = ['account', 'assurance', 'risk'];
const USER_POSTURE_SQL = USER_POSTURE_KINDS.map((k) => `'${k}'`).join(', ');

interface UserRow {
  tenant_id: string;
  id: string;
  user_name: string;
  external_id: string | null;
  active: number;
  attributes: string;
  roles: string;
  reauthenticate_after: number | null;
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
}

interface GroupRow {
  id: string;
  display_name: string;
  external_id: string | null;
}

interface PostureRow {
  kind: PostureKind;
  state: string;
}

/**
 * The sidecar's local entitlement store: one SQLite file (WAL), prepared
 * statements, one writer. Check reads it through {@link EntitlementReader},
 * ingest writes it through {@link EntitlementWriter}.
 */
export class EntitlementStore implements EntitlementReader, EntitlementWriter {
  readonly #db: SqliteDatabase;
  readonly #clock: () => number;
  readonly #stmt: Statements;
  readonly #deleteUserCascade: readonly Statement[];
  readonly #readSnapshot: (tenantId: string, ref: SubjectRef, deviceId?: string) => SubjectSlice | undefined;

  private constructor(db: SqliteDatabase, options: EntitlementStoreOptions) {
    this.#db = db;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.#stmt = prepareStatements(db);
    this.#deleteUserCascade = DELETE_USER_CASCADE.map((sql) => db.prepare(sql));
    // A read transaction, so the slice is one snapshot even if another
    // process writes the file between statements.
    this.#readSnapshot = db.transaction((tenantId: string, ref: SubjectRef, deviceId?: string) =>
      this.#readSubjectUnsafe(tenantId, ref, deviceId),
    );
  }

  /**
   * Opens (creating if needed) and migrates the store at `path`.
   * `:memory:` gives a private in-memory store.
   *
   * @throws {StoreUnavailableError} `ERR_STORE_UNAVAILABLE`
   */
  static open(path: string, options: EntitlementStoreOptions = {}): EntitlementStore {
    let db: SqliteDatabase;
    try {
      db = new Database(path);
      db.pragma('journal_mode = WAL');
      // With WAL, NORMAL can lose the last transactions on power loss but never
      // corrupts; the applied sequence is lost with them and replayed.
      db.pragma('synchronous = NORMAL');
      db.pragma('busy_timeout = 5000');
      migrate(db);
    } catch (cause) {
      if (cause instanceof StoreUnavailableError) throw cause;
      throw new StoreUnavailableError(`cannot open the entitlement store at ${path}`, { cause });
    }
    return new EntitlementStore(db, options);
  }

  close(): void {
    this.#db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  // --- reader ---------------------------------------------------------------

  hasTenant(tenantId: string): boolean {
    return this.#stmt.tenantExists.get(tenantId) !== undefined;
  }

  readSubject(tenantId: string, ref: SubjectRef, deviceId?: string): SubjectSlice | undefined {
    return this.#readSnapshot(tenantId, ref, deviceId);
  }

  appliedSequence(): number {
    return this.#stmt.appliedSequence.get() as number;
  }

  #readSubjectUnsafe(tenantId: string, ref: SubjectRef, deviceId?: string): SubjectSlice | undefined {
    if (!this.hasTenant(tenantId)) throw new TenantUnknownError(tenantId);
    let session: SessionRecord | undefined;
    let userId: string | undefined;
    switch (ref.kind) {
      case 'user':
        userId = ref.userId;
        break;
      case 'session': {
        const row = this.#stmt.sessionById.get(tenantId, ref.sessionId) as SessionRow | undefined;
        if (row === undefined) return undefined;
        session = sessionFromRow(row);
        userId = row.user_id;
        break;
      }
      case 'identity':
        userId = this.#stmt.bindingUser.get(tenantId, ref.issuer, ref.subject) as string | undefined;
        break;
    }
    if (userId === undefined) return undefined;
    const userRow = this.#stmt.userById.get(tenantId, userId) as UserRow | undefined;
    if (userRow === undefined) return undefined;

    const groups = (this.#stmt.groupsOfUser.all(tenantId, userId) as GroupRow[]).map((g): GroupRef => ({
      id: g.id,
      displayName: g.display_name,
      externalId: g.external_id ?? undefined,
    }));
    const posture: Partial<Record<PostureKind, Record<string, unknown>>> = {};
    for (const row of this.#stmt.userPosture.all(tenantId, userId) as PostureRow[]) {
      posture[row.kind] = JSON.parse(row.state) as Record<string, unknown>;
    }
    const device = deviceId ?? session?.deviceId;
    if (device !== undefined) {
      const state = this.#stmt.posture.get(tenantId, 'device', device) as string | undefined;
      if (state !== undefined) posture.device = JSON.parse(state) as Record<string, unknown>;
    }
    return {
      user: userFromRow(userRow),
      reauthenticateAfter: userRow.reauthenticate_after ?? undefined,
      groups,
      session,
      posture,
    };
  }

  // --- writer ---------------------------------------------------------------

  upsertTenant(tenant: TenantRecord): void {
    this.#stmt.upsertTenant.run(tenant.id, tenant.displayName, this.#clock());
  }

  upsertUser(user: UserRecord): void {
    this.#stmt.upsertUser.run({
      tenant_id: user.tenantId,
      id: user.id,
      user_name: user.userName,
      external_id: user.externalId ?? null,
      active: user.active ? 1 : 0,
      attributes: JSON.stringify(user.attributes),
      roles: JSON.stringify(user.roles),
      updated_at: this.#clock(),
    });
  }

  deleteUser(tenantId: string, userId: string): void {
    this.transaction(() => {
      for (const statement of this.#deleteUserCascade) statement.run(tenantId, userId);
    });
  }

  requireReauthentication(tenantId: string, userId: string, at: number): void {
    this.#stmt.requireReauthentication.run(at, tenantId, userId);
  }

  bindIdentity(binding: IdentityBinding): void {
    this.#stmt.bindIdentity.run(binding.tenantId, binding.issuer, binding.subject, binding.userId);
  }

  unbindIdentity(tenantId: string, issuer: string, subject: string): void {
    this.#stmt.unbindIdentity.run(tenantId, issuer, subject);
  }

  upsertGroup(group: GroupRecord): void {
    this.#stmt.upsertGroup.run(group.tenantId, group.id, group.displayName, group.externalId ?? null, this.#clock());
  }

  deleteGroup(tenantId: string, groupId: string): void {
    this.transaction(() => {
      this.#stmt.deleteGroupMemberships.run(tenantId, groupId);
      this.#stmt.deleteGroup.run(tenantId, groupId);
    });
  }

  addMember(tenantId: string, groupId: string, userId: string): void {
    this.#stmt.addMember.run(tenantId, groupId, userId);
  }

  removeMember(tenantId: string, groupId: string, userId: string): void {
    this.#stmt.removeMember.run(tenantId, groupId, userId);
  }

  upsertSession(session: SessionRecord): void {
    this.#stmt.upsertSession.run({
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
    });
  }

  revokeSession(tenantId: string, sessionId: string, at: number, reason: string): void {
    this.#stmt.revokeSession.run(at, reason, tenantId, sessionId);
  }

  setPosture(posture: PostureRecord): void {
    this.#stmt.setPosture.run(
      posture.tenantId,
      posture.kind,
      posture.subjectId,
      JSON.stringify(posture.state),
      posture.updatedAt,
    );
  }

  clearPosture(tenantId: string, kind: PostureKind, subjectId: string): void {
    this.#stmt.clearPosture.run(tenantId, kind, subjectId);
  }

  setAppliedSequence(sequence: number): void {
    this.#stmt.setAppliedSequence.run(sequence);
  }
}

function migrate(db: SqliteDatabase): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new StoreUnavailableError(
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

/** Every statement the store runs, prepared once at open. */
const SQL = {
  tenantExists: 'SELECT 1 FROM tenants WHERE id = ?',
  appliedSequence: "SELECT value FROM store_meta WHERE key = 'applied_sequence'",
  setAppliedSequence: "UPDATE store_meta SET value = ? WHERE key = 'applied_sequence'",
  sessionById: 'SELECT * FROM sessions WHERE tenant_id = ? AND id = ?',
  bindingUser: 'SELECT user_id FROM identity_bindings WHERE tenant_id = ? AND issuer = ? AND subject = ?',
  userById: 'SELECT * FROM users WHERE tenant_id = ? AND id = ?',
  groupsOfUser: `SELECT g.id, g.display_name, g.external_id
         FROM memberships m JOIN groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
        WHERE m.tenant_id = ? AND m.user_id = ?
        ORDER BY g.display_name, g.id`,
  userPosture: `SELECT kind, state FROM posture
        WHERE tenant_id = ? AND subject_id = ? AND kind IN (${USER_POSTURE_SQL})`,
  posture: 'SELECT state FROM posture WHERE tenant_id = ? AND kind = ? AND subject_id = ?',
  upsertTenant: `INSERT INTO tenants (id, display_name, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name, updated_at = excluded.updated_at`,
  upsertUser: `INSERT INTO users (tenant_id, id, user_name, external_id, active, attributes, roles, updated_at)
       VALUES (@tenant_id, @id, @user_name, @external_id, @active, @attributes, @roles, @updated_at)
       ON CONFLICT (tenant_id, id) DO UPDATE SET
         user_name = excluded.user_name, external_id = excluded.external_id, active = excluded.active,
         attributes = excluded.attributes, roles = excluded.roles, updated_at = excluded.updated_at`,
  requireReauthentication: 'UPDATE users SET reauthenticate_after = ? WHERE tenant_id = ? AND id = ?',
  bindIdentity: `INSERT INTO identity_bindings (tenant_id, issuer, subject, user_id) VALUES (?, ?, ?, ?)
       ON CONFLICT (tenant_id, issuer, subject) DO UPDATE SET user_id = excluded.user_id`,
  unbindIdentity: 'DELETE FROM identity_bindings WHERE tenant_id = ? AND issuer = ? AND subject = ?',
  upsertGroup: `INSERT INTO groups (tenant_id, id, display_name, external_id, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name,
         external_id = excluded.external_id, updated_at = excluded.updated_at`,
  deleteGroupMemberships: 'DELETE FROM memberships WHERE tenant_id = ? AND group_id = ?',
  deleteGroup: 'DELETE FROM groups WHERE tenant_id = ? AND id = ?',
  addMember: 'INSERT OR IGNORE INTO memberships (tenant_id, group_id, user_id) VALUES (?, ?, ?)',
  removeMember: 'DELETE FROM memberships WHERE tenant_id = ? AND group_id = ? AND user_id = ?',
  upsertSession: `INSERT INTO sessions (tenant_id, id, user_id, issuer, acr, amr, auth_time, expires_at, created_at,
                             revoked_at, revoke_reason, ip, device_id)
       VALUES (@tenant_id, @id, @user_id, @issuer, @acr, @amr, @auth_time, @expires_at, @created_at,
               @revoked_at, @revoke_reason, @ip, @device_id)
       ON CONFLICT (tenant_id, id) DO UPDATE SET
         user_id = excluded.user_id, issuer = excluded.issuer, acr = excluded.acr, amr = excluded.amr,
         auth_time = excluded.auth_time, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at,
         revoke_reason = excluded.revoke_reason, ip = excluded.ip, device_id = excluded.device_id`,
  revokeSession: `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
        WHERE tenant_id = ? AND id = ? AND revoked_at IS NULL`,
  setPosture: `INSERT INTO posture (tenant_id, kind, subject_id, state, updated_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, kind, subject_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
  clearPosture: 'DELETE FROM posture WHERE tenant_id = ? AND kind = ? AND subject_id = ?',
} as const;

/** Statements that return their first column's value rather than a row. */
const PLUCKED: ReadonlySet<keyof typeof SQL> = new Set<keyof typeof SQL>([
  'tenantExists',
  'appliedSequence',
  'bindingUser',
  'posture',
]);

/** A user's deletion, child rows first. */
const DELETE_USER_CASCADE: readonly string[] = [
  'DELETE FROM memberships WHERE tenant_id = ? AND user_id = ?',
  'DELETE FROM identity_bindings WHERE tenant_id = ? AND user_id = ?',
  'DELETE FROM sessions WHERE tenant_id = ? AND user_id = ?',
  `DELETE FROM posture WHERE tenant_id = ? AND subject_id = ? AND kind IN (${USER_POSTURE_SQL})`,
  'DELETE FROM users WHERE tenant_id = ? AND id = ?',
];

type Statements = { readonly [K in keyof typeof SQL]: Statement };

function prepareStatements(db: SqliteDatabase): Statements {
  const prepared: Partial<Record<keyof typeof SQL, Statement>> = {};
  for (const key of Object.keys(SQL) as (keyof typeof SQL)[]) {
    const statement = db.prepare(SQL[key]);
    prepared[key] = PLUCKED.has(key) ? statement.pluck() : statement;
  }
  return prepared as Statements;
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
  };
}
