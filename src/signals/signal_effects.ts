import { randomUUID } from 'node:crypto';
import { ChangeRejectedError, decodeChange, encodeChange, phoneNumberKey } from '../changes/index.js';
import type { Change, ChangeKind, ChangeOf, PostureKind, SidRevocationData } from '../changes/index.js';
import { DEFAULT_MAX_SESSION_LIFETIME_S } from '../config/index.js';
import type { IdentityProviderSettings } from '../config/index.js';
import { sessionDataOf, userDataOf } from '../store/index.js';
import type { DirectoryReader, EntitlementReader, SessionRecord, UserRecord } from '../store/index.js';
import { SetRefusedError } from './errors.js';
import { reasonText } from './security_event.js';
import type { SecurityEvent } from './security_event.js';
import type { ResolvedSubject } from './subject_resolver.js';

export type EffectsDirectory = Pick<
  DirectoryReader,
  'user' | 'userIdsByUserName' | 'membershipGroupIds' | 'bindingsOfUser' | 'posture'
> &
  Pick<EntitlementReader, 'readSubject'>;

export interface EffectsContext {
  readonly tenantId: string;
  readonly directory: EffectsDirectory;
  /** Unix s. */
  readonly now: number;
  /** When the SET was issued, Unix s: the event's time when it carries no `event_timestamp`. */
  readonly issuedAt: number;
  /** Tolerated clock difference with transmitters, in s: how far ahead of `now` an event's time may be. */
  readonly clockToleranceS: number;
  /** How long a token or session carrying a revoked IdP session id could still be valid, in s. */
  readonly sidRevocationS: number;
  /**
   * Filled with the stream sequence of the entity each whole-entity rewrite
   * was computed from, by change id: such a change must be stored only if
   * the entity is still at that sequence, or it would undo a concurrent write
   * (a SCIM deactivation, say).
   */
  readonly basis?: Map<string, number>;
}

/**
 * What a security event changes, as normalized changes (each carrying its
 * entity's whole state). Pure but for reads of the current state that a
 * change merges with. An event that needs a subject this tenant does not
 * have is refused, so the transmitter learns it was not applied.
 *
 * @throws {SetRefusedError} `invalid_request`
 */
export function signalEffects(event: SecurityEvent, subject: ResolvedSubject, context: EffectsContext): Change[] {
  const { tenantId, directory, now } = context;
  // An event cannot have happened after now: a time ahead (a skewed clock, milliseconds for seconds) counts as
  // now, so a sign-out or re-authentication it orders never outlives the sign-ins after it.
  const when = Math.min(event.eventTimestamp ?? context.issuedAt, now + context.clockToleranceS);
  const change = changeMaker(tenantId, now);
  /**
   * Whether the state this event would replace is from a later event: delivery
   * does not keep order (retries, polls, replicas), and an older state must not
   * overwrite a newer one (a device compliant again, an account enabled again).
   */
  const superseded = (kind: PostureKind, id: string, path: readonly string[]): boolean => {
    let value: unknown = directory.posture(tenantId, kind, id);
    for (const key of path) value = isRecord(value) ? value[key] : undefined;
    return typeof value === 'number' && value > when;
  };
  const user = (): string => {
    if (subject.userId === undefined) {
      throw new SetRefusedError('invalid_request', `sub_id names no user of this tenant (event ${event.type})`);
    }
    return subject.userId;
  };
  const posture = (kind: PostureKind, id: string, patch: Record<string, unknown>): Change =>
    change('posture.set', {
      kind,
      subject_id: id,
      state: { ...(directory.posture(tenantId, kind, id) ?? {}), ...patch },
    });
  const signOut = (userId: string, before: number, reason: string): Change =>
    signedOut(directory, tenantId, userId, before, reason, change);
  const rewrite = (current: UserRecord, userName: string, attributes: Readonly<Record<string, unknown>>): Change => {
    const rewritten = change(current.active ? 'user.upsert' : 'user.deactivate', {
      ...userDataOf(current),
      user_name: userName,
      attributes,
    });
    const sequence = current.version?.sequence ?? 0;
    if (sequence > 0) context.basis?.set(rewritten.id, sequence);
    return rewritten;
  };
  const reauthenticate = (userId: string, after: number): Change => {
    const current = directory.readSubject(tenantId, { kind: 'user', userId }).slice?.reauthenticateAfter;
    return change('user.reauthenticate', { user_id: userId, after: Math.max(after, current ?? 0) });
  };

  switch (event.type) {
    case 'session-revoked':
    case 'sessions-revoked': {
      const reason = reasonText(event, 'session revoked by the identity provider');
      const named = subject.sessions.length > 0 || subject.idpSessionId !== undefined;
      if (!named) return [signOut(user(), when, reason)];
      const changes = revokedSessions(subject.sessions, now, reason, change);
      const sid = subject.idpSessionId;
      // Tokens carry the IdP's `sid`, and sessions may start from it later: a record of the sid revokes them too.
      if (sid !== undefined)
        changes.push(change('sid.revoke', sidRevocation(null, sid, now, context.sidRevocationS, reason)));
      return changes;
    }
    case 'token-claims-change': {
      const changes: Change[] = [];
      if (subject.token !== undefined) {
        // The token no longer says what is true of its subject: stop accepting it.
        changes.push(
          change('token.revoke', {
            jti: subject.token.jti,
            user_id: subject.userId ?? null,
            revoked_at: now,
            expires_at: null,
          }),
        );
      }
      if (subject.userId !== undefined) {
        const previous = directory.posture(tenantId, 'claims', subject.userId)?.['claims'];
        changes.push(
          posture('claims', subject.userId, {
            claims: { ...(isRecord(previous) ? previous : {}), ...event.claims },
            changed_at: when,
          }),
        );
      }
      if (changes.length === 0) user();
      return changes;
    }
    case 'credential-change': {
      const userId = user();
      const changes = [
        posture('credential', userId, {
          last_change: { credential_type: event.credentialType, change_type: event.changeType, at: when },
        }),
      ];
      // A credential revoked, deleted or replaced may be what the sessions were authenticated with.
      if (event.changeType !== 'create') changes.push(reauthenticate(userId, when));
      return changes;
    }
    case 'assurance-level-change': {
      const userId = user();
      if (superseded('assurance', userId, [event.namespace, 'at'])) return [];
      const decreased = event.changeDirection === 'decrease';
      const previous = directory.posture(tenantId, 'assurance', userId)?.['decreased_at'];
      return [
        posture('assurance', userId, {
          [event.namespace]: {
            current_level: event.currentLevel,
            previous_level: event.previousLevel ?? null,
            change_direction: event.changeDirection ?? null,
            at: when,
          },
          // Sessions authenticated before the latest decrease step up: never move that time back.
          ...(decreased ? { decreased_at: Math.max(when, typeof previous === 'number' ? previous : 0) } : {}),
        }),
      ];
    }
    case 'device-compliance-change': {
      const deviceId = subject.deviceId;
      if (deviceId === undefined) {
        throw new SetRefusedError('invalid_request', 'device-compliance-change needs a sub_id with a device');
      }
      if (superseded('device', deviceId, ['changed_at'])) return [];
      return [
        posture('device', deviceId, {
          compliant: event.currentStatus === 'compliant',
          status: event.currentStatus,
          changed_at: when,
        }),
      ];
    }
    case 'risk-level-change': {
      const level = { level: event.currentLevel, previous_level: event.previousLevel ?? null, at: when };
      if (event.principal === 'DEVICE') {
        if (subject.deviceId === undefined) {
          throw new SetRefusedError('invalid_request', 'a DEVICE risk-level-change needs a sub_id with a device');
        }
        if (superseded('device', subject.deviceId, ['risk', 'at'])) return [];
        return [posture('device', subject.deviceId, { risk: level })];
      }
      if (event.principal !== 'USER' && event.principal !== 'SESSION') return [];
      const userId = user();
      if (superseded('risk', userId, ['at'])) return [];
      return [posture('risk', userId, { ...level, principal: event.principal, reason: event.riskReason ?? null })];
    }
    case 'account-disabled': {
      const userId = user();
      // Enabled again since: the sessions signed in after that are the re-enabled account's.
      if (superseded('account', userId, ['at'])) return [];
      const reason = event.reason ?? reasonText(event, 'account disabled by the identity provider');
      return [
        posture('account', userId, { disabled: true, reason, at: when }),
        signOut(userId, now, `account disabled: ${reason}`),
      ];
    }
    case 'account-enabled': {
      const userId = user();
      if (superseded('account', userId, ['at'])) return [];
      return [posture('account', userId, { disabled: false, reason: null, at: when })];
    }
    case 'account-purged':
      return deletion(user(), directory, tenantId, change);
    case 'account-credential-change-required':
      return [posture('credential', user(), { change_required: true, change_required_at: when })];
    case 'credential-compromise': {
      const userId = user();
      return [
        posture('credential', userId, { compromised: { credential_type: event.credentialType, at: when } }),
        // Whoever holds the credential may hold sessions: end all of them.
        signOut(userId, now, `credential compromised (${event.credentialType})`),
      ];
    }
    case 'identifier-changed':
      return renamed(user(), event.newValue, subject, directory, tenantId, rewrite);
    case 'identifier-recycled': {
      const email = subject.oldIdentifier;
      const phone = subject.oldPhoneNumber;
      const identifier =
        email !== undefined
          ? { attribute: 'emails' as const, same: (a: string): boolean => a.toLowerCase() === email.toLowerCase() }
          : phone !== undefined
            ? {
                attribute: 'phoneNumbers' as const,
                same: (a: string): boolean => phoneNumberKey(a) === phoneNumberKey(phone),
              }
            : undefined;
      if (identifier === undefined) {
        throw new SetRefusedError(
          'invalid_request',
          'identifier-recycled must name the recycled e-mail address or phone number',
        );
      }
      return released(user(), identifier, directory, tenantId, rewrite);
    }
    case 'session-established':
    case 'session-presented':
    case 'verification':
    case 'stream-updated':
    case 'unsupported':
      return [];
  }
}

/**
 * The changes, each checked as every consumer will decode it. One that a
 * consumer would reject (an id longer than the store takes) would be lost
 * after the transmitter was told it was applied: the event is refused instead.
 *
 * @throws {SetRefusedError} `invalid_request`
 */
export function applicable(changes: Change[]): Change[] {
  for (const change of changes) {
    try {
      decodeChange(encodeChange(change));
    } catch (error) {
      if (!(error instanceof ChangeRejectedError)) throw error;
      throw new SetRefusedError('invalid_request', `the event cannot be applied here: ${error.message}`, {
        cause: error,
      });
    }
  }
  return changes;
}

/** RISC account-purged: the account is gone at the IdP, so it goes here, with what pointed at it. */
function deletion(
  userId: string,
  directory: EffectsDirectory,
  tenantId: string,
  change: <K extends ChangeKind>(kind: K, data: ChangeOf<K>['data']) => Change,
): Change[] {
  return [
    change('user.delete', { id: userId }),
    ...directory
      .membershipGroupIds(tenantId, userId)
      .map((groupId) => change('member.remove', { group_id: groupId, user_id: userId })),
    ...directory
      .bindingsOfUser(tenantId, userId)
      .map((b) => change('binding.delete', { issuer: b.issuer, subject: b.subject })),
  ];
}

/** RISC identifier-changed: the old e-mail identified the user; the new one replaces it. */
function renamed(
  userId: string,
  newValue: string | undefined,
  subject: ResolvedSubject,
  directory: EffectsDirectory,
  tenantId: string,
  rewrite: UserRewrite,
): Change[] {
  const current = directory.user(tenantId, userId);
  if (current === undefined || newValue === undefined) return [];
  const old = subject.oldIdentifier;
  if (old === undefined) return [];
  const same = (a: string): boolean => a.toLowerCase() === old.toLowerCase();
  const userName = same(current.userName) ? newValue : current.userName;
  if (userName !== current.userName && directory.userIdsByUserName(tenantId, userName).some((id) => id !== userId)) {
    throw new SetRefusedError('invalid_request', 'another user of this tenant already has the new userName');
  }
  const emails = current.attributes['emails'];
  const attributes = Array.isArray(emails)
    ? {
        ...current.attributes,
        emails: emails.map((e: unknown) =>
          isRecord(e) && typeof e['value'] === 'string' && same(e['value']) ? { ...e, value: newValue } : e,
        ),
      }
    : current.attributes;
  return [rewrite(current, userName, attributes)];
}

/**
 * RISC identifier-recycled: the e-mail address (or phone number) is
 * someone else's now. It is taken off the old user — out of `emails` (or
 * `phoneNumbers`), and a userName that is it becomes
 * `recycled:<user id>:<identifier>` (unique, never an address) — so nothing
 * that finds users by it (SSF subjects, sign-in linking, SCIM filters,
 * JIT's userName check) reaches the old user again, and its new owner can be
 * provisioned with it.
 */
function released(
  userId: string,
  identifier: { readonly attribute: 'emails' | 'phoneNumbers'; readonly same: (value: string) => boolean },
  directory: EffectsDirectory,
  tenantId: string,
  rewrite: UserRewrite,
): Change[] {
  const current = directory.user(tenantId, userId);
  if (current === undefined) return [];
  const { attribute, same } = identifier;
  const userName = same(current.userName) ? `recycled:${current.id}:${current.userName}` : current.userName;
  const values = current.attributes[attribute];
  const attributes = Array.isArray(values)
    ? {
        ...current.attributes,
        [attribute]: values.filter(
          (e: unknown) => !(isRecord(e) && typeof e['value'] === 'string' && same(e['value'])),
        ),
      }
    : current.attributes;
  return [rewrite(current, userName, attributes)];
}

/** The whole user as it was read, with a new userName and attributes: the change to publish. */
type UserRewrite = (current: UserRecord, userName: string, attributes: Readonly<Record<string, unknown>>) => Change;

/** Makes changes of one tenant, accepted at `now` (Unix s). */
export function changeMaker(
  tenantId: string,
  now: number,
): <K extends ChangeKind>(kind: K, data: ChangeOf<K>['data']) => Change {
  return (kind, data) =>
    ({ v: 1, id: randomUUID(), tenant: tenantId, at: now * 1000, kind, data }) as unknown as Change;
}

/** Signs the user out of every session authenticated at or before `before` (never moving an earlier sign-out back). */
export function signedOut(
  directory: Pick<EffectsDirectory, 'readSubject'>,
  tenantId: string,
  userId: string,
  before: number,
  reason: string,
  change: <K extends ChangeKind>(kind: K, data: ChangeOf<K>['data']) => Change,
): Change {
  const current = directory.readSubject(tenantId, { kind: 'user', userId }).slice?.signedOutBefore;
  return change('user.sessions_revoke', { user_id: userId, before: Math.max(before, current ?? 0), reason });
}

/** `session.revoke` of each stored session not revoked yet. */
export function revokedSessions(
  sessions: readonly SessionRecord[],
  now: number,
  reason: string,
  change: <K extends ChangeKind>(kind: K, data: ChangeOf<K>['data']) => Change,
): Change[] {
  return sessions
    .filter((s) => s.revokedAt === undefined)
    .map((s) => change('session.revoke', { ...sessionDataOf(s), revoked_at: now, revoke_reason: reason }));
}

/** The revocation of an IdP session id, kept as long as a token or session carrying it could be valid. */
export function sidRevocation(
  issuer: string | null,
  sid: string,
  now: number,
  lifetimeS: number,
  reason: string,
): SidRevocationData {
  return { issuer, sid, revoked_at: now, expires_at: now + lifetimeS, reason };
}

/**
 * How long a sid revocation must last, in s: every token and session
 * authenticated before it has expired by then. Sessions end at most
 * `max_lifetime_s` after authentication (IPSIE SL1, also for tokens), and an
 * `iat` may be up to the clock tolerance ahead. Without IdPs: the default
 * maximum session lifetime.
 */
export function sidRevocationLifetimeS(
  idps: readonly Pick<IdentityProviderSettings, 'maxSessionLifetimeS'>[],
  clockToleranceS: number,
): number {
  const longest =
    idps.length === 0 ? DEFAULT_MAX_SESSION_LIFETIME_S : Math.max(...idps.map((i) => i.maxSessionLifetimeS));
  return Math.ceil(longest) + clockToleranceS;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
