import type { Database as SqliteDatabase, Statement } from 'better-sqlite3';
import { PARENT_RELATION } from '../changes/index.js';

/**
 * A posture row's state as JSON text: its state, or for a sealed row the one-element array of its sealed
 * state (never a state's own form: a state is an object), which the reader opens.
 */
export const POSTURE_STATE_SQL = (table: string): string =>
  `CASE WHEN ${table}.sealed IS NULL THEN ${table}.state ELSE json_array(${table}.sealed) END`;

/** The changes module's `phoneNumberKey` in SQL, over the expression `value`. */
function phoneNumberKeySql(value: string): string {
  let sql = `replace(lower(trim(${value})), 'tel:', '')`;
  for (const separator of [' ', '(', ')', '.', '-']) sql = `replace(${sql}, '${separator}', '')`;
  return sql;
}

const PARENT = PARENT_RELATION;
/** The resource @type/@id and its ancestors, at most @depth `parent` steps up (UNION: a cycle ends). */
const CHAIN = `chain(type, id, depth) AS (
         SELECT @type, @id, 0
         UNION
         SELECT r.subject_type, r.subject_id, c.depth + 1 FROM chain c CROSS JOIN relations r
          WHERE r.tenant_id = @tenant AND r.resource_type = c.type AND r.resource_id = c.id
            AND r.relation = '${PARENT}' AND r.subject_kind = 'resource' AND c.depth < @depth
       )`;
/** Who @user is as a relation subject: itself, and its existing groups (a deleted group's membership grants nothing). */
const HOLDERS = `holders(kind, id) AS (
         SELECT 'user', @user
         UNION ALL
         SELECT 'group', m.group_id FROM memberships m CROSS JOIN groups g
          WHERE m.tenant_id = @tenant AND m.user_id = @user AND g.tenant_id = m.tenant_id AND g.id = m.group_id
       )`;

/** Every statement the store runs, prepared once at open. */
export const SQL = {
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
  groupMembers: `SELECT u.* FROM memberships m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id
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
  postureState: `SELECT ${POSTURE_STATE_SQL('posture')} FROM posture WHERE tenant_id = ? AND kind = ? AND subject_id = ?`,
  bindingsOfUser:
    'SELECT issuer, subject FROM identity_bindings WHERE tenant_id = ? AND user_id = ? ORDER BY issuer, subject',
  userIdsByIdpSubject:
    'SELECT DISTINCT user_id FROM identity_bindings WHERE tenant_id = ? AND subject = ? ORDER BY user_id',
  sessionRevoked: 'SELECT revoked_at IS NOT NULL AS revoked FROM sessions WHERE tenant_id = ? AND id = ?',
  setAppliedSequence: "UPDATE store_meta SET value = ? WHERE key = 'applied_sequence'",
  streamOrigin: 'SELECT stream, created FROM stream_origin WHERE id = 1',
  setStreamOrigin: `INSERT INTO stream_origin (id, stream, created) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET stream = excluded.stream, created = excluded.created`,
  tableNames: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
  upsertTenant: `INSERT INTO tenants (id, display_name) VALUES (?, ?)
       ON CONFLICT (id) DO UPDATE SET display_name = excluded.display_name`,
  deleteTenant: 'DELETE FROM tenants WHERE id = ?',
  upsertUser: `INSERT INTO users (tenant_id, id, user_name, external_id, active, attributes, roles, extra, sealed,
                          seq, created_at, modified_at)
       VALUES (@tenant_id, @id, @user_name, @external_id, @active, @attributes, @roles, @extra, @sealed,
               @seq, @created_at, @modified_at)
       ON CONFLICT (tenant_id, id) DO UPDATE SET
         user_name = excluded.user_name, external_id = excluded.external_id, active = excluded.active,
         attributes = excluded.attributes, roles = excluded.roles, extra = excluded.extra, sealed = excluded.sealed,
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
       VALUES (@tenant_id, @id, @display_name, @external_id, @extra, @seq, @created_at, @modified_at)
       ON CONFLICT (tenant_id, id) DO UPDATE SET display_name = excluded.display_name,
         external_id = excluded.external_id, extra = excluded.extra, seq = excluded.seq,
         created_at = excluded.created_at, modified_at = excluded.modified_at`,
  deleteGroup: 'DELETE FROM groups WHERE tenant_id = ? AND id = ?',
  addMember: 'INSERT OR IGNORE INTO memberships (tenant_id, group_id, user_id) VALUES (?, ?, ?)',
  removeMember: 'DELETE FROM memberships WHERE tenant_id = ? AND group_id = ? AND user_id = ?',
  upsertSession: `INSERT INTO sessions (tenant_id, id, user_id, issuer, acr, amr, auth_time, expires_at, created_at,
                             revoked_at, revoke_reason, ip, device_id, idp_session_id, extra, sealed)
       VALUES (@tenant_id, @id, @user_id, @issuer, @acr, @amr, @auth_time, @expires_at, @created_at,
               @revoked_at, @revoke_reason, @ip, @device_id, @idp_session_id, @extra, @sealed)
       ON CONFLICT (tenant_id, id) DO UPDATE SET
         user_id = excluded.user_id, issuer = excluded.issuer, acr = excluded.acr, amr = excluded.amr,
         auth_time = excluded.auth_time, expires_at = excluded.expires_at, created_at = excluded.created_at,
         revoked_at = excluded.revoked_at, revoke_reason = excluded.revoke_reason, ip = excluded.ip,
         device_id = excluded.device_id, idp_session_id = excluded.idp_session_id, extra = excluded.extra,
         sealed = excluded.sealed`,
  revokeToken: `INSERT INTO revoked_tokens (tenant_id, jti, user_id, revoked_at, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, jti) DO UPDATE SET user_id = excluded.user_id, revoked_at = excluded.revoked_at,
         expires_at = excluded.expires_at`,
  revokeSid: `INSERT INTO revoked_sids (tenant_id, sid, issuer, revoked_at, expires_at, reason) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, sid, issuer) DO UPDATE SET revoked_at = excluded.revoked_at,
         expires_at = excluded.expires_at, reason = excluded.reason`,
  forgetRevokedSid: 'DELETE FROM revoked_sids WHERE tenant_id = ? AND sid = ? AND issuer = ?',
  setPosture: `INSERT INTO posture (tenant_id, kind, subject_id, state, updated_at, sealed) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (tenant_id, kind, subject_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at,
         sealed = excluded.sealed`,
  clearPosture: 'DELETE FROM posture WHERE tenant_id = ? AND kind = ? AND subject_id = ?',
  purgeSessions: 'DELETE FROM sessions WHERE tenant_id = ? AND expires_at < ?',
  setSessionPurge: `INSERT INTO session_purges (tenant_id, expired_before) VALUES (?, ?)
       ON CONFLICT (tenant_id) DO UPDATE SET expired_before = excluded.expired_before`,
  sessionsPurgedBefore: 'SELECT expired_before FROM session_purges WHERE tenant_id = ?',
  upsertResource: `INSERT INTO resources (tenant_id, type, id, attributes, extra, seq, created_at, modified_at)
       VALUES (@tenant_id, @type, @id, @attributes, @extra, @seq, @created_at, @modified_at)
       ON CONFLICT (tenant_id, type, id) DO UPDATE SET attributes = excluded.attributes, extra = excluded.extra,
         seq = excluded.seq, created_at = excluded.created_at, modified_at = excluded.modified_at`,
  deleteResource: 'DELETE FROM resources WHERE tenant_id = ? AND type = ? AND id = ?',
  addRelation: `INSERT OR IGNORE INTO relations
       (tenant_id, resource_type, resource_id, relation, subject_kind, subject_type, subject_id)
       VALUES (@tenant_id, @resource_type, @resource_id, @relation, @subject_kind, @subject_type, @subject_id)`,
  removeRelation: `DELETE FROM relations WHERE tenant_id = @tenant_id AND resource_type = @resource_type
       AND resource_id = @resource_id AND relation = @relation AND subject_kind = @subject_kind
       AND subject_type = @subject_type AND subject_id = @subject_id`,
  resourceRow: 'SELECT * FROM resources WHERE tenant_id = ? AND type = ? AND id = ?',
  resourcesAfter: 'SELECT * FROM resources WHERE tenant_id = ? AND type = ? AND id > ? ORDER BY id LIMIT ?',
  relationsOfResource: `SELECT * FROM relations WHERE tenant_id = ? AND resource_type = ? AND resource_id = ?
       ORDER BY relation, subject_kind, subject_type, subject_id LIMIT ?`,
  hasRelation: `SELECT 1 FROM relations WHERE tenant_id = @tenant_id AND resource_type = @resource_type
       AND resource_id = @resource_id AND relation = @relation AND subject_kind = @subject_kind
       AND subject_type = @subject_type AND subject_id = @subject_id`,
  relationCount: 'SELECT count(*) FROM relations WHERE tenant_id = ? AND resource_type = ? AND resource_id = ?',
  // Relations the user holds on the resource: directly, through a group of its, or on an ancestor
  // (the parent chain walked up at most @depth steps; UNION and the depth bound end any cycle). CROSS JOIN
  // fixes the join order: the chain drives, each step a primary-key range of one resource's relations.
  subjectRelations: `WITH RECURSIVE ${CHAIN}, ${HOLDERS}
       SELECT DISTINCT r.relation FROM chain c CROSS JOIN relations r CROSS JOIN holders h
        WHERE r.tenant_id = @tenant AND r.resource_type = c.type AND r.resource_id = c.id
          AND r.relation <> '${PARENT}' AND r.subject_kind = h.kind AND r.subject_type = '' AND r.subject_id = h.id
        ORDER BY r.relation`,
  // Resources of @resource_type on which the user holds @relation (any but parent when NULL): directly, through
  // a group, or inherited down the parent chain (at most @depth steps). Keyset paged by id.
  resourceIdsRelatedTo: `WITH RECURSIVE ${HOLDERS},
       granted(type, id, depth) AS (
         SELECT r.resource_type, r.resource_id, 0 FROM holders h CROSS JOIN relations r
          WHERE r.tenant_id = @tenant AND r.subject_kind = h.kind AND r.subject_type = '' AND r.subject_id = h.id
            AND r.relation <> '${PARENT}' AND (@relation IS NULL OR r.relation = @relation)
         UNION
         SELECT r.resource_type, r.resource_id, g.depth + 1 FROM granted g CROSS JOIN relations r
          WHERE r.tenant_id = @tenant AND r.subject_kind = 'resource' AND r.subject_type = g.type
            AND r.subject_id = g.id AND r.relation = '${PARENT}' AND g.depth < @depth
       )
       SELECT DISTINCT id FROM granted WHERE type = @resource_type AND id > @after ORDER BY id LIMIT @limit`,
  // Users holding any relation on the resource or an ancestor: named, or members of a group named. Paged by id.
  userIdsRelatedTo: `WITH RECURSIVE ${CHAIN},
       related(user_id) AS (
         SELECT r.subject_id FROM chain c CROSS JOIN relations r
          WHERE r.tenant_id = @tenant AND r.resource_type = c.type AND r.resource_id = c.id
            AND r.subject_kind = 'user' AND r.relation <> '${PARENT}'
         UNION
         SELECT m.user_id FROM chain c CROSS JOIN relations r CROSS JOIN memberships m
          WHERE r.tenant_id = @tenant AND r.resource_type = c.type AND r.resource_id = c.id
            AND r.subject_kind = 'group' AND r.relation <> '${PARENT}'
            AND m.tenant_id = @tenant AND m.group_id = r.subject_id
       )
       SELECT u.id FROM related CROSS JOIN users u
        WHERE u.tenant_id = @tenant AND u.id = related.user_id AND u.id > @after ORDER BY u.id LIMIT @limit`,
  relationsNaming: `SELECT * FROM relations WHERE tenant_id = ? AND subject_kind = ? AND subject_type = ? AND subject_id = ?
       ORDER BY relation, resource_type, resource_id LIMIT ?`,
  // The parents of a resource (the gateway's cycle and depth check walks up with it).
  parentsOf: `SELECT subject_type AS type, subject_id AS id FROM relations
       WHERE tenant_id = ? AND resource_type = ? AND resource_id = ? AND relation = '${PARENT}'
         AND subject_kind = 'resource' ORDER BY subject_type, subject_id`,
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
  'userIdsByIdpSubject',
  'userCount',
  'groupIdsByDisplayName',
  'groupCount',
  'membershipGroupIds',
  'userIdsByEmail',
  'userIdsByPhoneNumber',
  'postureState',
  'sessionsPurgedBefore',
  'relationCount',
  'subjectRelations',
  'resourceIdsRelatedTo',
  'userIdsRelatedTo',
]);

export type Statements = { readonly [K in keyof typeof SQL]: Statement };

export function prepareStatements(db: SqliteDatabase): Statements {
  const prepared: Partial<Record<keyof typeof SQL, Statement>> = {};
  for (const key of Object.keys(SQL) as (keyof typeof SQL)[]) {
    const statement = db.prepare(SQL[key]);
    prepared[key] = PLUCKED.has(key) ? statement.pluck() : statement;
  }
  return prepared as Statements;
}
