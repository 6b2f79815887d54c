import { SetRefusedError } from './errors.js';

/** A simple subject identifier (RFC 9493, SSF §3). */
export type SimpleSubject =
  | { readonly format: 'email'; readonly email: string }
  | { readonly format: 'iss_sub'; readonly iss: string; readonly sub: string }
  | { readonly format: 'opaque'; readonly id: string }
  | { readonly format: 'account'; readonly uri: string }
  | { readonly format: 'uri'; readonly uri: string }
  | { readonly format: 'did'; readonly url: string }
  | { readonly format: 'phone_number'; readonly phoneNumber: string }
  | { readonly format: 'jwt_id'; readonly iss: string; readonly jti: string }
  | { readonly format: 'saml_assertion_id'; readonly issuer: string; readonly assertionId: string };

const COMPLEX_MEMBERS = ['user', 'device', 'session', 'application', 'tenant', 'org_unit', 'group'] as const;
export type ComplexMember = (typeof COMPLEX_MEMBERS)[number];

/** SSF §3.3: members all describe the same principal. */
export type SubjectIdentifier =
  | SimpleSubject
  | { readonly format: 'complex'; readonly members: Readonly<Partial<Record<ComplexMember, SimpleSubject>>> };

/**
 * Parses a `sub_id`.
 *
 * @throws {SetRefusedError} `invalid_request` naming what is wrong
 */
export function parseSubjectIdentifier(value: unknown, where = 'sub_id'): SubjectIdentifier {
  const o = asObject(value, where);
  if (o['format'] !== 'complex') return parseSimple(o, where);
  const members: Partial<Record<ComplexMember, SimpleSubject>> = {};
  for (const [name, member] of Object.entries(o)) {
    if (name === 'format') continue;
    if (!(COMPLEX_MEMBERS as readonly string[]).includes(name)) continue; // unknown members are ignored (SSF §3.3)
    members[name as ComplexMember] = parseSimple(asObject(member, `${where}.${name}`), `${where}.${name}`);
  }
  if (Object.keys(members).length === 0) throw invalid(`${where} is a complex subject without members`);
  return { format: 'complex', members };
}

function parseSimple(o: Record<string, unknown>, where: string): SimpleSubject {
  const field = (name: string): string => {
    const v = o[name];
    if (typeof v !== 'string' || v === '') throw invalid(`${where}.${name} must be a non-empty string`);
    return v;
  };
  const format = o['format'];
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
      return { format, phoneNumber: field('phone_number') };
    case 'jwt_id':
      return { format, iss: field('iss'), jti: field('jti') };
    case 'saml_assertion_id':
      return { format, issuer: field('issuer'), assertionId: field('assertion_id') };
    case 'complex':
      throw invalid(`${where}: a complex subject cannot be a member of another`);
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
