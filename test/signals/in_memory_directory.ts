/**
 * An in-memory stand-in for the narrow reads the SSF receiver makes of the
 * store (SubjectDirectory, EffectsDirectory): maps filled by the test, with
 * the store's documented comparison rules. userName and e-mail matches fold
 * ASCII case only, as SQLite's NOCASE does; phone numbers compare as
 * phoneNumberKey.
 */
import { phoneNumberKey } from '../../src/changes/index.js';
import type { PostureKind } from '../../src/changes/index.js';
import type { EffectsDirectory } from '../../src/signals/signal_effects.js';
import type { SubjectDirectory } from '../../src/signals/subject_resolver.js';
import type { IdentityBinding, SessionRecord, SubjectRead, SubjectRef, UserRecord } from '../../src/store/index.js';

const foldAscii = (value: string): string => value.replace(/[A-Z]/g, (c) => c.toLowerCase());

const key = (...parts: string[]): string => parts.join('\0');

export class InMemoryDirectory implements SubjectDirectory, EffectsDirectory {
  readonly #users = new Map<string, UserRecord>();
  readonly #sessions = new Map<string, SessionRecord>();
  readonly #bindings = new Map<string, IdentityBinding>();
  readonly #memberships = new Map<string, string[]>();
  readonly #postures = new Map<string, Record<string, unknown>>();
  readonly #signedOutBefore = new Map<string, number>();
  readonly #reauthenticateAfter = new Map<string, number>();

  addUser(user: UserRecord): this {
    this.#users.set(key(user.tenantId, user.id), user);
    return this;
  }

  addSession(session: SessionRecord): this {
    this.#sessions.set(key(session.tenantId, session.id), session);
    return this;
  }

  bind(binding: IdentityBinding): this {
    this.#bindings.set(key(binding.tenantId, binding.issuer, binding.subject), binding);
    return this;
  }

  addMembership(tenantId: string, userId: string, groupId: string): this {
    const k = key(tenantId, userId);
    this.#memberships.set(k, [...(this.#memberships.get(k) ?? []), groupId]);
    return this;
  }

  setPosture(tenantId: string, kind: PostureKind, subjectId: string, state: Record<string, unknown>): this {
    this.#postures.set(key(tenantId, kind, subjectId), state);
    return this;
  }

  signOut(tenantId: string, userId: string, before: number): this {
    this.#signedOutBefore.set(key(tenantId, userId), before);
    return this;
  }

  requireReauthentication(tenantId: string, userId: string, after: number): this {
    this.#reauthenticateAfter.set(key(tenantId, userId), after);
    return this;
  }

  user(tenantId: string, id: string): UserRecord | undefined {
    return this.#users.get(key(tenantId, id));
  }

  userIdsByUserName(tenantId: string, userName: string): string[] {
    return this.#usersOf(tenantId)
      .filter((u) => foldAscii(u.userName) === foldAscii(userName))
      .map((u) => u.id);
  }

  userIdsByExternalId(tenantId: string, externalId: string): string[] {
    return this.#usersOf(tenantId)
      .filter((u) => u.externalId === externalId)
      .map((u) => u.id);
  }

  userIdsByEmail(tenantId: string, email: string): string[] {
    const byUserName = this.userIdsByUserName(tenantId, email);
    if (byUserName.length > 0) return byUserName;
    return this.#usersOf(tenantId)
      .filter((u) => valuesOf(u, 'emails').some((v) => foldAscii(v) === foldAscii(email)))
      .map((u) => u.id);
  }

  userIdsByPhoneNumber(tenantId: string, phoneNumber: string): string[] {
    return this.#usersOf(tenantId)
      .filter((u) => valuesOf(u, 'phoneNumbers').some((v) => phoneNumberKey(v) === phoneNumberKey(phoneNumber)))
      .map((u) => u.id);
  }

  session(tenantId: string, id: string): SessionRecord | undefined {
    return this.#sessions.get(key(tenantId, id));
  }

  sessionsByIdpSessionId(tenantId: string, idpSessionId: string): SessionRecord[] {
    return [...this.#sessions.values()]
      .filter((s) => s.tenantId === tenantId && s.idpSessionId === idpSessionId)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  membershipGroupIds(tenantId: string, userId: string): string[] {
    return this.#memberships.get(key(tenantId, userId)) ?? [];
  }

  bindingsOfUser(tenantId: string, userId: string): IdentityBinding[] {
    return [...this.#bindings.values()].filter((b) => b.tenantId === tenantId && b.userId === userId);
  }

  userIdsByIdpSubject(tenantId: string, subject: string): string[] {
    const ids = [...this.#bindings.values()].filter((b) => b.tenantId === tenantId && b.subject === subject);
    return [...new Set(ids.map((b) => b.userId))].sort();
  }

  posture(tenantId: string, kind: PostureKind, subjectId: string): Record<string, unknown> | undefined {
    return this.#postures.get(key(tenantId, kind, subjectId));
  }

  /** The user half of a subject read: what the resolver and the effects use of it. */
  readSubject(tenantId: string, ref: SubjectRef): SubjectRead {
    let userId: string | undefined;
    if (ref.kind === 'user') userId = ref.userId;
    else if (ref.kind === 'identity') userId = this.#bindings.get(key(tenantId, ref.issuer, ref.subject))?.userId;
    else throw new TypeError('the in-memory directory reads users, not sessions');
    const user = userId === undefined ? undefined : this.user(tenantId, userId);
    if (user === undefined) return { sequence: 0, slice: undefined };
    return {
      sequence: 0,
      slice: {
        user,
        reauthenticateAfter: this.#reauthenticateAfter.get(key(tenantId, user.id)),
        signedOutBefore: this.#signedOutBefore.get(key(tenantId, user.id)),
        groups: [],
        session: undefined,
        posture: {},
      },
    };
  }

  #usersOf(tenantId: string): UserRecord[] {
    return [...this.#users.values()].filter((u) => u.tenantId === tenantId).sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}

/** The `value`s of a multi-valued SCIM attribute stored on the user (emails, phoneNumbers). */
function valuesOf(user: UserRecord, attribute: string): string[] {
  const values = user.attributes[attribute];
  if (!Array.isArray(values)) return [];
  return values
    .map((e: unknown) => (typeof e === 'object' && e !== null ? (e as Record<string, unknown>)['value'] : undefined))
    .filter((v): v is string => typeof v === 'string');
}
