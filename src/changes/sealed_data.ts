import type { Change, SessionData, UserData } from './change.js';
import { ChangeRejectedError } from './errors.js';

/**
 * Personal data under a tenant's customer-managed key (docs/keys.md). The
 * producer seals a change's personal fields once, before it is published;
 * the stream and every store keep the sealed form as it came, and a reader
 * opens it only when it needs the plaintext (a Check, a SCIM read). So a
 * sidecar applies a tenant's changes without its keys, a revoked key makes
 * the data unreadable everywhere at once, and a replay gives the same store.
 *
 * What a store must still find a user by (userName, externalId, e-mails,
 * phone numbers) stays in the clear fields as keyed lookup hashes, folded as
 * the store compares them.
 */

/** A tenant's cipher (src/tenant_keys' TenantCipher), seen only as what sealing needs. */
export interface DataSealer {
  seal(plaintext: string, context: string): string;
  /** @throws when the value is not this tenant's, or was altered */
  open(sealed: string, context: string): string;
  lookup(value: string): string;
}

/**
 * A tenant's sealer: undefined for a tenant that keeps its data in clear.
 * Throws when the tenant has a key that cannot be used now (revoked, not loaded).
 */
export type SealerOf = (tenant: string) => DataSealer | undefined;

/** No tenant seals. */
export const CLEAR_DATA: SealerOf = () => undefined;

/** The personal fields of a user, sealed together. */
interface SealedUser {
  readonly user_name: string;
  readonly external_id: string | null;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** The personal fields of a session, sealed together. */
interface SealedSession {
  readonly ip: string | null;
}

/**
 * How a userName and an e-mail are compared, so their lookup hashes are folded alike: ASCII case only, as
 * the store's NOCASE comparison of clear values does.
 */
export function foldedName(value: string): string {
  return value.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * How phone numbers compare: `tel:+1 (206) 555-0100` and `+12065550100` are
 * the same number (RFC 3966 URIs and the usual separators are ignored).
 */
export function phoneNumberKey(value: string): string {
  return value
    .trim()
    .toLowerCase()
    .replaceAll('tel:', '')
    .replace(/[ ().-]/g, '');
}

/** The lookup hash of a userName. */
export function userNameLookup(sealer: DataSealer, userName: string): string {
  return sealer.lookup(`user_name:${foldedName(userName)}`);
}

/** The lookup hash of an externalId (compared exactly). */
export function externalIdLookup(sealer: DataSealer, externalId: string): string {
  return sealer.lookup(`external_id:${externalId}`);
}

/** The lookup hash of an e-mail address. */
export function emailLookup(sealer: DataSealer, email: string): string {
  return sealer.lookup(`email:${foldedName(email)}`);
}

/**
 * The lookup hash of a phone number, in the form the store's phone comparison
 * leaves as it is (the comparison folds the stored value again).
 */
export function phoneNumberLookup(sealer: DataSealer, phoneNumber: string): string {
  return phoneNumberKey(sealer.lookup(`phone_number:${phoneNumberKey(phoneNumber)}`));
}

/** The change as its tenant's sealer writes it: its personal fields sealed (the change itself if none apply). */
export function sealChange(change: Change, sealer: DataSealer | undefined): Change {
  if (sealer === undefined) return change;
  switch (change.kind) {
    case 'user.upsert':
    case 'user.deactivate':
      return { ...change, data: sealUserData(change.tenant, change.data, sealer) } as Change;
    case 'session.start':
    case 'session.revoke':
      return { ...change, data: sealSessionData(change.tenant, change.data, sealer) } as Change;
    case 'posture.set': {
      const { data } = change;
      if (data.sealed !== undefined) return change;
      const context = postureContext(change.tenant, data.kind, data.subject_id);
      return { ...change, data: { ...data, state: {}, sealed: sealer.seal(JSON.stringify(data.state), context) } };
    }
    default:
      return change;
  }
}

/**
 * A posture record's state as it was before sealing.
 *
 * @throws as {@link openUserData}
 */
export function openPostureState(
  tenant: string,
  kind: string,
  subjectId: string,
  sealed: string,
  sealerOf: SealerOf,
): Record<string, unknown> {
  const text = sealerFor(tenant, sealerOf).open(sealed, postureContext(tenant, kind, subjectId));
  return JSON.parse(text) as Record<string, unknown>;
}

/**
 * The change as it was before sealing (the change itself if it is not sealed).
 *
 * @throws as {@link openUserData}
 */
export function openChange(change: Change, sealerOf: SealerOf): Change {
  switch (change.kind) {
    case 'user.upsert':
    case 'user.deactivate':
      if (change.data.sealed === undefined) return change;
      return { ...change, data: openUserData(change.tenant, change.data, sealerOf) } as Change;
    case 'session.start':
    case 'session.revoke':
      if (change.data.sealed === undefined) return change;
      return { ...change, data: openSessionData(change.tenant, change.data, sealerOf) } as Change;
    case 'posture.set': {
      const { sealed, ...data } = change.data;
      if (sealed === undefined) return change;
      const state = openPostureState(change.tenant, data.kind, data.subject_id, sealed, sealerOf);
      return { ...change, data: { ...data, state } };
    }
    default:
      return change;
  }
}

/** A user's data with its personal fields sealed; already sealed data is returned as it is. */
export function sealUserData(tenant: string, data: UserData, sealer: DataSealer): UserData {
  if (data.sealed !== undefined) return data;
  const personal: SealedUser = {
    user_name: data.user_name,
    external_id: data.external_id,
    attributes: data.attributes,
    ...(data.extra === undefined ? {} : { extra: data.extra }),
  };
  const emails = lookupValues(data.attributes['emails'], (value) => emailLookup(sealer, value));
  const phoneNumbers = lookupValues(data.attributes['phoneNumbers'], (value) => phoneNumberLookup(sealer, value));
  const { extra: _extra, ...clear } = data;
  return {
    ...clear,
    user_name: userNameLookup(sealer, data.user_name),
    external_id: data.external_id === null ? null : externalIdLookup(sealer, data.external_id),
    attributes: {
      ...(emails.length === 0 ? {} : { emails }),
      ...(phoneNumbers.length === 0 ? {} : { phoneNumbers }),
    },
    sealed: sealer.seal(JSON.stringify(personal), userContext(tenant, data.id)),
  };
}

/**
 * A user's data as it was before sealing; clear data is returned as it is.
 *
 * @throws {ChangeRejectedError} `ERR_CHANGE_SEALED_WITHOUT_KEY` when it is sealed and the tenant has no key;
 *   whatever the sealer throws when the tenant's key cannot open it
 */
export function openUserData(tenant: string, data: UserData, sealerOf: SealerOf): UserData {
  if (data.sealed === undefined) return data;
  const personal = JSON.parse(
    sealerFor(tenant, sealerOf).open(data.sealed, userContext(tenant, data.id)),
  ) as SealedUser;
  const { sealed: _sealed, ...clear } = data;
  return {
    ...clear,
    user_name: personal.user_name,
    external_id: personal.external_id,
    attributes: personal.attributes,
    ...(personal.extra === undefined ? {} : { extra: personal.extra }),
  };
}

/** A session's data with its personal fields sealed. */
export function sealSessionData(tenant: string, data: SessionData, sealer: DataSealer): SessionData {
  if (data.sealed !== undefined || data.ip === null) return data;
  const personal: SealedSession = { ip: data.ip };
  return { ...data, ip: null, sealed: sealer.seal(JSON.stringify(personal), sessionContext(tenant, data.id)) };
}

/** A session's data as it was before sealing (see {@link openUserData}). */
export function openSessionData(tenant: string, data: SessionData, sealerOf: SealerOf): SessionData {
  if (data.sealed === undefined) return data;
  const personal = JSON.parse(
    sealerFor(tenant, sealerOf).open(data.sealed, sessionContext(tenant, data.id)),
  ) as SealedSession;
  const { sealed: _sealed, ...clear } = data;
  return { ...clear, ip: personal.ip };
}

function sealerFor(tenant: string, sealerOf: SealerOf): DataSealer {
  const sealer = sealerOf(tenant);
  if (sealer === undefined) {
    throw new ChangeRejectedError(
      'ERR_CHANGE_SEALED_WITHOUT_KEY',
      `${tenant}'s data is sealed, but the tenant has no customer-managed key to open it with`,
    );
  }
  return sealer;
}

/** `[{value: hash}]` for each `{value}` of a SCIM multi-valued attribute: what the store's lookups scan. */
function lookupValues(values: unknown, hash: (value: string) => string): { value: string }[] {
  if (!Array.isArray(values)) return [];
  const hashes: { value: string }[] = [];
  for (const entry of values as unknown[]) {
    const value = typeof entry === 'object' && entry !== null ? (entry as { value?: unknown }).value : undefined;
    if (typeof value === 'string') hashes.push({ value: hash(value) });
  }
  return hashes;
}

// A sealed value opens only for the entity it was sealed for: one user's profile cannot be swapped into another's.
const userContext = (tenant: string, id: string): string => `user:${tenant}:${id}`;
const sessionContext = (tenant: string, id: string): string => `session:${tenant}:${id}`;
const postureContext = (tenant: string, kind: string, subjectId: string): string =>
  `posture:${tenant}:${kind}:${subjectId}`;
