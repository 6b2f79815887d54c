import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { TenantKeyError } from './errors.js';

/**
 * A tenant's unwrapped keys in memory: the data keys its personal data is
 * sealed with (AES-256-GCM), the current one sealing, every known one
 * opening, and the lookup key that turns a value a store must find (a
 * userName, an e-mail) into a keyed hash (HMAC-SHA-256). The lookup key is
 * not rotated with the data keys: a hash written before a rotation must
 * still be found after it. Both are wrapped by the tenant's customer-managed
 * key wherever they are kept (see TenantKeyring); this class never sees it.
 *
 * A sealed value is `s1.<data key id>.<iv>.<ciphertext and tag>` (base64url),
 * bound by its additional data to the tenant and to a context the caller
 * names (the entity it belongs to), so a value copied to another tenant or
 * another entity does not open.
 */
export class TenantCipher {
  readonly tenant: string;
  readonly currentKeyId: string;
  readonly #currentKey: Uint8Array;
  readonly #keys: ReadonlyMap<string, Uint8Array>;
  readonly #lookupKey: Uint8Array;

  /**
   * @param keys every data key that may have sealed a value still kept, by id (32 bytes each)
   * @param currentKeyId the one that seals
   * @param lookupKey the key of the lookup hashes (32 bytes)
   */
  constructor(tenant: string, keys: ReadonlyMap<string, Uint8Array>, currentKeyId: string, lookupKey: Uint8Array) {
    for (const [id, key] of keys) {
      if (!DATA_KEY_ID.test(id)) throw new RangeError(`data key id "${id}" is not ${DATA_KEY_ID.source}`);
      if (key.byteLength !== KEY_BYTES) throw new RangeError(`data key "${id}" is not ${KEY_BYTES} bytes`);
    }
    const currentKey = keys.get(currentKeyId);
    if (currentKey === undefined) throw new RangeError(`the current data key "${currentKeyId}" is not among the keys`);
    if (lookupKey.byteLength !== KEY_BYTES) throw new RangeError(`the lookup key is not ${KEY_BYTES} bytes`);
    this.tenant = tenant;
    this.#keys = keys;
    this.currentKeyId = currentKeyId;
    this.#currentKey = currentKey;
    this.#lookupKey = lookupKey;
  }

  /** `plaintext` sealed with the current data key, bound to the tenant and `context`. */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#currentKey, iv);
    cipher.setAAD(this.#additionalData(context));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_PREFIX}${this.currentKeyId}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  /**
   * The plaintext of a value sealed for this tenant and `context`.
   *
   * @throws {TenantKeyError} `ERR_TENANT_KEY_SEALED_INVALID`: not a sealed value, sealed by a data key this
   *   tenant does not have, or altered, or sealed for another tenant or context
   */
  open(sealed: string, context: string): string {
    const match = SEALED_FORM.exec(sealed);
    if (match === null) throw this.#invalid('is not a sealed value');
    const [, keyId = '', ivText = '', bodyText = ''] = match;
    const key = this.#keys.get(keyId);
    if (key === undefined) throw this.#invalid(`was sealed by data key "${keyId}", which it does not have`);
    const iv = Buffer.from(ivText, 'base64url');
    const body = Buffer.from(bodyText, 'base64url');
    if (iv.byteLength !== IV_BYTES || body.byteLength < TAG_BYTES) throw this.#invalid('is truncated');
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(this.#additionalData(context));
    decipher.setAuthTag(body.subarray(body.byteLength - TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, body.byteLength - TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw this.#invalid('does not open: altered, or sealed for another tenant or entity');
    }
  }

  /** The keyed hash a store finds `value` by; the caller normalizes it first (a userName is lower-cased). */
  lookup(value: string): string {
    return `${LOOKUP_PREFIX}${createHmac('sha256', this.#lookupKey).update(value, 'utf8').digest('base64url')}`;
  }

  /** Whether `hash` is `value`'s lookup hash, in constant time. */
  matches(hash: string, value: string): boolean {
    const expected = Buffer.from(this.lookup(value));
    const given = Buffer.from(hash);
    return expected.byteLength === given.byteLength && timingSafeEqual(expected, given);
  }

  #additionalData(context: string): Buffer {
    return Buffer.from(`ipsie-sealed/v1\0${this.tenant}\0${context}`, 'utf8');
  }

  #invalid(problem: string): TenantKeyError {
    return new TenantKeyError(
      'ERR_TENANT_KEY_SEALED_INVALID',
      this.tenant,
      `a sealed value of ${this.tenant} ${problem}`,
    );
  }
}

/** What a sealed value starts with, and nothing else stored does. */
export const SEALED_PREFIX = 's1.';
/** What a lookup hash starts with. */
export const LOOKUP_PREFIX = 'h1.';
const SEALED_FORM = /^s1\.([A-Za-z0-9_-]{1,64})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/;
/** A data key id: short, and free of the separator. */
export const DATA_KEY_ID = /^[A-Za-z0-9_-]{1,64}$/;
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Whether `value` is a sealed value (by its form; it may still not open). */
export function isSealed(value: unknown): value is string {
  return typeof value === 'string' && value.startsWith(SEALED_PREFIX);
}
