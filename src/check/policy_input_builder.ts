import type { RequestInput, SubjectInput } from '../policy/index.js';
import type { SubjectSlice } from '../store/index.js';
import type { CheckedAction, CheckedResource, RequestContext } from './check_request.js';

/** Maps a subject's slice onto the subject half of the policy `input` contract (policies/README.md). */
export function subjectInput(
  tenantId: string,
  now: number,
  slice: SubjectSlice,
  properties?: Readonly<Record<string, unknown>>,
): SubjectInput {
  const { user, session } = slice;
  return {
    tenant: tenantId,
    now,
    subject: {
      id: user.id,
      user_name: user.userName,
      external_id: user.externalId ?? null,
      active: user.active,
      attributes: user.attributes,
      roles: user.roles,
      groups: slice.groups.map((g) => ({ id: g.id, display_name: g.displayName, external_id: g.externalId ?? null })),
      ...(slice.reauthenticateAfter === undefined ? {} : { reauthenticate_after: slice.reauthenticateAfter }),
      ...(properties === undefined || Object.keys(properties).length === 0 ? {} : { properties }),
    },
    session:
      session === undefined
        ? null
        : {
            id: session.id,
            issuer: session.issuer,
            acr: session.acr ?? null,
            amr: session.amr,
            auth_time: session.authTime ?? null,
            expires_at: session.expiresAt,
            revoked: session.revokedAt !== undefined,
            ip: session.ip ?? null,
            device_id: session.deviceId ?? null,
          },
    posture: slice.posture,
  };
}

/** Maps one request onto the request half of the policy `input`. */
export function requestInput(action: CheckedAction, resource: CheckedResource, context: RequestContext): RequestInput {
  return {
    action: { name: action.name, properties: action.properties },
    // The named members last: a field the caller sent cannot stand in for them.
    resource: { ...resource.fields, type: resource.type, id: resource.id, properties: resource.properties },
    context: contextInput(context),
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
