import type { UserIdentifier } from '../config/index.js';
import type { UserRecord } from '../store/index.js';

/** Which user an identifier names in one tenant. */
export type UserResolution =
  | { readonly kind: 'found'; readonly userId: string; readonly by: UserIdentifier }
  | { readonly kind: 'unknown' }
  /** Several users hold it: none is picked (acting on the wrong one is worse than acting on none). */
  | { readonly kind: 'ambiguous'; readonly by: UserIdentifier; readonly count: number };

/**
 * Tries `identifiers` in order: the first that names any user decides. One user is found; several are
 * ambiguous, never narrowed to one of them.
 */
export function resolveInOrder(
  identifiers: readonly UserIdentifier[],
  lookup: (by: UserIdentifier) => readonly string[],
): UserResolution {
  for (const by of identifiers) {
    const ids = [...new Set(lookup(by))];
    const [only] = ids;
    if (ids.length === 1 && only !== undefined) return { kind: 'found', userId: only, by };
    if (ids.length > 1) return { kind: 'ambiguous', by, count: ids.length };
  }
  return { kind: 'unknown' };
}

/**
 * The value of an identifier the user's record holds: the primary (else the first) e-mail or phone number.
 * `idp_subject` is not in the record (see {@link IdentifierResolver.identifierOf}).
 */
export function recordIdentifierOf(
  user: UserRecord,
  identifier: Exclude<UserIdentifier, 'idp_subject'>,
): string | undefined {
  switch (identifier) {
    case 'id':
      return user.id;
    case 'user_name':
      return user.userName;
    case 'external_id':
      return user.externalId;
    case 'email':
      return multiValued(user.attributes['emails']);
    case 'phone_number':
      return multiValued(user.attributes['phoneNumbers']);
  }
}

/** A SCIM multi-valued attribute's primary value, else its first. */
function multiValued(list: unknown): string | undefined {
  if (!Array.isArray(list)) return undefined;
  const values = list.filter(
    (v): v is { value: string; primary?: unknown } =>
      typeof v === 'object' && v !== null && typeof (v as { value?: unknown }).value === 'string',
  );
  return (values.find((v) => v.primary === true) ?? values[0])?.value;
}
