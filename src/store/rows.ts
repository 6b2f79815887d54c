import type { GroupRecord, SessionRecord, UserRecord } from './records.js';

/**
 * One row<->record converter per stored entity: the row types as SQLite
 * returns them, and the named parameters each upsert binds.
 */

export interface UserRow {
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

export interface GroupRow {
  tenant_id: string;
  id: string;
  display_name: string;
  external_id: string | null;
  extra: string;
  seq: number;
  created_at: number;
  modified_at: number;
}

export interface SessionRow {
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

export function userFromRow(row: UserRow): UserRecord {
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

export function groupFromRow(row: GroupRow): GroupRecord {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    displayName: row.display_name,
    externalId: row.external_id ?? undefined,
    extra: JSON.parse(row.extra) as Record<string, unknown>,
    version: { sequence: row.seq, createdAt: row.created_at, modifiedAt: row.modified_at },
  };
}

export function sessionFromRow(row: SessionRow): SessionRecord {
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

/** A user as the row {@link userFromRow} reads back. */
export function userRowOf(user: UserRecord): UserRow {
  return {
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
  };
}

/** A group as the row {@link groupFromRow} reads back. */
export function groupRowOf(group: GroupRecord): GroupRow {
  return {
    tenant_id: group.tenantId,
    id: group.id,
    display_name: group.displayName,
    external_id: group.externalId ?? null,
    extra: JSON.stringify(group.extra ?? {}),
    seq: group.version?.sequence ?? 0,
    created_at: group.version?.createdAt ?? 0,
    modified_at: group.version?.modifiedAt ?? 0,
  };
}

/** A session as the row {@link sessionFromRow} reads back. */
export function sessionRowOf(session: SessionRecord): SessionRow {
  return {
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
  };
}
