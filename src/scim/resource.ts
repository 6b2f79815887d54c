/**
 * SCIM JSON in and out: validation of request bodies against the schema
 * (canonical attribute names, types, mutability), the mapping between SCIM
 * resources and store records, and `attributes` / `excludedAttributes`.
 */
import type { GroupData, UserData } from '../changes/index.js';
import type { GroupRecord, UserRecord } from '../store/index.js';
import { ScimError } from './errors.js';
import { parseAttributePaths } from './attribute_paths.js';
import {
  COMMON_ATTRIBUTES,
  ENTERPRISE_USER,
  ENTERPRISE_USER_SCHEMA,
  findAttribute,
  GROUP_SCHEMA,
  USER,
  USER_SCHEMA,
} from './schema.js';
import type { Attribute, AttributeTarget, ResourceType } from './schema.js';

export type Json = Record<string, unknown>;

const STORED_APART = new Set(['userName', 'externalId', 'active', 'password', 'groups', 'id', 'meta']);
const ENTERPRISE_NAMES = new Set(ENTERPRISE_USER.attributes.map((a) => a.name));

/**
 * Validates a POST or PUT body, or a PATCHed document: canonical names,
 * checked types, read-only attributes dropped (RFC 7644 §3.3), write-only
 * ones (password) dropped after validation. Returns SCIM JSON without
 * `schemas`, `id` and `meta`; extension attributes under their schema URN.
 *
 * @throws {ScimError} `ERR_SCIM_INVALID_SYNTAX` (not an object, bad or missing schemas, unknown attribute),
 *   `ERR_SCIM_INVALID_VALUE` (wrong type, missing required attribute)
 */
export function normalizeResource(type: ResourceType, body: unknown, options: { requireSchemas: boolean }): Json {
  if (!isObject(body)) throw new ScimError('ERR_SCIM_INVALID_SYNTAX', 'the body must be a JSON object');
  const schemas = body['schemas'];
  if (options.requireSchemas || schemas !== undefined) checkSchemas(type, schemas);
  const out: Json = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'schemas' || value === null || value === undefined) continue;
    const extension = type.extensions.find((e) => e.id.toLowerCase() === key.toLowerCase());
    if (extension !== undefined) {
      if (!isObject(value)) throw invalidValue(key, 'must be an object');
      const normalized = normalizeAttributes(extension.attributes, value, key);
      if (Object.keys(normalized).length > 0) out[extension.id] = normalized;
      continue;
    }
    if (type.tolerated.some((t) => t.toLowerCase() === key.toLowerCase())) continue;
    const attribute = findAttribute(type.schema.attributes, key) ?? findAttribute(COMMON_ATTRIBUTES, key);
    if (attribute === undefined) {
      throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `unknown attribute "${key}" for a ${type.kind}`);
    }
    if (attribute.mutability === 'readOnly') continue;
    const normalized = normalizeValue(attribute, value, attribute.name);
    if (normalized !== undefined && attribute.mutability !== 'writeOnly') out[attribute.name] = normalized;
  }
  for (const attribute of type.schema.attributes) {
    if (attribute.required && !present(out[attribute.name])) throw invalidValue(attribute.name, 'is required');
  }
  return out;
}

function checkSchemas(type: ResourceType, schemas: unknown): void {
  if (!Array.isArray(schemas) || !schemas.every((s) => typeof s === 'string')) {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', '"schemas" must be an array of schema URNs');
  }
  const known = [type.schema.id, ...type.extensions.map((e) => e.id), ...type.tolerated].map((s) => s.toLowerCase());
  for (const schema of schemas) {
    if (!known.includes(schema.toLowerCase())) {
      throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `schema "${schema}" is not supported for a ${type.kind}`);
    }
  }
  if (!schemas.some((s) => s.toLowerCase() === type.schema.id.toLowerCase())) {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `"schemas" must include ${type.schema.id}`);
  }
}

function normalizeAttributes(attributes: readonly Attribute[], value: Json, path: string): Json {
  const out: Json = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === null || v === undefined) continue;
    const attribute = findAttribute(attributes, key);
    if (attribute === undefined) throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `unknown attribute "${path}:${key}"`);
    if (attribute.mutability === 'readOnly') continue;
    const normalized = normalizeValue(attribute, v, attribute.name);
    if (normalized !== undefined) out[attribute.name] = normalized;
  }
  return out;
}

/**
 * One attribute's value, checked and normalized. Booleans also accept the
 * strings "true"/"false" in any case (Microsoft Entra sends `"False"`).
 * `null` means unassigned.
 *
 * @throws {ScimError} `ERR_SCIM_INVALID_VALUE`, `ERR_SCIM_INVALID_SYNTAX`
 */
export function normalizeValue(attribute: Attribute, value: unknown, path: string): unknown {
  if (value === null || value === undefined) return undefined;
  if (attribute.multiValued) {
    // RFC 7643 §2.4: a multi-valued attribute is a JSON array; a lone object is not quietly made one.
    if (!Array.isArray(value)) throw invalidValue(path, 'is multi-valued: send a JSON array');
    const elements: unknown[] = value;
    const out = elements.map((e) => normalizeSingle(attribute, e, path)).filter((e) => e !== undefined);
    if (attribute.type === 'complex' && out.filter((e) => isObject(e) && e['primary'] === true).length > 1) {
      throw invalidValue(path, 'has more than one primary value');
    }
    return out;
  }
  if (attribute.type === 'complex' && attribute.subAttributes?.some((a) => a.name === 'value') === true) {
    // Microsoft Entra sends the enterprise `manager` as the manager's id, or as [{"value": id}].
    if (typeof value === 'string') return normalizeSingle(attribute, { value }, path);
    if (Array.isArray(value) && value.length === 1 && isObject(value[0])) {
      return normalizeSingle(attribute, value[0], path);
    }
  }
  if (Array.isArray(value)) throw invalidValue(path, 'is single-valued');
  return normalizeSingle(attribute, value, path);
}

function normalizeSingle(attribute: Attribute, value: unknown, path: string): unknown {
  if (value === null || value === undefined) return undefined;
  switch (attribute.type) {
    case 'complex': {
      if (!isObject(value)) throw invalidValue(path, 'must be an object');
      return normalizeAttributes(attribute.subAttributes ?? [], value, path);
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      throw invalidValue(path, 'must be a boolean');
    case 'integer':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      throw invalidValue(path, 'must be an integer');
    case 'decimal':
      if (typeof value === 'number') return value;
      throw invalidValue(path, 'must be a number');
    case 'dateTime':
      if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return value;
      throw invalidValue(path, 'must be an xsd:dateTime string');
    default:
      if (typeof value !== 'string') throw invalidValue(path, 'must be a string');
      if (value.length > 4096) throw invalidValue(path, 'is longer than 4096 characters');
      return value;
  }
}

// --- store records <-> SCIM JSON ---------------------------------------------

/** What a SCIM User document sets of the user change's state (docs/changes.md `user.upsert`). */
export type UserState = Pick<UserData, 'user_name' | 'external_id' | 'attributes' | 'roles'>;

/**
 * The stored form of a normalized User: profile attributes flat (core and
 * enterprise), for policies. `active` is apart and `undefined` when the
 * document does not assign it: what that means (new account, PUT, PATCH
 * remove) is the caller's decision, never a silent `true`.
 */
export function userStateOf(scim: Json): { state: UserState; active: boolean | undefined } {
  const attributes: Json = {};
  for (const [key, value] of Object.entries(scim)) {
    if (!STORED_APART.has(key) && key !== ENTERPRISE_USER_SCHEMA) attributes[key] = value;
  }
  const enterprise = scim[ENTERPRISE_USER_SCHEMA];
  if (isObject(enterprise)) Object.assign(attributes, enterprise);
  const roles = Array.isArray(scim['roles'])
    ? (scim['roles'] as Json[]).map((r) => r['value']).filter((v): v is string => typeof v === 'string')
    : [];
  return {
    state: {
      user_name: scim['userName'] as string,
      external_id: typeof scim['externalId'] === 'string' ? scim['externalId'] : null,
      attributes,
      roles,
    },
    active: typeof scim['active'] === 'boolean' ? scim['active'] : undefined,
  };
}

/** What a SCIM Group document sets of the group change's state (`group.upsert`); members are apart. */
export function groupStateOf(scim: Json): Pick<GroupData, 'display_name' | 'external_id'> {
  return {
    display_name: scim['displayName'] as string,
    external_id: typeof scim['externalId'] === 'string' ? scim['externalId'] : null,
  };
}

/** The writable SCIM state of a stored user (what PATCH starts from). */
export function userDocument(user: UserRecord): Json {
  const doc: Json = { userName: user.userName, active: user.active };
  if (user.externalId !== undefined) doc['externalId'] = user.externalId;
  const enterprise: Json = {};
  for (const [key, value] of Object.entries(user.attributes)) {
    if (ENTERPRISE_NAMES.has(key)) enterprise[key] = value;
    else if (findAttribute(USER.attributes, key) !== undefined) doc[key] = value;
  }
  if (Object.keys(enterprise).length > 0) doc[ENTERPRISE_USER_SCHEMA] = enterprise;
  return doc;
}

export interface Representation {
  readonly baseUrl: string;
}

export function userResource(
  user: UserRecord,
  groups: readonly { id: string; displayName: string }[],
  context: Representation,
): Json {
  const doc = userDocument(user);
  const schemas = [USER_SCHEMA, ...(doc[ENTERPRISE_USER_SCHEMA] === undefined ? [] : [ENTERPRISE_USER_SCHEMA])];
  return {
    schemas,
    id: user.id,
    ...doc,
    groups: groups.map((g) => ({
      value: g.id,
      $ref: `${context.baseUrl}/Groups/${g.id}`,
      display: g.displayName,
      type: 'direct',
    })),
    meta: meta('User', user.id, user.version, context),
  };
}

export function groupDocument(group: GroupRecord, members: readonly { id: string; userName: string }[]): Json {
  const doc: Json = {
    displayName: group.displayName,
    members: members.map((m) => ({ value: m.id, display: m.userName })),
  };
  if (group.externalId !== undefined) doc['externalId'] = group.externalId;
  return doc;
}

export function groupResource(
  group: GroupRecord,
  members: readonly { id: string; userName: string }[],
  context: Representation,
): Json {
  return {
    schemas: [GROUP_SCHEMA],
    id: group.id,
    ...groupDocument(group, members),
    members: members.map((m) => ({
      value: m.id,
      $ref: `${context.baseUrl}/Users/${m.id}`,
      display: m.userName,
      type: 'User',
    })),
    meta: meta('Group', group.id, group.version, context),
  };
}

function meta(
  resourceType: 'User' | 'Group',
  id: string,
  version: UserRecord['version'],
  context: Representation,
): Json {
  return {
    resourceType,
    created: new Date(version?.createdAt ?? 0).toISOString(),
    lastModified: new Date(version?.modifiedAt ?? 0).toISOString(),
    location: `${context.baseUrl}/${resourceType}s/${id}`,
    version: etagOf(version?.sequence ?? 0),
  };
}

/** A weak ETag from the entity's stream sequence: it changes with every stored change. */
export function etagOf(sequence: number): string {
  return `W/"${sequence}"`;
}

// --- projection -------------------------------------------------------------

export interface Projection {
  readonly attributes: readonly AttributeTarget[] | undefined;
  readonly excluded: readonly AttributeTarget[] | undefined;
}

/** Parses the `attributes` and `excludedAttributes` parameters. */
export function projectionOf(
  type: ResourceType,
  attributes: string | undefined,
  excluded: string | undefined,
): Projection {
  return {
    attributes: attributes === undefined ? undefined : parseAttributePaths(type, attributes),
    excluded: excluded === undefined ? undefined : parseAttributePaths(type, excluded),
  };
}

/** Applies a projection; `id` and `schemas` (returned: always) always stay. */
export function project(type: ResourceType, resource: Json, projection: Projection): Json {
  const { attributes, excluded } = projection;
  if (attributes === undefined && excluded === undefined) return resource;
  if (attributes !== undefined) {
    const out: Json = { schemas: resource['schemas'], id: resource['id'] };
    for (const target of attributes) copyTarget(type, resource, out, target);
    return out;
  }
  const out = structuredClone(resource);
  for (const target of excluded ?? []) {
    if (target.attribute.returned === 'always') continue;
    const container = target.schema.id === type.schema.id ? out : (out[target.schema.id] as Json | undefined);
    if (container === undefined) continue;
    if (target.subAttribute === undefined) delete container[target.attribute.name];
    else {
      const value = container[target.attribute.name];
      for (const element of Array.isArray(value) ? value : [value]) {
        if (isObject(element)) delete element[target.subAttribute.name];
      }
    }
  }
  return out;
}

function copyTarget(type: ResourceType, from: Json, to: Json, target: AttributeTarget): void {
  const inCore = target.schema.id === type.schema.id;
  const source = inCore ? from : (from[target.schema.id] as Json | undefined);
  const value = source?.[target.attribute.name];
  if (value === undefined) return;
  const destination = inCore ? to : ((to[target.schema.id] ??= {}) as Json);
  if (target.subAttribute === undefined) {
    destination[target.attribute.name] = value;
    return;
  }
  const sub = target.subAttribute.name;
  const pick = (e: unknown): unknown => (isObject(e) && e[sub] !== undefined ? { [sub]: e[sub] } : undefined);
  if (Array.isArray(value)) {
    const existing = (destination[target.attribute.name] as Json[] | undefined) ?? value.map(() => ({}));
    value.forEach((e, i) => Object.assign(existing[i] ?? {}, pick(e)));
    destination[target.attribute.name] = existing;
  } else {
    destination[target.attribute.name] = {
      ...(destination[target.attribute.name] as Json | undefined),
      ...(pick(value) as Json),
    };
  }
}

function invalidValue(path: string, problem: string): ScimError {
  return new ScimError('ERR_SCIM_INVALID_VALUE', `${path} ${problem}`);
}

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function present(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0);
}
