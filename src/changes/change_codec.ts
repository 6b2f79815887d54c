import type { z } from 'zod';
import { CHANGE_DATA, CHANGE_VERSION, changeEnvelopeSchema } from './change.js';
import type { Change, ChangeKind } from './change.js';
import { ChangeRejectedError } from './errors.js';

const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true });
const UTF8_ENCODER = new TextEncoder();
/** A JSON escape of a surrogate: the only way a decoded string can hold a lone one. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ENVELOPE_FIELDS: ReadonlySet<string> = new Set(['v', 'id', 'kind', 'tenant', 'at', 'data']);
/** The fields of each kind's `data` this build interprets; any other is kept in `extra`. */
const DATA_FIELDS = Object.fromEntries(
  Object.entries(CHANGE_DATA).map(([kind, schema]) => [kind, new Set(Object.keys(schema.shape))]),
) as unknown as Record<ChangeKind, ReadonlySet<string>>;

/** Serializes a change for publishing. */
export function encodeChange(change: Change): Uint8Array {
  const { extra, data, ...known } = change;
  const { extra: dataExtra, ...dataKnown } = data as { extra?: Record<string, unknown> };
  // Kept unknown fields go back where they came from, known fields win.
  return UTF8_ENCODER.encode(JSON.stringify({ ...extra, ...known, data: { ...dataExtra, ...dataKnown } }));
}

/**
 * Parses and validates one message against the schemas of src/changes/change.ts.
 * Known fields are type-checked; unknown fields are kept in `extra`;
 * anything wrong rejects the whole change. A lone surrogate in a string
 * becomes U+FFFD, as in the change's subject (UTF-8): SQLite would keep it
 * apart from the other ids that subject stands for, so a store fed live
 * would hold entities the compacted stream no longer has.
 *
 * @throws {ChangeRejectedError} `ERR_CHANGE_MALFORMED` (not UTF-8 JSON object),
 *   `ERR_CHANGE_VERSION_UNSUPPORTED`, `ERR_CHANGE_KIND_UNKNOWN`, `ERR_CHANGE_INVALID` (names the field)
 */
export function decodeChange(bytes: Uint8Array): Change {
  let parsed: unknown;
  try {
    const text = UTF8_DECODER.decode(bytes);
    parsed = SURROGATE_ESCAPE.test(text) ? JSON.parse(text, wellFormed) : JSON.parse(text);
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
  if (!Object.hasOwn(CHANGE_DATA, kind)) {
    throw new ChangeRejectedError('ERR_CHANGE_KIND_UNKNOWN', `unknown change kind "${kind.slice(0, 64)}"`, 'kind');
  }
  const envelope = checked(changeEnvelopeSchema, parsed, '');
  const data = checked(CHANGE_DATA[kind as ChangeKind], envelope.data, 'data.');
  const dataExtra = extraOf(envelope.data, DATA_FIELDS[kind as ChangeKind]);
  const extra = extraOf(parsed, ENVELOPE_FIELDS);
  const change = {
    v: CHANGE_VERSION,
    id: envelope.id,
    tenant: envelope.tenant,
    at: envelope.at,
    kind,
    data: dataExtra === undefined ? data : { ...data, extra: dataExtra },
  };
  return (extra === undefined ? change : { ...change, extra }) as Change;
}

/** `value` as `schema` reads it, or the rejection naming the first field at fault. */
function checked<S extends z.ZodType>(schema: S, value: unknown, prefix: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  // The field the producer got wrong: the path up to an array index (`data.roles`, not `data.roles.3`).
  const path: string[] = [];
  for (const key of issue?.path ?? []) {
    if (typeof key !== 'string') break;
    path.push(key);
  }
  return fail(`${prefix}${path.join('.')}`.replace(/\.$/, ''), issue?.message ?? 'is invalid');
}

function fail(field: string, problem: string): never {
  throw invalid(field, problem);
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

/** `JSON.parse` reviver: strings made well-formed UTF-16 (each lone surrogate U+FFFD). */
function wellFormed(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? value.replace(LONE_SURROGATE, '\uFFFD') : value;
}
