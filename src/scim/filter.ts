/**
 * SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2): parsed against
 * the resource type's schema (unknown attributes are errors, not silent
 * non-matches), then evaluated over the SCIM JSON of a resource with the
 * schema's case rules.
 */
import { ScimError } from './errors.js';
import { resolveAttribute } from './schema.js';
import type { Attribute, AttributeTarget, ResourceType } from './schema.js';

export type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
export type Literal = string | number | boolean | null;

export type Filter =
  | { readonly op: 'and' | 'or'; readonly left: Filter; readonly right: Filter }
  | { readonly op: 'not'; readonly filter: Filter }
  | { readonly op: 'pr'; readonly target: AttributeTarget }
  | { readonly op: CompareOp; readonly target: AttributeTarget; readonly value: Literal }
  /** Some element of a multi-valued attribute matches `filter` (evaluated on the element). */
  | { readonly op: 'has'; readonly target: AttributeTarget; readonly filter: Filter };

/** A PATCH path: an attribute, optionally narrowed to matching elements, optionally to a sub-attribute. */
export interface PatchPath {
  readonly target: AttributeTarget;
  readonly filter: Filter | undefined;
  /** Set with a filter: `emails[type eq "work"].value`. */
  readonly subAttribute: Attribute | undefined;
}

const COMPARE_OPS: ReadonlySet<string> = new Set(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
const MAX_FILTER_LENGTH = 4096;
const MAX_DEPTH = 32;

type Token =
  | { readonly kind: 'punct'; readonly text: '(' | ')' | '[' | ']' }
  | { readonly kind: 'word'; readonly text: string }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'number'; readonly value: number };

function tokenize(input: string, fail: (message: string) => ScimError): Token[] {
  const tokens: Token[] = [];
  const pattern =
    /\s+|([()[\]])|("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![A-Za-z0-9:._$-]))|([A-Za-z0-9:._$-]+)/y;
  let index = 0;
  while (index < input.length) {
    pattern.lastIndex = index;
    const match = pattern.exec(input);
    if (match === null) throw fail(`unexpected character at position ${index + 1}`);
    index = pattern.lastIndex;
    const [, punct, string, number, word] = match;
    if (punct !== undefined) tokens.push({ kind: 'punct', text: punct as '(' | ')' | '[' | ']' });
    else if (string !== undefined) {
      try {
        tokens.push({ kind: 'string', value: JSON.parse(string) as string });
      } catch {
        throw fail(`invalid string literal ${string}`);
      }
    } else if (number !== undefined) tokens.push({ kind: 'number', value: Number(number) });
    else if (word !== undefined) tokens.push({ kind: 'word', text: word });
  }
  return tokens;
}

class Parser {
  readonly #tokens: Token[];
  readonly #type: ResourceType;
  readonly #fail: (message: string) => ScimError;
  #at = 0;
  #depth = 0;

  constructor(tokens: Token[], type: ResourceType, fail: (message: string) => ScimError) {
    this.#tokens = tokens;
    this.#type = type;
    this.#fail = fail;
  }

  /** A method, not a getter: it changes as tokens are consumed, so it must not be narrowed. */
  isDone(): boolean {
    return this.#at >= this.#tokens.length;
  }

  peek(): Token | undefined {
    return this.#tokens[this.#at];
  }

  next(): Token {
    const token = this.#tokens[this.#at++];
    if (token === undefined) throw this.#fail('unexpected end of expression');
    return token;
  }

  expectPunct(text: string): void {
    const token = this.next();
    if (token.kind !== 'punct' || token.text !== text) throw this.#fail(`expected "${text}"`);
  }

  isKeyword(word: string): boolean {
    const token = this.peek();
    return token?.kind === 'word' && token.text.toLowerCase() === word;
  }

  /** `scope` set: inside `attr[...]`, names are sub-attributes of it. */
  parseOr(scope?: AttributeTarget): Filter {
    if (++this.#depth > MAX_DEPTH) throw this.#fail('the expression is nested too deeply');
    let left = this.parseAnd(scope);
    while (this.isKeyword('or')) {
      this.next();
      left = { op: 'or', left, right: this.parseAnd(scope) };
    }
    this.#depth--;
    return left;
  }

  parseAnd(scope?: AttributeTarget): Filter {
    let left = this.parseUnary(scope);
    while (this.isKeyword('and')) {
      this.next();
      left = { op: 'and', left, right: this.parseUnary(scope) };
    }
    return left;
  }

  parseUnary(scope?: AttributeTarget): Filter {
    if (this.isKeyword('not')) {
      this.next();
      this.expectPunct('(');
      const filter = this.parseOr(scope);
      this.expectPunct(')');
      return { op: 'not', filter };
    }
    const token = this.peek();
    if (token?.kind === 'punct' && token.text === '(') {
      this.next();
      const filter = this.parseOr(scope);
      this.expectPunct(')');
      return filter;
    }
    return this.parseAttributeExpression(scope);
  }

  parseAttributeExpression(scope?: AttributeTarget): Filter {
    const token = this.next();
    if (token.kind !== 'word') throw this.#fail('expected an attribute name');
    const target = this.resolve(token.text, scope);
    const after = this.peek();
    if (after?.kind === 'punct' && after.text === '[') {
      if (scope !== undefined) throw this.#fail('value filters cannot be nested');
      if (target.subAttribute !== undefined || target.attribute.subAttributes === undefined) {
        throw this.#fail(`${token.text} has no sub-attributes to filter on`);
      }
      this.next();
      let filter = this.parseOr(target);
      this.expectPunct(']');
      // Microsoft Entra's form: emails[type eq "work"].value eq "x".
      const sub = this.peek();
      if (sub?.kind === 'word' && sub.text.startsWith('.')) {
        this.next();
        const comparison = this.parseComparison(this.resolve(sub.text.slice(1), target));
        filter = { op: 'and', left: filter, right: comparison };
      }
      return { op: 'has', target, filter };
    }
    return this.parseComparison(target);
  }

  parseComparison(target: AttributeTarget): Filter {
    const operator = this.next();
    if (operator.kind !== 'word') throw this.#fail('expected an operator');
    const op = operator.text.toLowerCase();
    if (op === 'pr') return { op: 'pr', target };
    if (!COMPARE_OPS.has(op)) throw this.#fail(`unknown operator "${operator.text}"`);
    const value = this.parseLiteral();
    const attribute = target.subAttribute ?? target.attribute;
    const type = attribute.type === 'complex' ? 'string' : attribute.type;
    if (type === 'boolean' && op !== 'eq' && op !== 'ne') {
      throw this.#fail(`${attribute.name} is a boolean: only eq and ne apply`);
    }
    if (['co', 'sw', 'ew'].includes(op) && typeof value !== 'string') {
      throw this.#fail(`${op} needs a string value`);
    }
    return { op: op as CompareOp, target, value };
  }

  parseLiteral(): Literal {
    const token = this.next();
    if (token.kind === 'string' || token.kind === 'number') return token.value;
    if (token.kind === 'word') {
      const word = token.text.toLowerCase();
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'null') return null;
    }
    throw this.#fail('expected a value: a "string", a number, true, false or null');
  }

  resolve(path: string, scope?: AttributeTarget): AttributeTarget {
    if (scope !== undefined) {
      const sub = (scope.attribute.subAttributes ?? []).find((a) => a.name.toLowerCase() === path.toLowerCase());
      if (sub === undefined) throw this.#fail(`${scope.attribute.name} has no sub-attribute "${path}"`);
      return { schema: scope.schema, attribute: scope.attribute, subAttribute: sub };
    }
    const target = resolveAttribute(this.#type, path);
    if (target === undefined) throw this.#fail(`unknown attribute "${path}"`);
    return target;
  }
}

/**
 * @throws {ScimError} `ERR_SCIM_INVALID_FILTER` naming what is wrong
 */
export function parseFilter(type: ResourceType, input: string): Filter {
  const fail = (message: string): ScimError => new ScimError('ERR_SCIM_INVALID_FILTER', `invalid filter: ${message}`);
  if (input.length > MAX_FILTER_LENGTH) throw fail(`longer than ${MAX_FILTER_LENGTH} characters`);
  const parser = new Parser(tokenize(input, fail), type, fail);
  if (parser.isDone()) throw fail('empty');
  const filter = parser.parseOr();
  if (!parser.isDone()) throw fail('unexpected text after the expression');
  return filter;
}

/**
 * @throws {ScimError} `ERR_SCIM_INVALID_PATH`
 */
export function parsePatchPath(type: ResourceType, input: string): PatchPath {
  const fail = (message: string): ScimError =>
    new ScimError('ERR_SCIM_INVALID_PATH', `invalid path "${input}": ${message}`);
  const parser = new Parser(tokenize(input, fail), type, fail);
  const head = parser.next();
  if (head.kind !== 'word') throw fail('expected an attribute name');
  const target = parser.resolve(head.text);
  if (parser.isDone()) return { target, filter: undefined, subAttribute: undefined };
  if (
    target.subAttribute !== undefined ||
    target.attribute.subAttributes === undefined ||
    !target.attribute.multiValued
  ) {
    throw fail(`${target.attribute.name} cannot take a value filter`);
  }
  parser.expectPunct('[');
  const filter = parser.parseOr(target);
  parser.expectPunct(']');
  let subAttribute: Attribute | undefined;
  if (!parser.isDone()) {
    const sub = parser.next();
    if (sub.kind !== 'word' || !sub.text.startsWith('.')) throw fail('expected .subAttribute after the filter');
    subAttribute = parser.resolve(sub.text.slice(1), target).subAttribute;
  }
  if (!parser.isDone()) throw fail('unexpected text after the path');
  return { target, filter, subAttribute };
}

// --- evaluation ---------------------------------------------------------------

type Json = Record<string, unknown>;

/** The container of an attribute in a resource's SCIM JSON (the resource, or its extension object). */
export function containerOf(resource: Json, target: AttributeTarget, coreSchemaId: string): Json | undefined {
  if (target.schema.id === coreSchemaId) return resource;
  const extension = resource[target.schema.id];
  return typeof extension === 'object' && extension !== null ? (extension as Json) : undefined;
}

/** Whether `resource` (SCIM JSON of a resource of `type`) matches `filter`. */
export function matches(type: ResourceType, resource: Json, filter: Filter): boolean {
  switch (filter.op) {
    case 'and':
      return matches(type, resource, filter.left) && matches(type, resource, filter.right);
    case 'or':
      return matches(type, resource, filter.left) || matches(type, resource, filter.right);
    case 'not':
      return !matches(type, resource, filter.filter);
    case 'has': {
      const value = containerOf(resource, filter.target, type.schema.id)?.[filter.target.attribute.name];
      const elements = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
      return elements.some((e) => typeof e === 'object' && e !== null && matchesElement(e as Json, filter.filter));
    }
    default:
      return compareValues(valuesOf(type, resource, filter.target), filter);
  }
}

/** Whether one element of a multi-valued attribute matches a value filter (`attr[...]`'s inside). */
export function matchesElement(element: Json, filter: Filter): boolean {
  switch (filter.op) {
    case 'and':
      return matchesElement(element, filter.left) && matchesElement(element, filter.right);
    case 'or':
      return matchesElement(element, filter.left) || matchesElement(element, filter.right);
    case 'not':
      return !matchesElement(element, filter.filter);
    case 'has':
      return false;
    default: {
      const name = filter.target.subAttribute?.name ?? 'value';
      return compareValues(present(element[name]) ? [element[name]] : [], filter);
    }
  }
}

/** The primitive values an attribute path yields (a multi-valued complex attribute yields its `value`s). */
function valuesOf(type: ResourceType, resource: Json, target: AttributeTarget): unknown[] {
  const value = containerOf(resource, target, type.schema.id)?.[target.attribute.name];
  const elements: unknown[] = Array.isArray(value) ? (value as unknown[]) : [value];
  const sub = target.subAttribute?.name ?? (target.attribute.type === 'complex' ? 'value' : undefined);
  const out: unknown[] = [];
  for (const element of elements) {
    const v =
      sub === undefined
        ? element
        : typeof element === 'object' && element !== null
          ? (element as Json)[sub]
          : undefined;
    if (present(v)) out.push(v);
  }
  return out;
}

function present(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0);
}

type Comparison = Extract<Filter, { readonly value: Literal }>;
type Presence = Extract<Filter, { readonly op: 'pr' }>;

function compareValues(values: unknown[], filter: Comparison | Presence): boolean {
  if (filter.op === 'pr') return values.length > 0;
  const attribute = filter.target.subAttribute ?? filter.target.attribute;
  if (filter.value === null) return filter.op === 'eq' ? values.length === 0 : filter.op === 'ne' && values.length > 0;
  if (filter.op === 'ne') return !values.some((v) => compareOne(v, 'eq', filter.value, attribute));
  return values.some((v) => compareOne(v, filter.op, filter.value, attribute));
}

function compareOne(actual: unknown, op: CompareOp, expected: Literal, attribute: Attribute): boolean {
  if (typeof actual === 'boolean' || typeof expected === 'boolean') return op === 'eq' && actual === expected;
  if (attribute.type === 'dateTime' && typeof actual === 'string' && typeof expected === 'string') {
    return order(Date.parse(actual), op, Date.parse(expected));
  }
  if (typeof actual === 'number' && typeof expected === 'number') return order(actual, op, expected);
  if (typeof actual !== 'string' || typeof expected !== 'string') return false;
  const [a, b] = attribute.caseExact ? [actual, expected] : [actual.toLowerCase(), expected.toLowerCase()];
  switch (op) {
    case 'co':
      return a.includes(b);
    case 'sw':
      return a.startsWith(b);
    case 'ew':
      return a.endsWith(b);
    default:
      return order(a < b ? -1 : a > b ? 1 : 0, op, 0);
  }
}

function order<T extends number>(a: T, op: CompareOp, b: T): boolean {
  switch (op) {
    case 'eq':
      return a === b;
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
    default:
      return false;
  }
}

/**
 * An indexable equality the store can look up before the full filter runs:
 * `userName eq "x"`, `externalId eq "x"`, `displayName eq "x"`, `id eq "x"`,
 * alone or as one side of an `and`.
 */
export function indexedEquality(filter: Filter): { attribute: string; value: string } | undefined {
  if (filter.op === 'and') return indexedEquality(filter.left) ?? indexedEquality(filter.right);
  if (filter.op !== 'eq' || typeof filter.value !== 'string' || filter.target.subAttribute !== undefined)
    return undefined;
  const name = filter.target.attribute.name;
  return ['userName', 'externalId', 'displayName', 'id'].includes(name)
    ? { attribute: name, value: filter.value }
    : undefined;
}
