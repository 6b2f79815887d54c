/** What stands in for a personal value in an explanation's input. */
export const REDACTED = '[redacted]';

/** SCIM user attributes that identify a person rather than describe a role (RFC 7643 §4.1). */
const PERSONAL_ATTRIBUTES: ReadonlySet<string> = new Set([
  'addresses',
  'displayName',
  'emails',
  'ims',
  'name',
  'nickName',
  'phoneNumbers',
  'photos',
  'userName',
  'x509Certificates',
]);

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The policy input as an explanation shows it: the decision-relevant facts (groups, roles, session
 * strength, posture, the request) as they were, the values that identify the person (names, e-mail
 * addresses, phone numbers, IP addresses, user agent) replaced by {@link REDACTED}. Keys stay, so a
 * rule that tests for a value's presence still reads as it did.
 */
export function redactInput(input: unknown): unknown {
  if (!isObject(input)) return input;
  const out: Json = { ...input };
  if (isObject(input['subject'])) {
    const subject: Json = { ...input['subject'] };
    for (const key of ['user_name', 'external_id']) if (subject[key] != null) subject[key] = REDACTED;
    if (isObject(subject['attributes'])) {
      subject['attributes'] = Object.fromEntries(
        Object.entries(subject['attributes']).map(([k, v]) => [k, PERSONAL_ATTRIBUTES.has(k) ? REDACTED : v]),
      );
    }
    out['subject'] = subject;
  }
  if (isObject(input['session'])) out['session'] = redact(input['session'], ['ip']);
  if (isObject(input['context'])) out['context'] = redact(input['context'], ['ip', 'user_agent']);
  return out;
}

function redact(value: Json, keys: readonly string[]): Json {
  const out: Json = { ...value };
  for (const key of keys) if (out[key] != null) out[key] = REDACTED;
  return out;
}
