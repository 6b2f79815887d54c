import type { RequestInput, StoredResourceInput, SubjectInput } from '../policy/index.js';
import { sessionDataOf, userDataOf } from '../store/index.js';
import type { RelationRecord, ResourceRecord, SessionRecord, SubjectSlice } from '../store/index.js';
import type { CheckedAction, CheckedResource, RequestContext } from './check_request.js';

/**
 * Maps a subject's slice onto the subject half of the policy `input` contract (policies/README.md): the
 * entities' change data (the one field mapping, store/records.ts) less what policies must not see.
 */
export function subjectInput(
  tenantId: string,
  now: number,
  slice: SubjectSlice,
  properties?: Readonly<Record<string, unknown>>,
): SubjectInput {
  const { session } = slice;
  // Stream bookkeeping and fields kept for newer producers are not the policy's.
  const { created_at: _created, extra: _extra, ...user } = userDataOf(slice.user);
  return {
    tenant: tenantId,
    now,
    subject: {
      ...user,
      groups: slice.groups.map((g) => ({ id: g.id, display_name: g.displayName, external_id: g.externalId ?? null })),
      ...(slice.reauthenticateAfter === undefined ? {} : { reauthenticate_after: slice.reauthenticateAfter }),
      ...(properties === undefined || Object.keys(properties).length === 0 ? {} : { properties }),
    },
    session: session === undefined ? null : sessionInput(session),
    posture: slice.posture,
  };
}

/** What a policy sees of a session: revoked or not, never why or the IdP's own session id. */
function sessionInput(session: SessionRecord): NonNullable<SubjectInput['session']> {
  const { id, issuer, acr, amr, auth_time, expires_at, ip, device_id } = sessionDataOf(session);
  return { id, issuer, acr, amr, auth_time, expires_at, revoked: session.revokedAt !== undefined, ip, device_id };
}

/** Maps one request onto the request half of the policy `input`, with what the store holds of its resource. */
export function requestInput(
  action: CheckedAction,
  resource: CheckedResource,
  context: RequestContext,
  stored?: StoredResourceInput,
): RequestInput {
  // The named members last: a field the caller sent cannot stand in for them, `stored` least of all.
  const { stored: _forged, ...fields } = resource.fields ?? {};
  return {
    action: { name: action.name, properties: action.properties },
    resource: {
      ...fields,
      type: resource.type,
      id: resource.id,
      properties: resource.properties,
      ...(stored === undefined ? {} : { stored }),
    },
    context: contextInput(context),
  };
}

/** `input.resource.stored` of a stored resource: its attributes, its relations, and the subject's on it. */
export function storedResourceInput(
  resource: ResourceRecord,
  relations: readonly RelationRecord[],
  subjectRelations: readonly string[],
): StoredResourceInput {
  return {
    attributes: resource.attributes,
    relations: relations.map((r) => ({
      relation: r.relation,
      subject: {
        kind: r.subject.kind,
        ...(r.subject.type === undefined ? {} : { type: r.subject.type }),
        id: r.subject.id,
      },
    })),
    subject_relations: subjectRelations,
  };
}

/** Free-form attributes first, so the named fields cannot be spoofed through them. */
function contextInput(context: RequestContext): Record<string, unknown> {
  const out: Record<string, unknown> = { ...context.attributes };
  if (context.ip !== undefined) out['ip'] = context.ip;
  if (context.userAgent !== undefined) out['user_agent'] = context.userAgent;
  if (context.deviceId !== undefined) out['device_id'] = context.deviceId;
  return out;
}

/** Item fields win over the request's; attributes merge key by key. */
export function mergeContext(base: RequestContext, item: RequestContext): RequestContext {
  return {
    ip: item.ip ?? base.ip,
    userAgent: item.userAgent ?? base.userAgent,
    deviceId: item.deviceId ?? base.deviceId,
    attributes: { ...base.attributes, ...item.attributes },
  };
}
