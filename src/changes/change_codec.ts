import { isTenantId, TENANT_ID_RULE } from '../tenant_id.js';
import { CHANGE_KINDS, CHANGE_VERSION, POSTURE_KINDS } from './change.js';
import type { Change, ChangeKind, GroupData, PostureKind, SessionData, UserData } from './change.js';
import { ChangeRejectedError } from './errors.js';

const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });
const UTF8_ENCODER = new TextEncoder();
const KINDS: ReadonlySet<string> = new Set(CHANGE_KINDS);
const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(['v', 'id', 'kind', 'tenant', 'at', 'data']);
/** Ids, names and keys are bounded so one message cannot bloat every store. */
const MAX_ID = 256;
const MAX_TEXT = 4096;

/** Serializes a change for publishing. */
export function encodeChange(change: Change): Uint8Array {
  const { extra, data, ...known } = change;
  const { extra: dataExtra, ...dataKnown } = data as { extra?: Record<string, unknown> };
  // Kept unknown fields go back where they came from, known fields win.
  return UTF8_ENCODER.encode(JSON.stringify({ ...extra, ...known, data: { ...dataExtra, ...dataKnown } }));
}

/**
 * Parses and validates one message. Known fields are type-checked; unknown
 * fields are kept in `extra`; anything wrong rejects the whole change.
 *
 * @throws {ChangeRejectedError} `ERR_CHANGE_MALFORMED` (not UTF-8 JSON object),
 *   `ERR_CHANGE_VERSION_UNSUPPORTED`, `ERR_CHANGE_KIND_UNKNOWN`, `ERR_CHANGE_INVALID` (names the field)
 */
export function decodeChange(bytes: Uint8Array): Change {
  let parsed: unknown;
  try {
    parsed = JSON.parse(UTF8_DECODER.decode(bytes));
  } catch {
    throw new ChangeRejectedError('ERR_CHANGE_MALFORMED', 'the message is not UTF-8 JSON');
  }
  if (!isObject(parsed)) throw new ChangeRejectedError('ERR_CHANGE_MALFORMED', 'the message is not a JSON object');
  const v = parsed['v'];
  if (v !== CHANGE_VERSION) {
    if (typeof v === 'number' && Number.isInteger(v) && v > CHANGE_VERSION) {
      throw new ChangeRejectedError(
        'ERR_CHANGE_VERSION_UNSUPPORTED',
        `change version ${v} is newer than ${CHANGE_VERSION}`,
        'v',
      );
    }
    throw invalid('v', `must be ${CHANGE_VERSION}`);
  }
  const kind = parsed['kind'];
  if (typeof kind !== 'string') throw invalid('kind', 'must be a string');
  if (!KINDS.has(kind)) {
    throw new ChangeRejectedError('ERR_CHANGE_KIND_UNKNOWN', `unknown change kind "${kind.slice(0, 64)}"`, 'kind');
  }
  const id = parsed['id'];
  if (typeof id !== 'string' || id === '' || id.length > MAX_ID)
    throw invalid('id', `must be a non-empty string of at most ${MAX_ID} characters`);
  const tenant = parsed['tenant'];
  if (!isTenantId(tenant)) throw invalid('tenant', `must be ${TENANT_ID_RULE}`);
  const at = parsed['at'];
  if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) {
    throw invalid('at', 'must be a non-negative integer (Unix ms)');
  }
  const data = parsed['data'];
  if (!isObject(data)) throw invalid('data', 'must be an object');

  const decoded = decodeData(kind as ChangeKind, new Fields(data));
  const extra = extraOf(parsed, ENVELOPE_FIELDS);
  const change = { v: CHANGE_VERSION, id, tenant, at, kind: decoded.kind, data: decoded.data };
  return (extra === undefined ? change : { ...change, extra }) as Change;
}

/** The `kind` and validated `data` of a change. */
function decodeData(kind: ChangeKind, f: Fields): { kind: ChangeKind; data: object } {
  switch (kind) {
    case 'tenant.upsert':
      return { kind, data: { display_name: f.text('display_name', MAX_TEXT) } };
    case 'tenant.delete':
      return { kind, data: {} };
    case 'user.upsert':
    case 'user.deactivate': {
      const data = userData(f);
      if (kind === 'user.deactivate' && data.active) throw invalid('data.active', 'must be false for user.deactivate');
      return { kind, data };
    }
    case 'user.delete':
    case 'group.delete':
      return { kind, data: { id: f.id('id') } };
    case 'user.reauthenticate':
      return { kind, data: { user_id: f.id('user_id'), after: f.seconds('after') } };
    case 'user.sessions_revoke':
      return {
        kind,
        data: { user_id: f.id('user_id'), before: f.seconds('before'), reason: f.text('reason', MAX_TEXT) },
      };
    case 'binding.upsert':
      return { kind, data: { issuer: f.text('issuer', MAX_TEXT), subject: f.id('subject'), user_id: f.id('user_id') } };
    case 'binding.delete':
      return { kind, data: { issuer: f.text('issuer', MAX_TEXT), subject: f.id('subject') } };
    case 'group.upsert':
      return { kind, data: groupData(f) };
    case 'member.add':
    case 'member.remove':
      return { kind, data: { group_id: f.id('group_id'), user_id: f.id('user_id') } };
    case 'session.start':
    case 'session.revoke': {
      const data = sessionData(f);
      if (kind === 'session.revoke' && data.revoked_at === null) {
        throw invalid('data.revoked_at', 'is required for session.revoke');
      }
      return { kind, data };
    }
    case 'token.revoke':
      return {
        kind,
        data: {
          jti: f.id('jti'),
          user_id: f.nullable('user_id', () => f.id('user_id')),
          revoked_at: f.seconds('revoked_at'),
          expires_at: f.nullable('expires_at', () => f.seconds('expires_at')),
        },
      };
    case 'sid.revoke':
      return {
        kind,
        data: {
          issuer: f.nullable('issuer', () => f.text('issuer', MAX_TEXT)),
          sid: f.id('sid'),
          revoked_at: f.seconds('revoked_at'),
          expires_at: f.seconds('expires_at'),
          reason: f.text('reason', MAX_TEXT),
        },
      };
    case 'posture.set':
      return { kind, data: { kind: f.postureKind('kind'), subject_id: f.id('subject_id'), state: f.object('state') } };
    case 'posture.clear':
      return { kind, data: { kind: f.postureKind('kind'), subject_id: f.id('subject_id') } };
  }
}

const USER_FIELDS = new Set(['id', 'user_name', 'external_id', 'active', 'attributes', 'roles', 'created_at']);
const GROUP_FIELDS = new Set(['id', 'display_name', 'external_id', 'created_at']);
const SESSION_FIELDS = new Set([
  'id',
  'user_id',
  'issuer',
  'acr',
  'amr',
  'auth_time',
  'expires_at',
  'created_at',
  'revoked_at',
  'revoke_reason',
  'ip',
  'device_id',
  'idp_session_id',
]);

function userData(f: Fields): UserData {
  return {
    id: f.id('id'),
    user_name: f.text('user_name', MAX_TEXT),
    external_id: f.nullable('external_id', () => f.text('external_id', MAX_TEXT)),
    active: f.boolean('active'),
    attributes: f.object('attributes'),
    roles: f.strings('roles'),
    ...f.optionalMillis('created_at'),
    ...f.extra(USER_FIELDS),
  };
}

function groupData(f: Fields): GroupData {
  return {
    id: f.id('id'),
    display_name: f.text('display_name', MAX_TEXT),
    external_id: f.nullable('external_id', () => f.text('external_id', MAX_TEXT)),
    ...f.optionalMillis('created_at'),
    ...f.extra(GROUP_FIELDS),
  };
}

function sessionData(f: Fields): SessionData {
  return {
    id: f.id('id'),
    user_id: f.id('user_id'),
    issuer: f.text('issuer', MAX_TEXT),
    acr: f.nullable('acr', () => f.text('acr', MAX_TEXT)),
    amr: f.strings('amr'),
    auth_time: f.nullable('auth_time', () => f.seconds('auth_time')),
    expires_at: f.seconds('expires_at'),
    created_at: f.seconds('created_at'),
    revoked_at: f.nullable('revoked_at', () => f.seconds('revoked_at')),
    revoke_reason: f.nullable('revoke_reason', () => f.text('revoke_reason', MAX_TEXT)),
    ip: f.nullable('ip', () => f.text('ip', MAX_ID)),
    device_id: f.nullable('device_id', () => f.id('device_id')),
    ...f.optionalText('idp_session_id'),
    ...f.extra(SESSION_FIELDS),
  };
}

/** Typed reads of `data` fields; each failure names `data.<field>`. */
class Fields {
  readonly #data: Record<string, unknown>;

  constructor(data: Record<string, unknown>) {
    this.#data = data;
  }

  text(name: string, max: number): string {
    const value = this.#data[name];
    if (typeof value !== 'string' || value === '') throw invalid(`data.${name}`, 'must be a non-empty string');
    if (value.length > max) throw invalid(`data.${name}`, `must be at most ${max} characters`);
    return value;
  }

  id(name: string): string {
    return this.text(name, MAX_ID);
  }

  boolean(name: string): boolean {
    const value = this.#data[name];
    if (typeof value !== 'boolean') throw invalid(`data.${name}`, 'must be a boolean');
    return value;
  }

  seconds(name: string): number {
    const value = this.#data[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw invalid(`data.${name}`, 'must be a non-negative integer (Unix seconds)');
    }
    return value;
  }

  /** An optional id field: present as `{ [name]: value }`, absent (or null) as `{}`. */
  optionalText(name: string): Record<string, string> {
    const value = this.#data[name];
    return value === undefined || value === null ? {} : { [name]: this.id(name) };
  }

  /** An optional Unix-ms field: present as `{ [name]: value }`, absent (or null) as `{}`. */
  optionalMillis(name: string): Record<string, number> {
    const value = this.#data[name];
    if (value === undefined || value === null) return {};
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw invalid(`data.${name}`, 'must be a non-negative integer (Unix ms)');
    }
    return { [name]: value };
  }

  object(name: string): Record<string, unknown> {
    const value = this.#data[name];
    if (!isObject(value)) throw invalid(`data.${name}`, 'must be an object');
    return value;
  }

  strings(name: string): string[] {
    const value = this.#data[name];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length <= MAX_TEXT)) {
      throw invalid(`data.${name}`, 'must be an array of strings');
    }
    return value as string[];
  }

  postureKind(name: string): PostureKind {
    const value = this.#data[name];
    if (!(POSTURE_KINDS as readonly unknown[]).includes(value)) {
      throw invalid(`data.${name}`, `must be one of ${POSTURE_KINDS.join(', ')}`);
    }
    return value as PostureKind;
  }

  /** `null` (or absent) stays `null`; anything else must pass `read`. */
  nullable<T>(name: string, read: () => T): T | null {
    const value = this.#data[name];
    return value === null || value === undefined ? null : read();
  }

  extra(known: ReadonlySet<string>): { extra?: Record<string, unknown> } {
    const extra = extraOf(this.#data, known);
    return extra === undefined ? {} : { extra };
  }
}

/** The fields of `object` not in `known`, or undefined when there are none (the usual case). */
function extraOf(object: Record<string, unknown>, known: ReadonlySet<string>): Record<string, unknown> | undefined {
  let extra: Record<string, unknown> | undefined;
  for (const key in object) {
    if (!known.has(key)) (extra ??= {})[key] = object[key];
  }
  return extra;
}

function invalid(field: string, problem: string): ChangeRejectedError {
  return new ChangeRejectedError('ERR_CHANGE_INVALID', `${field} ${problem}`, field);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
