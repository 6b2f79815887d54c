/**
 * PATCH (RFC 7644 §3.5.2) over a resource's writable SCIM document, with the
 * forms real IdPs send: capitalised `op`s and `"False"` strings (Microsoft
 * Entra), path-less `replace` whose keys are paths (`"name.givenName"`,
 * `"urn:…:User:employeeNumber"`), member removal by a value array, and
 * `emails[type eq "work"].value` creating the work e-mail when it is missing.
 */
import { ScimError } from './errors.js';
import { matchesElement, parsePatchPath } from './filter.js';
import type { Filter, PatchPath } from './filter.js';
import { isObject, normalizeValue } from './resource.js';
import type { Json } from './resource.js';
import { PATCH_OP_SCHEMA } from './schema.js';
import type { Attribute, ResourceType } from './schema.js';

type Op = 'add' | 'replace' | 'remove';

const MAX_OPERATIONS = 1_000;

/**
 * Applies a PatchOp body to a copy of `document`; the input is not changed.
 *
 * @throws {ScimError} `ERR_SCIM_INVALID_SYNTAX`, `ERR_SCIM_INVALID_PATH`, `ERR_SCIM_NO_TARGET`,
 *   `ERR_SCIM_MUTABILITY`, `ERR_SCIM_INVALID_VALUE`
 */
export function applyPatch(type: ResourceType, document: Json, body: unknown): Json {
  if (!isObject(body)) throw new ScimError('ERR_SCIM_INVALID_SYNTAX', 'the body must be a JSON object');
  const schemas = body['schemas'];
  if (
    !Array.isArray(schemas) ||
    !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === PATCH_OP_SCHEMA.toLowerCase())
  ) {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `"schemas" must be ["${PATCH_OP_SCHEMA}"]`);
  }
  const operations = body['Operations'] ?? body['operations'];
  if (!Array.isArray(operations) || operations.length === 0) {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', '"Operations" must be a non-empty array');
  }
  if (operations.length > MAX_OPERATIONS) {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `at most ${MAX_OPERATIONS} operations per request`);
  }
  const doc = structuredClone(document);
  operations.forEach((operation: unknown, index) => {
    if (!isObject(operation)) throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `Operations[${index}] must be an object`);
    const op = typeof operation['op'] === 'string' ? operation['op'].toLowerCase() : undefined;
    if (op !== 'add' && op !== 'replace' && op !== 'remove') {
      throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `Operations[${index}].op must be add, replace or remove`);
    }
    const path = operation['path'];
    if (path !== undefined && (typeof path !== 'string' || path.trim() === '')) {
      throw new ScimError('ERR_SCIM_INVALID_PATH', `Operations[${index}].path must be a non-empty string`);
    }
    const value = operation['value'];
    if (path === undefined) {
      if (op === 'remove') throw new ScimError('ERR_SCIM_NO_TARGET', `Operations[${index}]: remove needs a path`);
      applyWithoutPath(type, doc, op, value, index);
    } else {
      const extension = type.extensions.find((e) => e.id.toLowerCase() === path.trim().toLowerCase());
      if (extension === undefined) applyAtPath(type, doc, op, parsePatchPath(type, path.trim()), value, path.trim());
      else applyToExtension(type, doc, op, extension.id, value, index);
    }
  });
  return doc;
}

/**
 * `{"path": "urn:…:enterprise:2.0:User", …}`: the extension as one complex
 * attribute. `remove` drops it whole; `add` and `replace` set the
 * sub-attributes given and leave the others (RFC 7644 §3.5.2.1, §3.5.2.3).
 */
function applyToExtension(type: ResourceType, doc: Json, op: Op, id: string, value: unknown, index: number): void {
  if (op === 'remove') {
    delete doc[id];
    return;
  }
  if (!isObject(value)) {
    throw new ScimError('ERR_SCIM_INVALID_VALUE', `Operations[${index}].value must be an object of ${id}'s attributes`);
  }
  for (const [sub, subValue] of Object.entries(value)) {
    // Some clients serialize the extension as a resource of its own, with its `schemas`: not an attribute.
    if (sub === 'schemas') continue;
    applyAtPath(type, doc, op, parsePatchPath(type, `${id}:${sub}`), subValue, `${id}:${sub}`);
  }
}

/** `{"op": "replace", "value": {"active": false, "name.givenName": "Al"}}`: each key is a path. */
function applyWithoutPath(type: ResourceType, doc: Json, op: Op, value: unknown, index: number): void {
  if (!isObject(value)) {
    throw new ScimError('ERR_SCIM_INVALID_VALUE', `Operations[${index}].value must be an object when there is no path`);
  }
  for (const [key, v] of Object.entries(value)) {
    const extension = type.extensions.find((e) => e.id.toLowerCase() === key.toLowerCase());
    if (extension !== undefined && isObject(v)) {
      applyToExtension(type, doc, op, extension.id, v, index);
    } else if (key === 'schemas' || key === 'id' || key === 'meta') {
      // Okta repeats `id` in path-less replaces; read-only, and identical anyway.
      continue;
    } else if (type.tolerated.some((t) => t.toLowerCase() === key.toLowerCase())) {
      continue;
    } else {
      applyAtPath(type, doc, op, parsePatchPath(type, key), v, key);
    }
  }
}

function applyAtPath(type: ResourceType, doc: Json, op: Op, path: PatchPath, value: unknown, text: string): void {
  const { attribute } = path.target;
  const sub = path.subAttribute ?? path.target.subAttribute;
  if (attribute.mutability === 'readOnly' || sub?.mutability === 'readOnly') {
    throw new ScimError('ERR_SCIM_MUTABILITY', `${text} is read-only`);
  }
  const container = containerFor(type, doc, path, op !== 'remove');
  if (container === undefined) {
    if (op === 'remove') return;
    throw new ScimError('ERR_SCIM_INVALID_PATH', `${text} cannot be written`);
  }
  const name = attribute.name;

  if (path.filter !== undefined) {
    applyToMatches(container, attribute, path.filter, path.subAttribute, op, value, text);
    return;
  }
  if (path.target.subAttribute !== undefined) {
    // name.givenName: one sub-attribute of a single-valued complex attribute.
    if (attribute.multiValued) throw new ScimError('ERR_SCIM_INVALID_PATH', `${text} needs a value filter`);
    const current = isObject(container[name]) ? container[name] : {};
    const subName = path.target.subAttribute.name;
    if (op === 'remove') delete current[subName];
    else current[subName] = normalizeValue(path.target.subAttribute, value, text);
    setOrDelete(container, name, current);
    return;
  }
  if (op === 'remove') {
    if (attribute.required) throw new ScimError('ERR_SCIM_INVALID_VALUE', `${text} is required and cannot be removed`);
    if (attribute.multiValued && value !== undefined) {
      // Microsoft Entra removes members as {"path": "members", "value": [{"value": "<id>"}]}.
      const remove = new Set<unknown>(
        (normalizeValue(attribute, value, text) as Json[]).map((e) => e['value']).filter((v) => v !== undefined),
      );
      const kept = (Array.isArray(container[name]) ? (container[name] as Json[]) : []).filter(
        (e) => !remove.has(e['value']),
      );
      setOrDelete(container, name, kept);
    } else {
      delete container[name];
    }
    return;
  }
  const normalized = normalizeValue(attribute, value, text);
  if (normalized === undefined) {
    if (attribute.required) throw new ScimError('ERR_SCIM_INVALID_VALUE', `${text} is required`);
    delete container[name];
    return;
  }
  if (attribute.multiValued) {
    const incoming = normalized as unknown[];
    if (op === 'replace') {
      container[name] = incoming;
    } else {
      const current = Array.isArray(container[name]) ? (container[name] as unknown[]) : [];
      const merged = [...current];
      for (const element of incoming) {
        if (!merged.some((e) => sameElement(e, element))) merged.push(element);
      }
      container[name] = merged;
    }
    clearOtherPrimaries(container[name] as unknown[]);
  } else if (attribute.type === 'complex' && isObject(container[name]) && isObject(normalized)) {
    // Both add and replace merge sub-attributes into a single complex value (RFC 7644 §3.5.2.1, .3).
    container[name] = { ...container[name], ...normalized };
  } else {
    container[name] = normalized;
  }
}

function applyToMatches(
  container: Json,
  attribute: Attribute,
  filter: Filter,
  subAttribute: Attribute | undefined,
  op: Op,
  value: unknown,
  text: string,
): void {
  const name = attribute.name;
  const elements = Array.isArray(container[name]) ? (container[name] as Json[]) : [];
  const matching = elements.filter((e) => matchesElement(e, filter));
  if (op === 'remove') {
    if (matching.length === 0) {
      // Removing a member that is not one is a no-op: IdPs resend removals on retries.
      if (name === 'members') return;
      throw new ScimError('ERR_SCIM_NO_TARGET', `${text} matches nothing`);
    }
    if (subAttribute === undefined)
      setOrDelete(
        container,
        name,
        elements.filter((e) => !matching.includes(e)),
      );
    else for (const e of matching) delete e[subAttribute.name];
    return;
  }
  if (matching.length === 0) {
    // emails[type eq "work"].value on a user without a work e-mail: create it (Microsoft Entra).
    const seed = equalitySeed(filter);
    if (seed === undefined) throw new ScimError('ERR_SCIM_NO_TARGET', `${text} matches nothing`);
    const element: Json = { ...seed };
    elements.push(element);
    matching.push(element);
  }
  for (const element of matching) {
    if (subAttribute !== undefined) {
      element[subAttribute.name] = normalizeValue(subAttribute, value, text);
    } else {
      const replacement = normalizeValue({ ...attribute, multiValued: false }, value, text);
      if (isObject(replacement)) Object.assign(element, replacement);
    }
  }
  container[name] = elements;
  clearOtherPrimaries(elements);
}

/** `type eq "work"` (and conjunctions of such) as the sub-attributes of a new element. */
function equalitySeed(filter: Filter): Json | undefined {
  if (filter.op === 'and') {
    const left = equalitySeed(filter.left);
    const right = equalitySeed(filter.right);
    return left === undefined || right === undefined ? undefined : { ...left, ...right };
  }
  if (filter.op === 'eq' && filter.target.subAttribute !== undefined && filter.value !== null) {
    return { [filter.target.subAttribute.name]: filter.value };
  }
  return undefined;
}

/** The object the attribute lives in: the document, or its extension object (created when writing). */
function containerFor(type: ResourceType, doc: Json, path: PatchPath, create: boolean): Json | undefined {
  if (path.target.schema.id === type.schema.id) return doc;
  const key = path.target.schema.id;
  if (!isObject(doc[key])) {
    if (!create) return undefined;
    doc[key] = {};
  }
  return doc[key] as Json;
}

function setOrDelete(container: Json, name: string, value: unknown): void {
  const empty = Array.isArray(value) ? value.length === 0 : isObject(value) && Object.keys(value).length === 0;
  if (empty) delete container[name];
  else container[name] = value;
}

function sameElement(a: unknown, b: unknown): boolean {
  if (isObject(a) && isObject(b) && a['value'] !== undefined)
    return a['value'] === b['value'] && a['type'] === b['type'];
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The last element marked primary wins (RFC 7643 §2.4: at most one). */
function clearOtherPrimaries(elements: unknown[]): void {
  const primaries = elements.filter((e) => isObject(e) && e['primary'] === true) as Json[];
  for (const e of primaries.slice(0, -1)) e['primary'] = false;
}
