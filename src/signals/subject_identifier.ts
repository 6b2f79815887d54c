import { SetRefusedError } from './errors.js';

/** A subject identifier in a format this receiver reads (RFC 9493 §3.2, SSF §3.4). */
export type SimpleSubject =
  | { readonly format: 'email'; readonly email: string }
  | { readonly format: 'iss_sub'; readonly iss: string; readonly sub: string }
  | { readonly format: 'opaque'; readonly id: string }
  | { readonly format: 'account'; readonly uri: string }
  | { readonly format: 'uri'; readonly uri: string }
  | { readonly format: 'did'; readonly url: string }
  | { readonly format: 'phone_number'; readonly phoneNumber: string }
  | { readonly format: 'jwt_id'; readonly iss: string; readonly jti: string }
  | { readonly format: 'saml_assertion_id'; readonly issuer: string; readonly assertionId: string }
  | { readonly format: 'ip-addresses'; readonly addresses: readonly string[] };

/**
 * RFC 9493 §3.2.8: several names of one subject, sent because the
 * transmitter does not know which the receiver recognizes. Only those in a
 * format this receiver reads are kept (possibly none).
 */
export interface AliasesSubject {
  readonly format: 'aliases';
  readonly identifiers: readonly SimpleSubject[];
}

const COMPLEX_MEMBERS = ['user', 'device', 'session', 'application', 'tenant', 'org_unit', 'group'] as const;
export type ComplexMember = (typeof COMPLEX_MEMBERS)[number];

/** The value of a complex subject's member: any RFC 9493 identifier (SSF §3.2). */
export type MemberSubject = SimpleSubject | AliasesSubject;

/** SSF §3.3: members all describe the same principal. */
export interface ComplexSubject {
  readonly format: 'complex';
  /** The members of the names SSF defines whose value this receiver reads. */
  readonly members: Readonly<Partial<Record<ComplexMember, MemberSubject>>>;
  /** Every member name present, other names included (SSF §3.3 allows them). */
  readonly names: readonly string[];
  /** Members present whose value this receiver cannot read: passed over unless critical (SSF §3.5). */
  readonly unreadable: readonly string[];
}

export type SubjectIdentifier = SimpleSubject | AliasesSubject | ComplexSubject;

/** Most identifiers an `aliases` subject may carry: each is a lookup, and one subject needs few names. */
export const MAX_ALIASES = 32;

/**
 * Formats by their earlier names: the `subject_type` values of the drafts
 * before RFC 9493 (as Google's RISC transmitter still sends them), and
 * `phone`, the name SSF §8.1.3.3's example uses.
 */
const FORMAT_NAMES: ReadonlyMap<string, string> = new Map([
  ['iss-sub', 'iss_sub'],
  ['phone', 'phone_number'],
]);

/**
 * Parses a `sub_id` (or a legacy event `subject`).
 *
 * @throws {SetRefusedError} `invalid_request` naming what is wrong: not an
 *   identifier, a format this receiver does not know, aliases that are
 *   nested, empty, too many or all in unknown formats, `format` and
 *   `subject_type` naming different formats
 */
export function parseSubjectIdentifier(value: unknown, where = 'sub_id'): SubjectIdentifier {
  const o = asObject(value, where);
  const format = formatOf(o, where);
  if (format === 'complex') return parseComplex(o, where);
  if (format === 'aliases') {
    const aliases = parseAliases(o, where);
    if (aliases.identifiers.length === 0) {
      throw invalid(`${where}: aliases with no identifier in a format this receiver knows`);
    }
    return aliases;
  }
  return parseSimple(o, format, where);
}

function parseComplex(o: Record<string, unknown>, where: string): ComplexSubject {
  const members: Partial<Record<ComplexMember, MemberSubject>> = {};
  const names: string[] = [];
  const unreadable: string[] = [];
  for (const [name, member] of Object.entries(o)) {
    if (name === 'format' || name === 'subject_type') continue;
    names.push(name);
    if (!(COMPLEX_MEMBERS as readonly string[]).includes(name)) continue;
    try {
      members[name as ComplexMember] = parseMember(member, `${where}.${name}`);
    } catch (error) {
      // SSF §3.5: best effort over every member; the resolver refuses it if it is critical.
      if (!(error instanceof SetRefusedError)) throw error;
      unreadable.push(name);
    }
  }
  if (names.length === 0) throw invalid(`${where} is a complex subject without members`);
  return { format: 'complex', members, names, unreadable };
}

function parseMember(value: unknown, where: string): MemberSubject {
  const o = asObject(value, where);
  const format = formatOf(o, where);
  if (format === 'complex') throw invalid(`${where}: a complex subject cannot be a member of another`);
  if (format === 'aliases') {
    const aliases = parseAliases(o, where);
    if (aliases.identifiers.length === 0) throw invalid(`${where}: no alias in a format this receiver knows`);
    return aliases;
  }
  return parseSimple(o, format, where);
}

function parseAliases(o: Record<string, unknown>, where: string): AliasesSubject {
  const list = o['identifiers'];
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid(`${where}.identifiers must be a non-empty array of subject identifiers (RFC 9493 §3.2.8)`);
  }
  if (list.length > MAX_ALIASES) throw invalid(`${where}: aliases may carry at most ${MAX_ALIASES} identifiers`);
  const identifiers: SimpleSubject[] = [];
  for (const [i, item] of list.entries()) {
    const at = `${where}.identifiers[${i}]`;
    const alias = asObject(item, at);
    if (alias['format'] === 'aliases' || alias['subject_type'] === 'aliases') {
      throw invalid(`${at}: aliases must not be nested (RFC 9493 §3.2.8)`);
    }
    if (alias['format'] === 'complex') throw invalid(`${at}: a complex subject cannot be an alias`);
    try {
      identifiers.push(parseSimple(alias, formatOf(alias, at), at));
    } catch (error) {
      // The point of aliases: the receiver acts on the names it knows and passes over the others.
      if (!(error instanceof SetRefusedError)) throw error;
    }
  }
  return { format: 'aliases', identifiers };
}

/** The identifier's format: `format`, else the legacy `subject_type`; both present, they must agree. */
function formatOf(o: Record<string, unknown>, where: string): string {
  const format = o['format'];
  const legacy = o['subject_type'];
  if (format !== undefined && typeof format !== 'string') throw invalid(`${where}.format must be a string`);
  if (legacy !== undefined && typeof legacy !== 'string') throw invalid(`${where}.subject_type must be a string`);
  const named = format === undefined ? undefined : (FORMAT_NAMES.get(format) ?? format);
  const typed = legacy === undefined ? undefined : (FORMAT_NAMES.get(legacy) ?? legacy);
  if (named !== undefined && typed !== undefined && named !== typed) {
    throw invalid(`${where}: format ${format ?? ''} and subject_type ${legacy ?? ''} name different formats`);
  }
  const chosen = named ?? typed;
  if (chosen === undefined) throw invalid(`${where} has no "format"`);
  return chosen;
}

function parseSimple(o: Record<string, unknown>, format: string, where: string): SimpleSubject {
  const field = (name: string, value: unknown = o[name]): string => {
    if (typeof value !== 'string' || value === '') throw invalid(`${where}.${name} must be a non-empty string`);
    return value;
  };
  switch (format) {
    case 'email':
      return { format, email: field('email') };
    case 'iss_sub':
      return { format, iss: field('iss'), sub: field('sub') };
    case 'opaque':
      return { format, id: field('id') };
    case 'account':
      return { format, uri: field('uri') };
    case 'uri':
      return { format, uri: field('uri') };
    case 'did':
      return { format, url: field('url') };
    case 'phone_number':
      // The drafts' `phone` type named its member `phone`.
      return { format, phoneNumber: field('phone_number', o['phone_number'] ?? o['phone']) };
    case 'jwt_id':
      return { format, iss: field('iss'), jti: field('jti') };
    case 'saml_assertion_id':
      return { format, issuer: field('issuer'), assertionId: field('assertion_id') };
    case 'ip-addresses': {
      const addresses = o['ip-addresses'];
      if (!Array.isArray(addresses) || addresses.length === 0 || addresses.some((a) => typeof a !== 'string')) {
        throw invalid(`${where}.ip-addresses must be a non-empty array of IP addresses`);
      }
      return { format, addresses: addresses as string[] };
    }
    default:
      throw invalid(`${where}.format ${JSON.stringify(format)} is not a subject identifier format this receiver knows`);
  }
}

function asObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(`${where} must be a subject identifier object`);
  }
  return value as Record<string, unknown>;
}

function invalid(message: string): SetRefusedError {
  return new SetRefusedError('invalid_request', message);
}
