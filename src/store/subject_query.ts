import { USER_POSTURE_KINDS } from '../changes/index.js';
import type { PostureKind } from '../changes/index.js';
import type { GroupRef, SubjectRead, SubjectRef, SubjectSlice } from './records.js';
import { sessionFromRow, userFromRow } from './rows.js';
import type { SessionRow, UserRow } from './rows.js';
import { POSTURE_STATE_SQL } from './statements.js';

const USER_POSTURE_SQL = USER_POSTURE_KINDS.map((k) => `'${k}'`).join(', ');

/** A session row of the subject query's outer join when the subject has no session. */
type NoSessionRow = { readonly [K in keyof SessionRow]: null };

/** The subject query's own columns: the aggregates and the session's effective revocation. */
interface SubjectAggregates {
  readonly tenant_known: number;
  readonly sequence: number;
  readonly reauthenticate_after: number | null;
  /** JSON array of `[id, display_name, external_id]`, ordered by name. */
  readonly groups_json: string;
  /** JSON object of user posture by kind. */
  readonly posture_json: string;
  readonly device_json: string | null;
  /** The session's own revocation, else the user's sign-out that covers it. */
  readonly session_revoked_at: number | null;
  readonly session_revoke_reason: string | null;
  readonly signed_out_before: number | null;
  /** JSON `[revoked_at, reason]` of the sid revocation the session or token names. */
  readonly sid_revoked_json: string | null;
}

/**
 * One row of a subject query, read in better-sqlite3's `expand` mode: the
 * user's and the session's columns by table, so the entity converters of
 * rows.ts read them. SQLite files a scalar subquery's column under the table
 * it reads (`$` for expressions), so the aggregates are spread over the rest;
 * an aggregate must therefore not be a bare column of `users` or `sessions`.
 */
export type SubjectRow = {
  readonly users: UserRow;
  readonly sessions: SessionRow | NoSessionRow;
} & Readonly<Record<string, Partial<SubjectAggregates>>>;

/** The aggregates of a row, from whichever namespace SQLite filed each under. */
function aggregatesOf(row: SubjectRow): SubjectAggregates {
  const aggregates: Partial<SubjectAggregates> = {};
  for (const [table, columns] of Object.entries(row)) {
    if (table !== 'users' && table !== 'sessions') Object.assign(aggregates, columns);
  }
  return aggregates as SubjectAggregates;
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
           u.*,
           (SELECT r.after FROM reauthentications r WHERE r.tenant_id = u.tenant_id AND r.user_id = u.id)
             AS reauthenticate_after,
           (SELECT json_group_array(json_array(g.id, g.display_name, g.external_id))
              FROM (SELECT g.id, g.display_name, g.external_id
                      FROM memberships m JOIN groups g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
                     WHERE m.tenant_id = u.tenant_id AND m.user_id = u.id
                     ORDER BY g.display_name, g.id) g) AS groups_json,
           (SELECT json_group_object(p.kind, json(${POSTURE_STATE_SQL('p')})) FROM posture p
             WHERE p.tenant_id = u.tenant_id AND p.subject_id = u.id AND p.kind IN (${USER_POSTURE_SQL})) AS posture_json,
           (SELECT ${POSTURE_STATE_SQL('p')} FROM posture p
             WHERE p.tenant_id = u.tenant_id AND p.kind = 'device' AND p.subject_id = coalesce(@device, s.device_id))
             AS device_json,
           s.*,
           coalesce(s.revoked_at, so.before) AS session_revoked_at,
           CASE WHEN s.revoked_at IS NOT NULL THEN s.revoke_reason ELSE so.reason END AS session_revoke_reason,
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

/** The subject query for each way a Check names its subject (run in `expand` mode). */
export const SUBJECT_QUERIES: Readonly<Record<SubjectRef['kind'], string>> = {
  // No session: a primary-key lookup that matches nothing (\`ON 0\` would walk the sessions index).
  user: subjectQuery(
    'FROM users u LEFT JOIN sessions s ON s.tenant_id = u.tenant_id AND s.id = NULL',
    'u.tenant_id = @tenant AND u.id = @key',
  ),
  session: subjectQuery(
    'FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.id = s.user_id',
    's.tenant_id = @tenant AND s.id = @key',
  ),
  identity: subjectQuery(
    `FROM identity_bindings b JOIN users u ON u.tenant_id = b.tenant_id AND u.id = b.user_id
     LEFT JOIN sessions s ON s.tenant_id = b.tenant_id AND s.id = @session AND s.user_id = u.id`,
    'b.tenant_id = @tenant AND b.issuer = @issuer AND b.subject = @key',
  ),
};

/** The named parameters of a subject query. */
export function subjectParams(
  tenantId: string,
  ref: SubjectRef,
  deviceId: string | undefined,
): Record<'tenant' | 'key' | 'issuer' | 'session' | 'device', string | null> {
  return {
    tenant: tenantId,
    key: ref.kind === 'user' ? ref.userId : ref.kind === 'session' ? ref.sessionId : ref.subject,
    issuer: ref.kind === 'identity' ? ref.issuer : null,
    session: ref.kind === 'identity' ? (ref.sessionId ?? null) : null,
    device: deviceId ?? null,
  };
}

/**
 * The read a subject query's row gives; `undefined` when the subject's tenant
 * is unknown (the caller tells an unknown tenant from an unknown subject).
 */
export function subjectReadOfRow(row: SubjectRow): SubjectRead | undefined {
  const aggregates = aggregatesOf(row);
  if (aggregates.tenant_known === 0) return undefined;
  return { sequence: aggregates.sequence, slice: sliceOf(row, aggregates) };
}

function sliceOf(row: SubjectRow, aggregates: SubjectAggregates): SubjectSlice {
  const posture = JSON.parse(aggregates.posture_json) as Partial<Record<PostureKind, Record<string, unknown>>>;
  if (aggregates.device_json !== null) posture.device = JSON.parse(aggregates.device_json) as Record<string, unknown>;
  const sidRevoked =
    aggregates.sid_revoked_json === null ? undefined : (JSON.parse(aggregates.sid_revoked_json) as [number, string]);
  const idpSessionRevoked = sidRevoked === undefined ? undefined : { revokedAt: sidRevoked[0], reason: sidRevoked[1] };
  // A session whose IdP session was revoked is revoked, whatever its own record says.
  const revokedAt = aggregates.session_revoked_at ?? idpSessionRevoked?.revokedAt;
  const revokeReason =
    aggregates.session_revoked_at !== null ? aggregates.session_revoke_reason : idpSessionRevoked?.reason;
  return {
    user: userFromRow(row.users),
    reauthenticateAfter: aggregates.reauthenticate_after ?? undefined,
    signedOutBefore: aggregates.signed_out_before ?? undefined,
    groups: (JSON.parse(aggregates.groups_json) as [string, string, string | null][]).map(
      ([id, displayName, externalId]): GroupRef => ({ id, displayName, externalId: externalId ?? undefined }),
    ),
    session:
      row.sessions.id === null
        ? undefined
        : { ...sessionFromRow(row.sessions), revokedAt, revokeReason: revokeReason ?? undefined },
    idpSessionRevoked,
    posture,
  };
}
