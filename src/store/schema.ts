import type { Database as SqliteDatabase } from 'better-sqlite3';

/**
 * Schema migrations, applied in order and tracked in `PRAGMA user_version`.
 *
 * The store is a materialized view of a stream in which each entity keeps
 * only its latest message, so on replay a membership can arrive before the
 * user it names. Hence no foreign keys and no cascades: each row is one
 * entity's latest state, reads join, and producers publish a tombstone for
 * every entity a deletion ends. Every column is derived from the stream
 * (no local clocks), so two stores fed the same stream are identical.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL
  ) STRICT;

  CREATE TABLE users (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    external_id TEXT,
    active      INTEGER NOT NULL,
    attributes  TEXT NOT NULL,
    roles       TEXT NOT NULL,
    extra       TEXT NOT NULL DEFAULT '{}',
    seq         INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL DEFAULT 0,
    modified_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX users_by_user_name ON users (tenant_id, user_name COLLATE NOCASE);
  CREATE INDEX users_by_external_id ON users (tenant_id, external_id);

  -- IPSIE SL2: sessions need an auth_time after this to be accepted.
  CREATE TABLE reauthentications (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    after     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
  ) STRICT, WITHOUT ROWID;

  -- Every session of the user created at or before \`before\` is revoked.
  CREATE TABLE signouts (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    before    INTEGER NOT NULL,
    reason    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE identity_bindings (
    tenant_id TEXT NOT NULL,
    issuer    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, issuer, subject)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX identity_bindings_by_user ON identity_bindings (tenant_id, user_id);

  CREATE TABLE groups (
    tenant_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    display_name TEXT NOT NULL,
    external_id  TEXT,
    extra        TEXT NOT NULL DEFAULT '{}',
    seq          INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL DEFAULT 0,
    modified_at  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX groups_by_display_name ON groups (tenant_id, display_name COLLATE NOCASE);

  -- Keyed by user first: Check reads a user's groups; nothing reads a
  -- group's members here (deletes do not cascade), so no second index.
  CREATE TABLE memberships (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, group_id)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE sessions (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    issuer        TEXT NOT NULL,
    acr           TEXT,
    amr           TEXT NOT NULL,
    auth_time     INTEGER,
    expires_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    revoke_reason TEXT,
    ip            TEXT,
    device_id     TEXT,
    idp_session_id TEXT,
    extra         TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);

  CREATE TABLE revoked_tokens (
    tenant_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    user_id    TEXT,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (tenant_id, jti)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE posture (
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    state      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, subject_id)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) STRICT;
  INSERT INTO store_meta (key, value) VALUES ('applied_sequence', 0);
  `,
  `
  -- IdP sessions (sid) the IdP ended: sessions and tokens carrying the sid are
  -- revoked. Deleted when the stream's delete marker for the record arrives.
  CREATE TABLE revoked_sids (
    tenant_id  TEXT NOT NULL,
    sid        TEXT NOT NULL,
    -- '' : any IdP of the tenant
    issuer     TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (tenant_id, sid, issuer)
  ) STRICT, WITHOUT ROWID;
  `,
  `
  -- Which stream the store materializes: a stream deleted and created again
  -- (or another deployment's) restarts its sequences, so a sequence alone
  -- cannot say whether the store is behind, ahead or of another stream.
  CREATE TABLE stream_origin (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    stream  TEXT NOT NULL,
    created TEXT NOT NULL
  ) STRICT;
  `,
  `
  -- Ended sessions are purged by a change on the stream (sessions.purge), never
  -- by a local clock: the index finds them, the table keeps the tenant's cutoff.
  CREATE INDEX sessions_by_expiry ON sessions (tenant_id, expires_at);
  CREATE TABLE session_purges (
    tenant_id      TEXT PRIMARY KEY,
    expired_before INTEGER NOT NULL
  ) STRICT;
  `,
  `
  -- A subject names a user by the sub an IdP signed it in as, whichever IdP of
  -- the tenant (an AuthZEN PEP sends the sub without the issuer).
  CREATE INDEX IF NOT EXISTS identity_bindings_by_subject ON identity_bindings (tenant_id, subject);
  `,
  `
  -- The app's own resources and their relations (docs/resources.md). A relation is keyed by its resource
  -- first: "the relations of this resource" (Check) is a range of the primary key. The second index is keyed
  -- by subject: "the resources this user, one of its groups, or a parent holds a relation on" (search, and the
  -- parent chain's walk down). A user or group subject has the empty subject_type.
  CREATE TABLE resources (
    tenant_id   TEXT NOT NULL,
    type        TEXT NOT NULL,
    id          TEXT NOT NULL,
    attributes  TEXT NOT NULL,
    extra       TEXT NOT NULL DEFAULT '{}',
    seq         INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL DEFAULT 0,
    modified_at INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, type, id)
  ) STRICT, WITHOUT ROWID;

  CREATE TABLE relations (
    tenant_id     TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    relation      TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    subject_type  TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, resource_type, resource_id, relation, subject_kind, subject_type, subject_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX relations_by_subject
    ON relations (tenant_id, subject_kind, subject_type, subject_id, relation, resource_type, resource_id);
  -- Subject search walks from a group named in a relation to its members.
  CREATE INDEX IF NOT EXISTS memberships_by_group ON memberships (tenant_id, group_id, user_id);
  `,
  `
  -- A tenant with a customer-managed key (docs/keys.md): the personal fields sealed as the stream carries
  -- them; user_name and external_id then hold lookup hashes.
  ALTER TABLE users ADD COLUMN sealed TEXT;
  ALTER TABLE sessions ADD COLUMN sealed TEXT;
  ALTER TABLE posture ADD COLUMN sealed TEXT;
  `,
];

/** Tables that describe the store rather than hold state from the stream: a reset keeps them. */
export const BOOKKEEPING_TABLES: readonly string[] = ['store_meta', 'stream_origin'];

/**
 * Indexes only the gateway's replica needs (SCIM lookups by group and by
 * user). Sidecars skip them: each is paid on every ingested write.
 */
export const DIRECTORY_INDEXES = `
  CREATE INDEX IF NOT EXISTS memberships_by_group ON memberships (tenant_id, group_id, user_id);
  CREATE INDEX IF NOT EXISTS sessions_by_user_only ON sessions (tenant_id, user_id, id);
  CREATE INDEX IF NOT EXISTS groups_by_external_id ON groups (tenant_id, external_id);
  CREATE INDEX IF NOT EXISTS sessions_by_idp_session ON sessions (tenant_id, idp_session_id);
`;

/** Tables holding one tenant's state, with the order that makes a dump canonical. */
export const TENANT_TABLES: readonly {
  readonly table: string;
  readonly tenantColumn: string;
  readonly orderBy: string;
}[] = [
  { table: 'tenants', tenantColumn: 'id', orderBy: 'id' },
  { table: 'users', tenantColumn: 'tenant_id', orderBy: 'id' },
  { table: 'reauthentications', tenantColumn: 'tenant_id', orderBy: 'user_id' },
  { table: 'signouts', tenantColumn: 'tenant_id', orderBy: 'user_id' },
  { table: 'identity_bindings', tenantColumn: 'tenant_id', orderBy: 'issuer, subject' },
  { table: 'groups', tenantColumn: 'tenant_id', orderBy: 'id' },
  { table: 'memberships', tenantColumn: 'tenant_id', orderBy: 'user_id, group_id' },
  { table: 'sessions', tenantColumn: 'tenant_id', orderBy: 'id' },
  { table: 'revoked_tokens', tenantColumn: 'tenant_id', orderBy: 'jti' },
  { table: 'revoked_sids', tenantColumn: 'tenant_id', orderBy: 'sid, issuer' },
  { table: 'posture', tenantColumn: 'tenant_id', orderBy: 'kind, subject_id' },
  { table: 'session_purges', tenantColumn: 'tenant_id', orderBy: 'tenant_id' },
  { table: 'resources', tenantColumn: 'tenant_id', orderBy: 'type, id' },
  {
    table: 'relations',
    tenantColumn: 'tenant_id',
    orderBy: 'resource_type, resource_id, relation, subject_kind, subject_type, subject_id',
  },
];

/** The file's schema is not one this build can read or migrate. */
export class SchemaMismatchError extends Error {}

/**
 * Applies the migrations the file lacks, in one transaction.
 *
 * @throws {SchemaMismatchError} when the file's schema is newer than this build's.
 */
export function migrate(db: SqliteDatabase): void {
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
