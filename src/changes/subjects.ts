import type { Change } from './change.js';
import { tenantSubjectToken } from '../tenant_id.js';

/** Stream of the entitlement state: one subject per entity, latest message kept. */
export const STATE_STREAM = 'IPSIE_STATE';
export const STATE_SUBJECT_PREFIX = 'ipsie.state';

/** Every subject of one tenant, for a consumer filter. */
export function tenantSubjects(tenantId: string): string {
  return `${STATE_SUBJECT_PREFIX}.${tenantId}.>`;
}

/** Every subject of the stream. */
export const ALL_STATE_SUBJECTS = `${STATE_SUBJECT_PREFIX}.>`;

/**
 * The subject a change is published on: its entity's. Two changes of the
 * same entity share a subject, so the stream keeps only the later one.
 */
export function subjectOf(change: Change): string {
  const base = `${STATE_SUBJECT_PREFIX}.${tenantSubjectToken(change.tenant)}`;
  switch (change.kind) {
    case 'tenant.upsert':
    case 'tenant.delete':
      return `${base}.tenant`;
    case 'user.upsert':
    case 'user.deactivate':
    case 'user.delete':
      return `${base}.user.${token(change.data.id)}`;
    case 'user.reauthenticate':
      return `${base}.reauth.${token(change.data.user_id)}`;
    case 'user.sessions_revoke':
      return `${base}.signout.${token(change.data.user_id)}`;
    case 'binding.upsert':
    case 'binding.delete':
      return `${base}.binding.${token(change.data.issuer)}.${token(change.data.subject)}`;
    case 'group.upsert':
    case 'group.delete':
      return `${base}.group.${token(change.data.id)}`;
    case 'member.add':
    case 'member.remove':
      return `${base}.member.${token(change.data.group_id)}.${token(change.data.user_id)}`;
    case 'session.start':
    case 'session.revoke':
      return `${base}.session.${token(change.data.id)}`;
    case 'token.revoke':
      return `${base}.token.${token(change.data.jti)}`;
    case 'sid.revoke':
      // Any IdP is the empty issuer, whose token is `~`.
      return `${base}.sid.${token(change.data.issuer ?? '')}.${token(change.data.sid)}`;
    case 'sessions.purge':
      // One per tenant: the latest purge (the highest cutoff) is the one kept.
      return `${base}.sessions_purge`;
    case 'posture.set':
    case 'posture.clear':
      return `${base}.posture.${change.data.kind}.${token(change.data.subject_id)}`;
    case 'resource.upsert':
    case 'resource.delete':
      return `${base}.resource.${token(change.data.type)}.${token(change.data.id)}`;
    case 'relation.add':
    case 'relation.remove': {
      const d = change.data;
      // A user or group subject has the empty type, whose token is `~`: every relation subject has 8 tokens.
      return `${base}.relation.${token(d.resource_type)}.${token(d.resource_id)}.${token(d.relation)}.${d.subject_kind}.${token(d.subject_type ?? '')}.${token(d.subject_id)}`;
    }
  }
}

const PLAIN_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * A value as one subject token. Plain ids pass as they are; anything else
 * (URLs, e-mail addresses, dots) becomes `~` + base64url, which no plain id
 * can start with, so the mapping stays one-to-one.
 */
export function token(value: string): string {
  return PLAIN_TOKEN.test(value) ? value : `~${Buffer.from(value, 'utf8').toString('base64url')}`;
}

/** The value {@link token} made `value` of, or undefined when it is not such a token. */
function untoken(value: string): string | undefined {
  if (PLAIN_TOKEN.test(value)) return value;
  if (!value.startsWith('~')) return undefined;
  const decoded = Buffer.from(value.slice(1), 'base64url').toString('utf8');
  return token(decoded) === value ? decoded : undefined;
}

/** The sid revocation whose subject this is, or undefined for any other subject. */
export function sidRevocationOfSubject(
  subject: string,
): { readonly tenant: string; readonly issuer: string | null; readonly sid: string } | undefined {
  const parts = subject.split('.');
  const prefix = STATE_SUBJECT_PREFIX.split('.');
  if (parts.length !== prefix.length + 4 || prefix.some((p, i) => parts[i] !== p)) return undefined;
  const [tenant, kind, issuerToken, sidToken] = parts.slice(prefix.length);
  if (tenant === undefined || kind !== 'sid' || issuerToken === undefined || sidToken === undefined) return undefined;
  const issuer = untoken(issuerToken);
  const sid = untoken(sidToken);
  if (issuer === undefined || sid === undefined) return undefined;
  return { tenant, issuer: issuer === '' ? null : issuer, sid };
}
