import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AwsKmsProvider, LocalKeyProvider, TenantKeyError } from '../../src/tenant_keys/index.js';
import type { KeyProvider } from '../../src/tenant_keys/index.js';
import { LOCAL_KMS_CREDENTIALS, LOCAL_KMS_REGION, LocalKms } from '../harness/local_kms.js';
import { freePort } from '../harness/nats_server.js';
import { makeTempDir } from '../harness/temp_dir.js';

async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(TenantKeyError);
    return (error as TenantKeyError).code;
  }
  throw new Error('expected a refusal');
}

const acme = { tenant: 'acme', key: 'data:k1' };

/** What every provider must do, whatever holds its keys. */
function behavesAsAKeyProvider(
  name: string,
  setup: () => Promise<{
    provider: KeyProvider;
    keyId: string;
    otherKeyId: string;
    revoke: (keyId: string) => Promise<void>;
  }>,
): void {
  describe(`${name}: the KeyProvider contract`, () => {
    let provider: KeyProvider;
    let keyId: string;
    let otherKeyId: string;
    let revoke: (keyId: string) => Promise<void>;
    beforeAll(async () => {
      ({ provider, keyId, otherKeyId, revoke } = await setup());
    });

    it('generates a 32-byte data key whose wrapped form unwraps to the same bytes, and holds none of them', async () => {
      const generated = await provider.generateDataKey(keyId, acme);
      expect(generated.plaintext.byteLength).toBe(32);
      expect(Buffer.from(generated.wrapped, 'base64').includes(Buffer.from(generated.plaintext))).toBe(false);
      expect(Buffer.from(await provider.unwrap(keyId, generated.wrapped, acme))).toEqual(
        Buffer.from(generated.plaintext),
      );
    });

    it('refuses to unwrap under another tenant or another slot (the context is authenticated)', async () => {
      const { wrapped } = await provider.generateDataKey(keyId, acme);
      expect(await refusal(provider.unwrap(keyId, wrapped, { tenant: 'globex', key: 'data:k1' }))).toBe(
        'ERR_TENANT_KEY_PROVIDER_FAILED',
      );
      expect(await refusal(provider.unwrap(keyId, wrapped, { tenant: 'acme', key: 'lookup' }))).toBe(
        'ERR_TENANT_KEY_PROVIDER_FAILED',
      );
    });

    it('refuses an altered wrapped key without crashing', async () => {
      const { wrapped } = await provider.generateDataKey(keyId, acme);
      const bytes = Buffer.from(wrapped, 'base64');
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 1;
      expect(await refusal(provider.unwrap(keyId, bytes.toString('base64'), acme))).toBe(
        'ERR_TENANT_KEY_PROVIDER_FAILED',
      );
      expect(await refusal(provider.unwrap(keyId, 'bm90IGEga2V5', acme))).toBe('ERR_TENANT_KEY_PROVIDER_FAILED');
    });

    it('rewraps under another key: the same bytes, which the old key no longer names', async () => {
      const generated = await provider.generateDataKey(keyId, acme);
      const rewrapped = await provider.rewrap(generated.wrapped, keyId, otherKeyId, acme);
      expect(Buffer.from(await provider.unwrap(otherKeyId, rewrapped, acme))).toEqual(Buffer.from(generated.plaintext));
      await expect(provider.unwrap(keyId, rewrapped, acme)).rejects.toBeInstanceOf(TenantKeyError);
    });

    it('answers ERR_TENANT_KEY_REVOKED once the key is revoked, for unwrap, generate and rewrap', async () => {
      const { wrapped } = await provider.generateDataKey(otherKeyId, acme);
      await revoke(otherKeyId);
      expect(await refusal(provider.unwrap(otherKeyId, wrapped, acme))).toBe('ERR_TENANT_KEY_REVOKED');
      expect(await refusal(provider.generateDataKey(otherKeyId, acme))).toBe('ERR_TENANT_KEY_REVOKED');
      expect(await refusal(provider.rewrap(wrapped, otherKeyId, keyId, acme))).toBe('ERR_TENANT_KEY_REVOKED');
    });
  });
}

describe('LocalKeyProvider', () => {
  const dir = makeTempDir('ipsie-keys-');
  const file = join(dir.path, 'keys.json');
  const keys: Record<string, string> = {
    k1: randomBytes(32).toString('base64'),
    k2: randomBytes(32).toString('base64'),
  };
  const write = (): void => {
    writeFileSync(file, JSON.stringify({ keys }));
  };
  afterAll(() => {
    dir.remove();
  });

  behavesAsAKeyProvider('local', async () => {
    write();
    return await Promise.resolve({
      provider: new LocalKeyProvider(file),
      keyId: 'k1',
      otherKeyId: 'k2',
      // Revoked: removed from the file, which is read at every use.
      revoke: async (keyId: string) => {
        Reflect.deleteProperty(keys, keyId);
        write();
        await Promise.resolve();
      },
    });
  });

  it('answers ERR_TENANT_KEY_UNAVAILABLE while the key file cannot be read, and works again once it can', async () => {
    write();
    const provider = new LocalKeyProvider(file);
    const { wrapped } = await provider.generateDataKey('k1', acme);
    rmSync(file);
    expect(await refusal(provider.unwrap('k1', wrapped, acme))).toBe('ERR_TENANT_KEY_UNAVAILABLE');
    write();
    expect((await provider.unwrap('k1', wrapped, acme)).byteLength).toBe(32);
  });

  it('refuses a malformed key file or a key of the wrong length as a provider failure', async () => {
    const provider = new LocalKeyProvider(file);
    writeFileSync(file, '{"keys": ');
    expect(await refusal(provider.generateDataKey('k1', acme))).toBe('ERR_TENANT_KEY_PROVIDER_FAILED');
    writeFileSync(file, JSON.stringify({ keys: { k1: randomBytes(16).toString('base64') } }));
    expect(await refusal(provider.generateDataKey('k1', acme))).toBe('ERR_TENANT_KEY_PROVIDER_FAILED');
    writeFileSync(file, JSON.stringify({ keys: { k1: 42 } }));
    expect(await refusal(provider.generateDataKey('k1', acme))).toBe('ERR_TENANT_KEY_PROVIDER_FAILED');
    // "__proto__" and friends are not keys of the file.
    writeFileSync(file, JSON.stringify({ keys: {} }));
    expect(await refusal(provider.generateDataKey('__proto__', acme))).toBe('ERR_TENANT_KEY_REVOKED');
    write();
  });
});

describe('AwsKmsProvider against local-kms', () => {
  let kms: LocalKms;
  const providers: AwsKmsProvider[] = [];
  const provider = (endpoint: string): AwsKmsProvider => {
    const made = new AwsKmsProvider({ endpoint, region: LOCAL_KMS_REGION, requestTimeoutMs: 2_000, maxAttempts: 1 });
    providers.push(made);
    return made;
  };
  beforeAll(async () => {
    // The SDK's standard chain: credentials from the environment.
    process.env['AWS_ACCESS_KEY_ID'] = LOCAL_KMS_CREDENTIALS.accessKeyId;
    process.env['AWS_SECRET_ACCESS_KEY'] = LOCAL_KMS_CREDENTIALS.secretAccessKey;
    kms = await LocalKms.start();
  });
  afterAll(async () => {
    for (const made of providers) made.destroy();
    await kms.dispose();
  });

  behavesAsAKeyProvider('aws_kms', async () => ({
    provider: provider(kms.url),
    keyId: await kms.createKey(),
    otherKeyId: await kms.createKey(),
    revoke: async (keyId: string) => {
      await kms.disableKey(keyId);
    },
  }));

  it('answers ERR_TENANT_KEY_REVOKED for a key pending deletion and for a key that does not exist', async () => {
    const kmsProvider = provider(kms.url);
    const keyId = await kms.createKey();
    const { wrapped } = await kmsProvider.generateDataKey(keyId, acme);
    await kms.scheduleDeletion(keyId);
    expect(await refusal(kmsProvider.unwrap(keyId, wrapped, acme))).toBe('ERR_TENANT_KEY_REVOKED');
    expect(await refusal(kmsProvider.generateDataKey('6f1c3a52-0000-4000-8000-000000000000', acme))).toBe(
      'ERR_TENANT_KEY_REVOKED',
    );
  });

  it('answers ERR_TENANT_KEY_UNAVAILABLE while KMS is down, and unwraps again once it is back', async () => {
    const kmsProvider = provider(kms.url);
    const keyId = await kms.createKey();
    const { wrapped } = await kmsProvider.generateDataKey(keyId, acme);
    await kms.stop();
    try {
      expect(await refusal(kmsProvider.unwrap(keyId, wrapped, acme))).toBe('ERR_TENANT_KEY_UNAVAILABLE');
    } finally {
      await kms.start();
    }
    expect((await kmsProvider.unwrap(keyId, wrapped, acme)).byteLength).toBe(32);
  });

  it('answers ERR_TENANT_KEY_UNAVAILABLE when nothing listens at the endpoint', async () => {
    const nowhere = provider(`http://127.0.0.1:${await freePort()}`);
    expect(await refusal(nowhere.generateDataKey('any', acme))).toBe('ERR_TENANT_KEY_UNAVAILABLE');
  });
});
