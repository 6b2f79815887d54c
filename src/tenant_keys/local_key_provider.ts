import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { TenantKeyError } from './errors.js';
import type { GeneratedDataKey, KeyContext, KeyProvider } from './key_provider.js';
import { KEY_BYTES } from './tenant_cipher.js';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * Customer-managed keys in a local JSON file, `{"keys": {"<key id>": "<base64 of 32 bytes>"}}`
 * (`IPSIE_LOCAL_KEY_FILE`), for development and tests: AES-256-GCM wrapping with the key id and the context
 * as additional data. The file is read at every call, so a key removed from it is revoked at the next
 * re-validation, as a key disabled in a KMS.
 */
export class LocalKeyProvider implements KeyProvider {
  readonly kind = 'local';
  readonly #path: string;

  constructor(path: string) {
    this.#path = path;
  }

  async generateDataKey(keyId: string, context: KeyContext): Promise<GeneratedDataKey> {
    const plaintext = randomBytes(KEY_BYTES);
    return { plaintext, wrapped: wrap(await this.#key(keyId, context), keyId, plaintext, context) };
  }

  async unwrap(keyId: string, wrapped: string, context: KeyContext): Promise<Uint8Array> {
    return unwrap(await this.#key(keyId, context), keyId, wrapped, context);
  }

  async rewrap(wrapped: string, fromKeyId: string, toKeyId: string, context: KeyContext): Promise<string> {
    const plaintext = unwrap(await this.#key(fromKeyId, context), fromKeyId, wrapped, context);
    return wrap(await this.#key(toKeyId, context), toKeyId, plaintext, context);
  }

  async #key(keyId: string, context: KeyContext): Promise<Buffer> {
    let text: string;
    try {
      text = await readFile(this.#path, 'utf8');
    } catch (cause) {
      throw new TenantKeyError('ERR_TENANT_KEY_UNAVAILABLE', context.tenant, `the local key file cannot be read`, {
        cause,
      });
    }
    let keys: unknown;
    try {
      keys = (JSON.parse(text) as { keys?: unknown }).keys;
    } catch (cause) {
      throw failed(context, 'the local key file is not JSON', cause);
    }
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
      throw failed(context, 'the local key file has no "keys" object');
    }
    const encoded: unknown = Object.hasOwn(keys, keyId) ? (keys as Record<string, unknown>)[keyId] : undefined;
    if (encoded === undefined) {
      throw new TenantKeyError(
        'ERR_TENANT_KEY_REVOKED',
        context.tenant,
        `the local key "${keyId.slice(0, 64)}" is not in the key file: revoked`,
      );
    }
    const key = typeof encoded === 'string' ? Buffer.from(encoded, 'base64') : Buffer.alloc(0);
    if (key.byteLength !== KEY_BYTES)
      throw failed(context, `the local key "${keyId}" is not ${KEY_BYTES} bytes of base64`);
    return key;
  }
}

function wrap(key: Buffer, keyId: string, plaintext: Uint8Array, context: KeyContext): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(additionalData(keyId, context));
  return Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

function unwrap(key: Buffer, keyId: string, wrapped: string, context: KeyContext): Uint8Array {
  const bytes = Buffer.from(wrapped, 'base64');
  if (bytes.byteLength !== IV_BYTES + KEY_BYTES + TAG_BYTES)
    throw failed(context, 'a wrapped key is not of this provider');
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(additionalData(keyId, context));
  decipher.setAuthTag(bytes.subarray(IV_BYTES + KEY_BYTES));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, IV_BYTES + KEY_BYTES)), decipher.final()]);
  } catch (cause) {
    throw failed(context, `a wrapped key does not unwrap with "${keyId.slice(0, 64)}" for this context`, cause);
  }
}

/** The key id and the context, canonical (sorted names): the same context always authenticates the same way. */
function additionalData(keyId: string, context: KeyContext): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(['ipsie-local-wrap/v1', keyId, entries]), 'utf8');
}

function failed(context: KeyContext, message: string, cause?: unknown): TenantKeyError {
  return new TenantKeyError(
    'ERR_TENANT_KEY_PROVIDER_FAILED',
    context.tenant,
    message,
    cause === undefined ? undefined : { cause },
  );
}
