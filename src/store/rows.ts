import {
  groupDataOf,
  groupOf,
  relationDataOf,
  relationOf,
  resourceDataOf,
  resourceOf,
  sessionDataOf,
  sessionOf,
  userDataOf,
  userOf,
} from './records.js';
import type {
  EntityVersion,
  GroupRecord,
  RelationRecord,
  ResourceRecord,
  SessionRecord,
  UserRecord,
} from './records.js';
import type { RelationSubjectKind } from '../changes/index.js';

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
  sealed: string | null;
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
  sealed: string | null;
}

/*
 * A row holds an entity's change data under the same names: each converter
 * says only how storage differs (JSON text columns, 0/1 for booleans, the
 * version columns, the tenant) and leaves the fields to the wire converters
 * in records.ts, so a field is mapped in one place.
 */

export function userFromRow(row: UserRow): UserRecord {
  return userOf(
    row.tenant_id,
    {
      ...row,
      active: row.active === 1,
      attributes: JSON.parse(row.attributes) as Record<string, unknown>,
      roles: JSON.parse(row.roles) as string[],
      extra: JSON.parse(row.extra) as Record<string, unknown>,
      sealed: row.sealed ?? undefined,
    },
    versionOf(row),
  );
}

export function groupFromRow(row: GroupRow): GroupRecord {
  return groupOf(row.tenant_id, { ...row, extra: JSON.parse(row.extra) as Record<string, unknown> }, versionOf(row));
}

export function sessionFromRow(row: SessionRow): SessionRecord {
  return sessionOf(row.tenant_id, {
    ...row,
    amr: JSON.parse(row.amr) as string[],
    idp_session_id: row.idp_session_id ?? undefined,
    extra: JSON.parse(row.extra) as Record<string, unknown>,
    sealed: row.sealed ?? undefined,
  });
}

/** A user as the row {@link userFromRow} reads back. */
export function userRowOf(user: UserRecord): UserRow {
  return {
    tenant_id: user.tenantId,
    ...userDataOf(user),
    active: user.active ? 1 : 0,
    attributes: JSON.stringify(user.attributes),
    roles: JSON.stringify(user.roles),
    extra: JSON.stringify(user.extra ?? {}),
    sealed: user.sealed ?? null,
    ...versionColumns(user.version),
  };
}

/** A group as the row {@link groupFromRow} reads back. */
export function groupRowOf(group: GroupRecord): GroupRow {
  return {
    tenant_id: group.tenantId,
    ...groupDataOf(group),
    extra: JSON.stringify(group.extra ?? {}),
    ...versionColumns(group.version),
  };
}

/** A session as the row {@link sessionFromRow} reads back. */
export function sessionRowOf(session: SessionRecord): SessionRow {
  return {
    tenant_id: session.tenantId,
    ...sessionDataOf(session),
    amr: JSON.stringify(session.amr),
    idp_session_id: session.idpSessionId ?? null,
    extra: JSON.stringify(session.extra ?? {}),
    sealed: session.sealed ?? null,
  };
}

export interface ResourceRow {
  tenant_id: string;
  type: string;
  id: string;
  attributes: string;
  extra: string;
  seq: number;
  created_at: number;
  modified_at: number;
}

/** A relation row: a user or group subject has the empty `subject_type` (a key column cannot be NULL). */
export interface RelationRow {
  tenant_id: string;
  resource_type: string;
  resource_id: string;
  relation: string;
  subject_kind: RelationSubjectKind;
  subject_type: string;
  subject_id: string;
}

export function resourceFromRow(row: ResourceRow): ResourceRecord {
  return resourceOf(
    row.tenant_id,
    {
      ...row,
      attributes: JSON.parse(row.attributes) as Record<string, unknown>,
      extra: JSON.parse(row.extra) as Record<string, unknown>,
    },
    versionOf(row),
  );
}

/** A resource as the row {@link resourceFromRow} reads back. */
export function resourceRowOf(resource: ResourceRecord): ResourceRow {
  return {
    tenant_id: resource.tenantId,
    ...resourceDataOf(resource),
    attributes: JSON.stringify(resource.attributes),
    extra: JSON.stringify(resource.extra ?? {}),
    ...versionColumns(resource.version),
  };
}

export function relationFromRow(row: RelationRow): RelationRecord {
  return relationOf(row.tenant_id, { ...row, subject_type: row.subject_type === '' ? null : row.subject_type });
}

/** A relation as the row {@link relationFromRow} reads back. */
export function relationRowOf(relation: RelationRecord): RelationRow {
  const data = relationDataOf(relation);
  return { tenant_id: relation.tenantId, ...data, subject_type: data.subject_type ?? '' };
}

function versionOf(row: { seq: number; created_at: number; modified_at: number }): EntityVersion {
  return { sequence: row.seq, createdAt: row.created_at, modifiedAt: row.modified_at };
}

function versionColumns(version: EntityVersion | undefined): { seq: number; created_at: number; modified_at: number } {
  return { seq: version?.sequence ?? 0, created_at: version?.createdAt ?? 0, modified_at: version?.modifiedAt ?? 0 };
}
