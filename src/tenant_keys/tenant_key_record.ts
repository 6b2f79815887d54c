import { z } from 'zod';
import { KEY_PROVIDER_KINDS } from '../config/index.js';
import { DATA_KEY_ID } from './tenant_cipher.js';

/** The KV bucket holding every customer-managed-key tenant's wrapped keys, one key per tenant. */
export const TENANT_KEYS_BUCKET = 'ipsie_tenant_keys';

/** The largest record accepted, in bytes: a forged one cannot make a process unwrap without end. */
export const MAX_RECORD_BYTES = 256 * 1024;
/** The most data keys a record may hold (each rotation adds one). */
export const MAX_DATA_KEYS = 256;

const wrapped = z
  .string()
  .min(1)
  .max(8_192)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/);
const keyId = z.string().min(1).max(2_048);

const dataKeys = z
  .record(z.string().regex(DATA_KEY_ID), z.strictObject({ wrapped, created_at: z.number().int().nonnegative() }))
  .refine((keys) => Object.keys(keys).length <= MAX_DATA_KEYS, { error: `holds more than ${MAX_DATA_KEYS} data keys` });

const common = {
  v: z.literal(1),
  provider: z.enum(KEY_PROVIDER_KINDS),
  /** The customer-managed key wrapping every key below (a provider key id, ARN or alias). */
  key_id: keyId,
  /** The tenants file's key id this record last adopted: a change there re-wraps at the gateway's start. */
  file_key_id: keyId,
};

/** A tenant whose keys are in use: the data keys (the current one seals), and the lookup key. */
const activeRecord = z.strictObject({
  ...common,
  current: z.string().regex(DATA_KEY_ID),
  data_keys: dataKeys,
  lookup_key: z.strictObject({ wrapped }),
});

/** A crypto-shredded tenant: its wrapped keys are gone; only when and under which key remains. */
const revokedRecord = z.strictObject({
  ...common,
  data_keys: z.strictObject({}),
  revoked_at: z.number().int().nonnegative(),
});

export const tenantKeyRecordSchema = z
  .union([activeRecord, revokedRecord])
  .refine((r) => !('current' in r) || Object.hasOwn(r.data_keys, r.current), {
    error: 'the current data key is not among the data keys',
  });

/** A tenant's value in {@link TENANT_KEYS_BUCKET}: never key material in clear. */
export type TenantKeyRecord = z.infer<typeof tenantKeyRecordSchema>;
export type ActiveTenantKeyRecord = z.infer<typeof activeRecord>;

/** The record `text` holds, or a problem saying why it is refused (not JSON, too big, not of this form). */
export function parseTenantKeyRecord(text: string): TenantKeyRecord | { readonly problem: string } {
  if (Buffer.byteLength(text, 'utf8') > MAX_RECORD_BYTES) return { problem: `larger than ${MAX_RECORD_BYTES} bytes` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: 'not JSON' };
  }
  const parsed = tenantKeyRecordSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { problem: `${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
  }
  return parsed.data;
}

export function isRevoked(record: TenantKeyRecord): record is Extract<TenantKeyRecord, { revoked_at: number }> {
  return 'revoked_at' in record;
}
