import { ChangeRejectedError, sidRevocationOfSubject } from '../changes/index.js';
import type { Change, SessionEvent, SessionEventKind } from '../changes/index.js';
import { groupOf, relationOf, resourceOf, sessionOf, userOf } from '../store/index.js';
import type { EntitlementWriter } from '../store/index.js';

/**
 * Applies one validated change to the store, touching only the entity the
 * change is about. Runs inside the caller's transaction. Returns the session
 * events the change causes, judged against the state before it.
 */
export function applyChange(store: EntitlementWriter, change: Change, sequence: number): SessionEvent[] {
  const tenantId = change.tenant;
  const event = (kind: SessionEventKind, userId: string, reason: string, sessionId?: string): SessionEvent =>
    sessionEvent(change, sequence, kind, userId, reason, sessionId);
  switch (change.kind) {
    case 'tenant.upsert':
      store.upsertTenant({ id: tenantId, displayName: change.data.display_name });
      return [];
    case 'tenant.delete':
      store.deleteTenant(tenantId);
      return [];
    case 'user.upsert':
    case 'user.deactivate': {
      const { data } = change;
      const wasActive = store.userActive(tenantId, data.id);
      store.upsertUser(
        userOf(tenantId, data, { sequence, createdAt: data.created_at ?? change.at, modifiedAt: change.at }),
      );
      return wasActive === true && !data.active
        ? [event('user_deactivated', data.id, 'the account was deactivated')]
        : [];
    }
    case 'user.delete': {
      const existed = store.userActive(tenantId, change.data.id) !== undefined;
      store.deleteUser(tenantId, change.data.id);
      return existed ? [event('user_deleted', change.data.id, 'the account was deleted')] : [];
    }
    case 'user.reauthenticate':
      store.setReauthentication(tenantId, change.data.user_id, change.data.after);
      return [event('reauthentication_required', change.data.user_id, 're-authentication was requested')];
    case 'user.sessions_revoke':
      store.setSignout(tenantId, change.data.user_id, change.data.before, change.data.reason);
      return [event('user_sessions_revoked', change.data.user_id, change.data.reason)];
    case 'binding.upsert':
      store.bindIdentity({
        tenantId,
        issuer: change.data.issuer,
        subject: change.data.subject,
        userId: change.data.user_id,
      });
      return [];
    case 'binding.delete':
      store.unbindIdentity(tenantId, change.data.issuer, change.data.subject);
      return [];
    case 'group.upsert':
      store.upsertGroup(
        groupOf(tenantId, change.data, {
          sequence,
          createdAt: change.data.created_at ?? change.at,
          modifiedAt: change.at,
        }),
      );
      return [];
    case 'group.delete':
      store.deleteGroup(tenantId, change.data.id);
      return [];
    case 'member.add':
      store.addMember(tenantId, change.data.group_id, change.data.user_id);
      return [];
    case 'member.remove':
      store.removeMember(tenantId, change.data.group_id, change.data.user_id);
      return [];
    case 'session.start':
    case 'session.revoke': {
      const { data } = change;
      const wasRevoked = store.sessionRevoked(tenantId, data.id);
      store.upsertSession(sessionOf(tenantId, data));
      return data.revoked_at !== null && wasRevoked !== true
        ? [event('session_revoked', data.user_id, data.revoke_reason ?? 'the session was revoked', data.id)]
        : [];
    }
    case 'token.revoke':
      store.revokeToken({
        tenantId,
        jti: change.data.jti,
        userId: change.data.user_id ?? undefined,
        revokedAt: change.data.revoked_at,
        expiresAt: change.data.expires_at ?? undefined,
      });
      return [];
    case 'sid.revoke':
      store.revokeSid({
        tenantId,
        issuer: change.data.issuer ?? undefined,
        sid: change.data.sid,
        revokedAt: change.data.revoked_at,
        expiresAt: change.data.expires_at,
        reason: change.data.reason,
      });
      return [];
    case 'sessions.purge':
      store.purgeSessions(tenantId, change.data.expired_before);
      return [];
    case 'posture.set':
      store.setPosture({
        tenantId,
        kind: change.data.kind,
        subjectId: change.data.subject_id,
        state: change.data.state,
        updatedAt: Math.floor(change.at / 1000),
        ...(change.data.sealed === undefined ? {} : { sealed: change.data.sealed }),
      });
      return [];
    case 'posture.clear':
      store.clearPosture(tenantId, change.data.kind, change.data.subject_id);
      return [];
    case 'resource.upsert':
      store.upsertResource(
        resourceOf(tenantId, change.data, { sequence, createdAt: change.at, modifiedAt: change.at }),
      );
      return [];
    case 'resource.delete':
      store.deleteResource(tenantId, change.data.type, change.data.id);
      return [];
    case 'relation.add':
      store.addRelation(relationOf(tenantId, change.data));
      return [];
    case 'relation.remove':
      store.removeRelation(relationOf(tenantId, change.data));
      return [];
  }
}

/**
 * Applies a JetStream delete marker: the stream removed the entity's last
 * message when its TTL ran out (`retentionOf`), so the entity goes.
 *
 * @throws {ChangeRejectedError} `ERR_CHANGE_SUBJECT_MISMATCH`: no entity of this subject expires
 */
export function applyExpiry(store: EntitlementWriter, subject: string): void {
  const expired = sidRevocationOfSubject(subject);
  if (expired === undefined) {
    throw new ChangeRejectedError('ERR_CHANGE_SUBJECT_MISMATCH', `a delete marker on ${subject}, which never expires`);
  }
  store.forgetRevokedSid(expired.tenant, expired.issuer ?? undefined, expired.sid);
}

function sessionEvent(
  change: Change,
  sequence: number,
  kind: SessionEventKind,
  userId: string,
  reason: string,
  sessionId: string | undefined,
): SessionEvent {
  return { kind, tenantId: change.tenant, userId, sessionId, reason, sequence, at: change.at };
}
