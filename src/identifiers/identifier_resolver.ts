import { DEFAULT_SUBJECT_TYPES } from '../config/index.js';
import type { SubjectTypeSettings, UserIdentifier } from '../config/index.js';
import type { DirectoryReader, EntitlementReader, UserRecord } from '../store/index.js';
import { recordIdentifierOf, resolveInOrder } from './user_identifier.js';
import type { UserResolution } from './user_identifier.js';

/** The store lookups resolution needs (the sidecar's and the gateway's store both answer them). */
export type IdentifierDirectory = Pick<
  DirectoryReader,
  | 'userIdsByUserName'
  | 'userIdsByEmail'
  | 'userIdsByPhoneNumber'
  | 'userIdsByExternalId'
  | 'userIdsByIdpSubject'
  | 'bindingsOfUser'
> &
  Pick<EntitlementReader, 'readSubject'>;

/**
 * The one place a user is found by the identifiers the outside world names it by: our id, userName,
 * e-mails, phone numbers, externalId, and the IdP binding (iss, sub). Every decision surface (gRPC Check,
 * AuthZEN, ext_authz through the Decider; SSF subjects) resolves through it, so a subject names the same
 * user everywhere. Lookups never leave the tenant.
 */
export class IdentifierResolver {
  readonly #directory: IdentifierDirectory;
  readonly #subjectTypes: ReadonlyMap<string, Readonly<Record<string, SubjectTypeSettings>>>;

  /** @param subjectTypes tenant id -> its subject types; a tenant not listed has {@link DEFAULT_SUBJECT_TYPES}. */
  constructor(
    directory: IdentifierDirectory,
    subjectTypes: ReadonlyMap<string, Readonly<Record<string, SubjectTypeSettings>>> = new Map(),
  ) {
    this.#directory = directory;
    this.#subjectTypes = subjectTypes;
  }

  /** What a subject type means in the tenant; undefined for a type it does not declare. */
  subjectType(tenantId: string, type: string): SubjectTypeSettings | undefined {
    const types = this.#subjectTypes.get(tenantId) ?? DEFAULT_SUBJECT_TYPES;
    return Object.hasOwn(types, type) ? types[type] : undefined;
  }

  /**
   * The user a subject of this type and id names; `unknown` too for a type the tenant does not declare.
   *
   * @param deviceId the request's device: our id is looked up as the Check then reads the subject (the same
   *   cached read), so the Check that follows finds it in memory
   */
  resolveSubject(tenantId: string, type: string, id: string, deviceId?: string): UserResolution {
    const settings = this.subjectType(tenantId, type);
    return settings === undefined ? { kind: 'unknown' } : this.resolve(tenantId, settings.identifiers, id, deviceId);
  }

  /** The user `value` names by the first of `identifiers` that names any (see {@link resolveInOrder}). */
  resolve(tenantId: string, identifiers: readonly UserIdentifier[], value: string, deviceId?: string): UserResolution {
    return resolveInOrder(identifiers, (by) => this.#lookup(tenantId, by, value, deviceId));
  }

  /** The user an IdP binding names: signed in at `issuer` as `subject`. */
  bound(tenantId: string, issuer: string, subject: string): string | undefined {
    return this.#directory.readSubject(tenantId, { kind: 'identity', issuer, subject }).slice?.user.id;
  }

  /**
   * How a user is named by `identifier` in answers (AuthZEN search results); undefined when the user has
   * no such identifier, or (the IdP binding) several.
   */
  identifierOf(user: UserRecord, identifier: UserIdentifier): string | undefined {
    if (identifier !== 'idp_subject') return recordIdentifierOf(user, identifier);
    const subjects = new Set(this.#directory.bindingsOfUser(user.tenantId, user.id).map((b) => b.subject));
    return subjects.size === 1 ? [...subjects][0] : undefined;
  }

  #lookup(tenantId: string, by: UserIdentifier, value: string, deviceId: string | undefined): readonly string[] {
    const d = this.#directory;
    switch (by) {
      case 'id':
        return d.readSubject(tenantId, { kind: 'user', userId: value }, deviceId).slice === undefined ? [] : [value];
      case 'user_name':
        return d.userIdsByUserName(tenantId, value);
      case 'email':
        return d.userIdsByEmail(tenantId, value);
      case 'phone_number':
        return d.userIdsByPhoneNumber(tenantId, value);
      case 'external_id':
        return d.userIdsByExternalId(tenantId, value);
      case 'idp_subject':
        return d.userIdsByIdpSubject(tenantId, value);
    }
  }
}
