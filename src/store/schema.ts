/**
 * Schema migrations, applied in order and tracked in `PRAGMA user_version`.
 *
 * The store is a materialized view of a stream in which each entity keeps
 * only its latest message, so on replay a membership can arrive before the
 * user it names. Hence no foreign keys: deletes cascade in code, reads join.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    updated_at   INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE users (
    tenant_id            TEXT NOT NULL,
    id                   TEXT NOT NULL,
    user_name            TEXT NOT NULL,
    external_id          TEXT,
    active               INTEGER NOT NULL,
    attributes           TEXT NOT NULL,
    roles                TEXT NOT NULL,
    reauthenticate_after INTEGER,
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX users_by_user_name ON users (tenant_id, user_name COLLATE NOCASE);
  CREATE INDEX users_by_external_id ON users (tenant_id, external_id);

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
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX groups_by_display_name ON groups (tenant_id, display_name COLLATE NOCASE);

  CREATE TABLE memberships (
    tenant_id TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, group_id, user_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX memberships_by_user ON memberships (tenant_id, user_id, group_id);

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
    PRIMARY KEY (tenant_id, id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX sessions_by_user ON sessions (tenant_id, user_id);

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
];
