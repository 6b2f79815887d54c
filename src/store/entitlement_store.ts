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
  SubjectRead,
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
  /**
   * Subject reads kept in memory (least recently used evicted); 0 disables.
   * @defaultValue 10000
   */
  readonly subjectCacheSize?: number;
}

const USER_POSTURE_KINDS: readonly PostureKind[] = ['account', 'assurance', 'risk'];
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
  readonly #subjectBy: Readonly<Record<SubjectRef['kind'], Statement>>;
  /** Reads by key, in least-recently-used order (a Map keeps insertion order). */
  readonly #cache = new Map<string, SubjectRead>();
  readonly #cacheSize: number;
  /** `PRAGMA data_version` when the cache was last known valid: it moves when another connection commits. */
  #dataVersion = 0;

  private constructor(db: SqliteDatabase, options: EntitlementStoreOptions) {
    this.#db = db;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.#cacheSize = options.subjectCacheSize ?? 10_000;
    if (!Number.isSafeInteger(this.#cacheSize) || this.#cacheSize < 0) {
      throw new TypeError('subjectCacheSize must be a non-negative integer');
    }
    this.#stmt = prepareStatements(db);
    this.#deleteUserCascade = DELETE_USER_CASCADE.map((sql) => db.prepare(sql));
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
           LEFT JOIN sessions s ON 0`,
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
    try {
      return this.#db.transaction(fn)();
    } finally {
      // Reads inside the transaction are not cached, but be certain nothing
      // survives a rollback.
      this.#cache.clear();
    }
  }

  /** Every write goes through here, so no cached read outlives a change. */
  #run(statement: Statement, ...params: unknown[]): void {
    statement.run(...params);
    this.#cache.clear();
  }

  // --- reader ---------------------------------------------------------------

  hasTenant(tenantId: string): boolean {
    return this.#stmt.tenantExists.get(tenantId) !== undefined;
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

  // --- writer ---------------------------------------------------------------

  upsertTenant(tenant: TenantRecord): void {
    this.#run(this.#stmt.upsertTenant, tenant.id, tenant.displayName, this.#clock());
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
      updated_at: this.#clock(),
    });
  }

  deleteUser(tenantId: string, userId: string): void {
    this.transaction(() => {
      for (const statement of this.#deleteUserCascade) this.#run(statement, tenantId, userId);
    });
  }

  requireReauthentication(tenantId: string, userId: string, at: number): void {
    this.#run(this.#stmt.requireReauthentication, at, tenantId, userId);
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
      this.#clock(),
    );
  }

  deleteGroup(tenantId: string, groupId: string): void {
    this.transaction(() => {
      this.#run(this.#stmt.deleteGroupMemberships, tenantId, groupId);
      this.#run(this.#stmt.deleteGroup, tenantId, groupId);
    });
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
    });
  }

  revokeSession(tenantId: string, sessionId: string, at: number, reason: string): void {
    this.#run(this.#stmt.revokeSession, at, reason, tenantId, sessionId);
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
  dataVersion: 'PRAGMA data_version',
  tenantAndSequence: `SELECT (SELECT 1 FROM tenants WHERE id = ?) AS known,
    (SELECT value FROM store_meta WHERE key = 'applied_sequence') AS sequence`,
  setAppliedSequence: "UPDATE store_meta SET value = ? WHERE key = 'applied_sequence'",
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
  'dataVersion',
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

function cacheKey(tenantId: string, ref: SubjectRef, deviceId: string | undefined): string {
  const id =
    ref.kind === 'user' ? ref.userId : ref.kind === 'session' ? ref.sessionId : `${ref.issuer}\0${ref.subject}`;
  return `${tenantId}\0${ref.kind}\0${id}\0${deviceId ?? ''}`;
}

/**
 * The subject read: one statement joining the user to its groups, posture,
 * device posture and the applied sequence. `from` and `where` pick the
 * subject by user id, session or IdP binding.
 */
function subjectQuery(from: string, where: string): string {
  return `
    SELECT EXISTS (SELECT 1 FROM tenants t WHERE t.id = u.tenant_id) AS tenant_known,
           (SELECT value FROM store_meta WHERE key = 'applied_sequence') AS sequence,
           u.tenant_id, u.id, u.user_name, u.external_id, u.active, u.attributes, u.roles, u.reauthenticate_after,
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
           s.expires_at AS s_expires_at, s.created_at AS s_created_at, s.revoked_at AS s_revoked_at,
           s.revoke_reason AS s_revoke_reason, s.ip AS s_ip, s.device_id AS s_device_id
      ${from}
     WHERE ${where}`;
}

function sliceFromRow(row: SubjectRow): SubjectSlice {
  const posture = JSON.parse(row.posture_json) as Partial<Record<PostureKind, Record<string, unknown>>>;
  if (row.device_json !== null) posture.device = JSON.parse(row.device_json) as Record<string, unknown>;
  return {
    user: {
      tenantId: row.tenant_id,
      id: row.id,
      userName: row.user_name,
      externalId: row.external_id ?? undefined,
      active: row.active === 1,
      attributes: JSON.parse(row.attributes) as Record<string, unknown>,
      roles: JSON.parse(row.roles) as string[],
    },
    reauthenticateAfter: row.reauthenticate_after ?? undefined,
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
            revokedAt: row.s_revoked_at ?? undefined,
            revokeReason: row.s_revoke_reason ?? undefined,
            ip: row.s_ip ?? undefined,
            deviceId: row.s_device_id ?? undefined,
          },
    posture,
  };
}
