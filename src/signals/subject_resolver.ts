import type { TransmitterSettings, UserIdentifier } from '../config/index.js';
import { IdentifierResolver } from '../identifiers/index.js';
import type { IdentifierDirectory } from '../identifiers/index.js';
import type { DirectoryReader, SessionRecord } from '../store/index.js';
import { SetRefusedError } from './errors.js';
import type { ComplexSubject, MemberSubject, SimpleSubject, SubjectIdentifier } from './subject_identifier.js';

/** What a `sub_id` names in one tenant's store. */
export interface ResolvedSubject {
  /** The internal user, when the subject names one of this tenant. */
  readonly userId: string | undefined;
  /** Stored sessions the subject names, by our id or by the IdP's `sid` (revoked ones included). */
  readonly sessions: readonly SessionRecord[];
  /** The IdP session id named (tokens carry it as `sid`); undefined when the subject names our own session id. */
  readonly idpSessionId: string | undefined;
  readonly deviceId: string | undefined;
  /** A token named by `jwt_id`. */
  readonly token: { readonly iss: string; readonly jti: string } | undefined;
  /** The id of an `opaque` top-level subject (verification events name their stream with it). */
  readonly opaqueId: string | undefined;
  /** The e-mail address the user was named by (RISC identifier-changed names the old one). */
  readonly oldIdentifier: string | undefined;
  /** The phone number the user was named by (RISC identifier-recycled may name one). */
  readonly oldPhoneNumber?: string | undefined;
}

export type SubjectDirectory = IdentifierDirectory & Pick<DirectoryReader, 'session' | 'sessionsByIdpSessionId'>;

/**
 * Maps a subject identifier to the users, sessions and devices of one
 * tenant. Lookups never leave the tenant, so a subject of another tenant is
 * simply unknown here. Users are found by the {@link IdentifierResolver}
 * every decision surface uses, so a subject names the same user here as in a Check.
 */
export class SubjectResolver {
  readonly #directory: SubjectDirectory;
  readonly #users: IdentifierResolver;

  constructor(directory: SubjectDirectory) {
    this.#directory = directory;
    this.#users = new IdentifierResolver(directory);
  }

  /**
   * @param critical members the transmitter marks critical (SSF §3.6): an event naming one this receiver
   *   cannot process is refused; the others are processed as far as they can be (SSF §3.5)
   * @throws {SetRefusedError} `invalid_request` (ambiguous, contradictory, unsupported or critical and not
   *   understood), `access_denied` (a `tenant` member that is not this customer)
   */
  resolve(
    tenantId: string,
    subject: SubjectIdentifier,
    transmitter: TransmitterSettings,
    critical: readonly string[] = [],
  ): ResolvedSubject {
    switch (subject.format) {
      case 'complex':
        return this.#complex(tenantId, subject, transmitter, critical);
      case 'aliases':
        // RFC 9493 §3.2.8: every alias names the same subject; what each names here must agree.
        return merged(
          subject.identifiers.map((i) => this.#lookup(tenantId, i)),
          'sub_id',
        );
      default:
        if (!NAMES_USERS.has(subject.format) && subject.format !== 'jwt_id') {
          throw new SetRefusedError('invalid_request', `sub_id: format ${subject.format} cannot name a user here`);
        }
        return this.#lookup(tenantId, subject);
    }
  }

  #complex(
    tenantId: string,
    subject: ComplexSubject,
    transmitter: TransmitterSettings,
    critical: readonly string[],
  ): ResolvedSubject {
    const { members } = subject;
    for (const name of subject.names) {
      if (critical.includes(name) && !processes(name, subject, transmitter)) {
        throw new SetRefusedError('invalid_request', `sub_id.${name} is critical and this receiver cannot process it`);
      }
    }
    if (transmitter.tenantSubject !== undefined && subject.names.includes('tenant')) {
      // The guard against another customer's event: a tenant that cannot be read cannot be shown to be this one.
      const tenant = members.tenant;
      if (tenant === undefined || !identifiersOf(tenant).some((t) => valueOf(t) === transmitter.tenantSubject)) {
        throw new SetRefusedError(
          'access_denied',
          tenant === undefined
            ? 'sub_id.tenant cannot be read, so it is not known to be this customer'
            : 'sub_id.tenant names another customer of this transmitter',
        );
      }
    }
    let userId = members.user === undefined ? undefined : this.#memberUser(tenantId, members.user);
    let sessions: SessionRecord[] = [];
    let idpSessionId: string | undefined;
    const sessionIds =
      members.session === undefined
        ? []
        : identifiersOf(members.session).flatMap((s) => (s.format === 'opaque' ? [s.id] : []));
    for (const id of sessionIds) {
      const found = this.#sessions(tenantId, id);
      sessions = unionById(sessions, found.sessions);
      idpSessionId ??= found.idpSessionId;
    }
    if (sessionIds.length > 0) {
      const owners = new Set(sessions.map((s) => s.userId));
      if (userId !== undefined && sessions.length > 0 && !owners.has(userId)) {
        throw new SetRefusedError('invalid_request', 'sub_id.session and sub_id.user name different users');
      }
      sessions = userId === undefined ? sessions : sessions.filter((s) => s.userId === userId);
      if (userId === undefined && owners.size === 1) userId = [...owners][0];
    }
    const user = members.user === undefined ? [] : identifiersOf(members.user);
    return {
      userId,
      sessions,
      idpSessionId,
      deviceId: members.device === undefined ? undefined : deviceIdOf(members.device),
      token: undefined,
      opaqueId: undefined,
      oldIdentifier: first(user, emailOf),
      oldPhoneNumber: first(user, (s) => (s.format === 'phone_number' ? s.phoneNumber : undefined)),
    };
  }

  /** The user a complex subject's `user` member names; a format that names no user is passed over. */
  #memberUser(tenantId: string, member: MemberSubject): string | undefined {
    return merged(
      identifiersOf(member).map((i) => ({ ...NONE, userId: this.#user(tenantId, i) })),
      'sub_id.user',
    ).userId;
  }

  /** What one simple identifier names here; nothing for a format that cannot name anything of ours. */
  #lookup(tenantId: string, subject: SimpleSubject): ResolvedSubject {
    switch (subject.format) {
      case 'jwt_id':
        return { ...NONE, token: { iss: subject.iss, jti: subject.jti } };
      case 'opaque': {
        // CAEP names sessions this way; otherwise it may be a user id, or a stream id (verification).
        const { sessions, idpSessionId } = this.#sessions(tenantId, subject.id);
        // Sessions of several users (an id that is ours and another's sid, or two IdPs' sids) name none of them.
        const owners = new Set(sessions.map((s) => s.userId));
        const owner = sessions.length > 0 ? soleOwner(owners) : this.#userByOpaque(tenantId, subject.id);
        return {
          ...NONE,
          userId: owner,
          sessions,
          // Naming neither a session nor a user, it is an IdP session this store has not seen (yet).
          idpSessionId: sessions.length > 0 || owner === undefined ? idpSessionId : undefined,
          opaqueId: subject.id,
        };
      }
      default:
        return {
          ...NONE,
          userId: this.#user(tenantId, subject),
          oldIdentifier: emailOf(subject),
          oldPhoneNumber: subject.format === 'phone_number' ? subject.phoneNumber : undefined,
        };
    }
  }

  /** The user an identifier names; undefined when none (or the format names no user). */
  #user(tenantId: string, subject: SimpleSubject): string | undefined {
    switch (subject.format) {
      case 'email':
        return this.#unique(tenantId, ['email'], subject.email);
      case 'account':
        return this.#unique(tenantId, ['email'], subject.uri.replace(/^acct:/, ''));
      case 'phone_number':
        return this.#unique(tenantId, ['phone_number'], subject.phoneNumber);
      case 'iss_sub':
        return this.#users.bound(tenantId, subject.iss, subject.sub);
      case 'opaque':
        return this.#userByOpaque(tenantId, subject.id);
      default:
        return undefined;
    }
  }

  #userByOpaque(tenantId: string, id: string): string | undefined {
    return this.#unique(tenantId, ['id', 'external_id'], id);
  }

  /**
   * The stored sessions an id names: ours by that id, and every one started
   * from the IdP session of that id. Both, always: a revoked record must
   * never hide a live session with the same sid.
   */
  #sessions(tenantId: string, id: string): { sessions: SessionRecord[]; idpSessionId: string | undefined } {
    const own = this.#directory.session(tenantId, id);
    const bySid = this.#directory.sessionsByIdpSessionId(tenantId, id);
    const sessions = own === undefined || bySid.some((s) => s.id === own.id) ? bySid : [own, ...bySid];
    return { sessions, idpSessionId: own === undefined || bySid.length > 0 ? id : undefined };
  }

  /** The one user `value` names; several are refused: acting on the wrong user is worse than on none. */
  #unique(tenantId: string, identifiers: readonly UserIdentifier[], value: string): string | undefined {
    const resolution = this.#users.resolve(tenantId, identifiers, value);
    if (resolution.kind === 'ambiguous') {
      throw new SetRefusedError('invalid_request', `the subject matches ${resolution.count} users of this tenant`);
    }
    return resolution.kind === 'found' ? resolution.userId : undefined;
  }
}

/** The user all these sessions belong to; undefined when there are none or several. */
function soleOwner(owners: ReadonlySet<string>): string | undefined {
  return owners.size === 1 ? [...owners][0] : undefined;
}

/** Formats that name a user of ours (by an identifier SCIM or sign-in stores). */
const NAMES_USERS: ReadonlySet<string> = new Set(['email', 'account', 'phone_number', 'iss_sub', 'opaque']);

const NONE: ResolvedSubject = {
  userId: undefined,
  sessions: [],
  idpSessionId: undefined,
  deviceId: undefined,
  token: undefined,
  opaqueId: undefined,
  oldIdentifier: undefined,
};

/**
 * What several names of one subject name together. They describe one
 * principal, so two different users are a contradiction, refused: acting on
 * either would sign one out without cause or leave the other signed in.
 */
function merged(parts: readonly ResolvedSubject[], where: string): ResolvedSubject {
  const users = new Set(parts.flatMap((p) => (p.userId === undefined ? [] : [p.userId])));
  if (users.size > 1) throw new SetRefusedError('invalid_request', `${where}: its identifiers name different users`);
  const pick = <T>(get: (p: ResolvedSubject) => T | undefined): T | undefined => first(parts, get);
  return {
    userId: [...users][0],
    sessions: parts.reduce<SessionRecord[]>((all, p) => unionById(all, p.sessions), []),
    idpSessionId: pick((p) => p.idpSessionId),
    deviceId: pick((p) => p.deviceId),
    token: pick((p) => p.token),
    opaqueId: pick((p) => p.opaqueId),
    oldIdentifier: pick((p) => p.oldIdentifier),
    oldPhoneNumber: pick((p) => p.oldPhoneNumber),
  };
}

/** Whether this receiver acts on a complex subject's member (SSF §3.6: a critical one it does not is refused). */
function processes(name: string, subject: ComplexSubject, transmitter: TransmitterSettings): boolean {
  const { members } = subject;
  switch (name) {
    case 'user':
      return members.user !== undefined && identifiersOf(members.user).some((i) => NAMES_USERS.has(i.format));
    case 'session':
      return members.session !== undefined && identifiersOf(members.session).some((i) => i.format === 'opaque');
    case 'device':
      return members.device !== undefined && deviceIdOf(members.device) !== undefined;
    case 'tenant':
      // Compared with the customer's id at the transmitter, when one is configured.
      return members.tenant !== undefined && transmitter.tenantSubject !== undefined;
    default:
      return false;
  }
}

function identifiersOf(member: MemberSubject): readonly SimpleSubject[] {
  return member.format === 'aliases' ? member.identifiers : [member];
}

function first<T, R>(items: readonly T[], get: (item: T) => R | undefined): R | undefined {
  for (const item of items) {
    const value = get(item);
    if (value !== undefined) return value;
  }
  return undefined;
}

function unionById(a: readonly SessionRecord[], b: readonly SessionRecord[]): SessionRecord[] {
  return [...a, ...b.filter((s) => !a.some((t) => t.id === s.id))];
}

function emailOf(subject: SimpleSubject): string | undefined {
  if (subject.format === 'email') return subject.email;
  if (subject.format === 'account') return subject.uri.replace(/^acct:/, '');
  return undefined;
}

/** The device a member names: its identifier's value (an IP address, a token or an assertion names no device). */
function deviceIdOf(member: MemberSubject): string | undefined {
  return first(identifiersOf(member), (s) =>
    s.format === 'ip-addresses' || s.format === 'jwt_id' || s.format === 'saml_assertion_id' ? undefined : valueOf(s),
  );
}

/** The identifying value of a simple subject, for devices and tenants. */
function valueOf(subject: SimpleSubject): string {
  switch (subject.format) {
    case 'email':
      return subject.email;
    case 'iss_sub':
      return subject.sub;
    case 'opaque':
      return subject.id;
    case 'account':
    case 'uri':
      return subject.uri;
    case 'did':
      return subject.url;
    case 'phone_number':
      return subject.phoneNumber;
    case 'jwt_id':
      return subject.jti;
    case 'saml_assertion_id':
      return subject.assertionId;
    case 'ip-addresses':
      return subject.addresses.join(' ');
  }
}
