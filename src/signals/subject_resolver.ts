import type { TransmitterSettings } from '../config/index.js';
import type { DirectoryReader, EntitlementReader, SessionRecord } from '../store/index.js';
import { SetRefusedError } from './errors.js';
import type { ComplexMember, SimpleSubject, SubjectIdentifier } from './subject_identifier.js';

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

export type SubjectDirectory = Pick<
  DirectoryReader,
  'user' | 'userIdsByEmail' | 'userIdsByPhoneNumber' | 'userIdsByExternalId' | 'session' | 'sessionsByIdpSessionId'
> &
  Pick<EntitlementReader, 'readSubject'>;

const HANDLED_MEMBERS: readonly ComplexMember[] = ['user', 'session', 'device', 'tenant'];

/**
 * Maps a subject identifier to the users, sessions and devices of one
 * tenant. Lookups never leave the tenant, so a subject of another tenant is
 * simply unknown here.
 */
export class SubjectResolver {
  readonly #directory: SubjectDirectory;

  constructor(directory: SubjectDirectory) {
    this.#directory = directory;
  }

  /**
   * @param critical members the transmitter marks critical (SSF §3.6): an event naming one this receiver
   *   cannot process is refused
   * @throws {SetRefusedError} `invalid_request` (ambiguous, inconsistent or unsupported subject),
   *   `access_denied` (a `tenant` member naming another customer)
   */
  resolve(
    tenantId: string,
    subject: SubjectIdentifier,
    transmitter: TransmitterSettings,
    critical: readonly string[] = [],
  ): ResolvedSubject {
    if (subject.format !== 'complex') return this.#simple(tenantId, subject);
    const { members } = subject;
    for (const name of Object.keys(members)) {
      if (critical.includes(name) && !HANDLED_MEMBERS.includes(name as ComplexMember)) {
        throw new SetRefusedError('invalid_request', `sub_id.${name} is critical and this receiver cannot process it`);
      }
    }
    if (members.tenant !== undefined && transmitter.tenantSubject !== undefined) {
      if (simpleValue(members.tenant) !== transmitter.tenantSubject) {
        throw new SetRefusedError('access_denied', 'sub_id.tenant names another customer of this transmitter');
      }
    }
    let userId = members.user === undefined ? undefined : this.#user(tenantId, members.user, 'sub_id.user');
    let sessions: SessionRecord[] = [];
    let idpSessionId: string | undefined;
    if (members.session !== undefined) {
      if (members.session.format !== 'opaque') {
        throw new SetRefusedError('invalid_request', 'sub_id.session must be an opaque session id');
      }
      ({ sessions, idpSessionId } = this.#sessions(tenantId, members.session.id));
      const owners = new Set(sessions.map((s) => s.userId));
      if (userId !== undefined && sessions.length > 0 && !owners.has(userId)) {
        throw new SetRefusedError('invalid_request', 'sub_id.session and sub_id.user name different users');
      }
      sessions = userId === undefined ? sessions : sessions.filter((s) => s.userId === userId);
      if (userId === undefined && owners.size === 1) userId = [...owners][0];
    }
    return {
      userId,
      sessions,
      idpSessionId,
      deviceId: members.device === undefined ? undefined : simpleValue(members.device),
      token: undefined,
      opaqueId: undefined,
      oldIdentifier: members.user === undefined ? undefined : emailOf(members.user),
      oldPhoneNumber: members.user?.format === 'phone_number' ? members.user.phoneNumber : undefined,
    };
  }

  #simple(tenantId: string, subject: SimpleSubject): ResolvedSubject {
    const none = {
      userId: undefined,
      sessions: [],
      idpSessionId: undefined,
      deviceId: undefined,
      token: undefined,
      opaqueId: undefined,
      oldIdentifier: undefined,
    };
    switch (subject.format) {
      case 'jwt_id':
        return { ...none, token: { iss: subject.iss, jti: subject.jti } };
      case 'opaque': {
        // CAEP names sessions this way; otherwise it may be a user id, or a stream id (verification).
        const { sessions, idpSessionId } = this.#sessions(tenantId, subject.id);
        // Sessions of several users (an id that is ours and another's sid, or two IdPs' sids) name none of them.
        const owners = new Set(sessions.map((s) => s.userId));
        const owner = sessions.length > 0 ? soleOwner(owners) : this.#userByOpaque(tenantId, subject.id);
        return {
          ...none,
          userId: owner,
          sessions,
          // Naming neither a session nor a user, it is an IdP session this store has not seen (yet).
          idpSessionId: sessions.length > 0 || owner === undefined ? idpSessionId : undefined,
          opaqueId: subject.id,
        };
      }
      default:
        return {
          ...none,
          userId: this.#user(tenantId, subject, 'sub_id'),
          oldIdentifier: emailOf(subject),
          oldPhoneNumber: subject.format === 'phone_number' ? subject.phoneNumber : undefined,
        };
    }
  }

  #user(tenantId: string, subject: SimpleSubject, where: string): string | undefined {
    switch (subject.format) {
      case 'email':
        return this.#unique(this.#directory.userIdsByEmail(tenantId, subject.email), where);
      case 'account':
        return this.#unique(this.#directory.userIdsByEmail(tenantId, subject.uri.replace(/^acct:/, '')), where);
      case 'phone_number':
        return this.#unique(this.#directory.userIdsByPhoneNumber(tenantId, subject.phoneNumber), where);
      case 'iss_sub':
        return this.#directory.readSubject(tenantId, { kind: 'identity', issuer: subject.iss, subject: subject.sub })
          .slice?.user.id;
      case 'opaque':
        return this.#userByOpaque(tenantId, subject.id);
      default:
        throw new SetRefusedError('invalid_request', `${where}: format ${subject.format} cannot name a user here`);
    }
  }

  #userByOpaque(tenantId: string, id: string): string | undefined {
    if (this.#directory.user(tenantId, id) !== undefined) return id;
    return this.#unique(this.#directory.userIdsByExternalId(tenantId, id), 'sub_id');
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

  #unique(ids: readonly string[], where: string): string | undefined {
    if (ids.length > 1) {
      throw new SetRefusedError('invalid_request', `${where} matches ${ids.length} users of this tenant`);
    }
    return ids[0];
  }
}

/** The user all these sessions belong to; undefined when there are none or several. */
function soleOwner(owners: ReadonlySet<string>): string | undefined {
  return owners.size === 1 ? [...owners][0] : undefined;
}

function emailOf(subject: SimpleSubject): string | undefined {
  if (subject.format === 'email') return subject.email;
  if (subject.format === 'account') return subject.uri.replace(/^acct:/, '');
  return undefined;
}

/** The identifying value of a simple subject, for devices and tenants. */
function simpleValue(subject: SimpleSubject): string {
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
  }
}
