import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CustomerManagedKeySettings } from '../../src/config/index.js';
import { connectNats, KvRegister } from '../../src/stream/index.js';
import type { NatsConnection } from '../../src/stream/index.js';
import {
  keyProviders,
  MAX_DATA_KEYS,
  TENANT_KEYS_BUCKET_OPTIONS,
  TenantKeyError,
  TenantKeyring,
} from '../../src/tenant_keys/index.js';
import type { TenantKeyAuditRecord, TenantKeys } from '../../src/tenant_keys/index.js';
import { LOCAL_KMS_CREDENTIALS, LOCAL_KMS_REGION, LocalKms } from '../harness/local_kms.js';
import { NatsServer } from '../harness/nats_server.js';
import { makeTempDir } from '../harness/temp_dir.js';

const logger = pino({ level: 'silent' });
const REVALIDATE_MS = 150;

let nats: NatsServer;
let kms: LocalKms;
const dir = makeTempDir('ipsie-keyring-');
const keyFile = join(dir.path, 'keys.json');
const localKeys: Record<string, string> = {};
const writeKeyFile = (): void => {
  writeFileSync(keyFile, JSON.stringify({ keys: localKeys }));
};
/** Everything a test started, stopped after it. */
const started: { stop(): Promise<void> }[] = [];
const audited: TenantKeyAuditRecord[] = [];

beforeAll(async () => {
  process.env['AWS_ACCESS_KEY_ID'] = LOCAL_KMS_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = LOCAL_KMS_CREDENTIALS.secretAccessKey;
  nats = await NatsServer.start();
  kms = await LocalKms.start();
});
afterEach(async () => {
  for (const item of started.splice(0).reverse()) await item.stop();
  audited.splice(0);
});
afterAll(async () => {
  await kms.dispose();
  await nats.dispose();
  dir.remove();
});

/** A fresh local key in the key file; its id. */
function newLocalKey(): string {
  const id = `k-${randomBytes(6).toString('hex')}`;
  localKeys[id] = randomBytes(32).toString('base64');
  writeKeyFile();
  return id;
}

/** A unique tenant id per test: every test shares the bucket, none shares a tenant. */
function tenantId(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** One process's keyring (its own NATS connection), as the gateway (`creates`) or a sidecar has it. */
async function keyring(
  tenants: ReadonlyMap<string, CustomerManagedKeySettings>,
  options: { creates: boolean; start?: boolean },
): Promise<TenantKeyring> {
  const nc: NatsConnection = await connectNats({ servers: [nats.url], name: 'keyring-test' }, logger);
  const providers = keyProviders({ localKeyFile: keyFile, kmsRequestTimeoutMs: 2_000 });
  const ring = new TenantKeyring({
    store: await KvRegister.openOrCreate(nc, TENANT_KEYS_BUCKET_OPTIONS(1)),
    tenants,
    providers,
    creates: options.creates,
    revalidateMs: REVALIDATE_MS,
    logger,
    audit: async (record) => {
      audited.push(record);
      await Promise.resolve();
    },
  });
  started.push({
    stop: async () => {
      await ring.stop();
      providers.destroy();
      await nc.close();
    },
  });
  if (options.start !== false) await ring.start();
  return ring;
}

function local(keyId: string): CustomerManagedKeySettings {
  return { provider: 'local', keyId, endpoint: undefined, region: undefined };
}

function awsKms(keyId: string): CustomerManagedKeySettings {
  return { provider: 'aws_kms', keyId, endpoint: kms.url, region: LOCAL_KMS_REGION };
}

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (error instanceof TenantKeyError) return error.code;
    throw error;
  }
}

async function until(condition: () => boolean): Promise<void> {
  await vi.waitFor(
    () => {
      if (!condition()) throw new Error('not yet');
    },
    { timeout: 10_000, interval: 20 },
  );
}

function cipher(keys: TenantKeys, tenant: string): NonNullable<ReturnType<TenantKeys['cipherOf']>> {
  const found = keys.cipherOf(tenant);
  if (found === undefined) throw new Error(`${tenant} has no cipher`);
  return found;
}

describe('TenantKeyring', () => {
  it('creates a tenant’s keys once when several gateways start at once; every one holds the same keys', async () => {
    const acme = tenantId();
    const tenants = new Map([[acme, awsKms(await kms.createKey())]]);
    const gateways = await Promise.all(
      Array.from({ length: 5 }, async () => await keyring(tenants, { creates: true, start: false })),
    );
    await Promise.all(
      gateways.map(async (g) => {
        await g.start();
      }),
    );
    expect(audited.filter((r) => r.tenant === acme && r.kind === 'tenant_key.created')).toHaveLength(1);
    const sealed = cipher(gateways[0]!, acme).seal('ada@acme.example', 'user:u1');
    for (const gateway of gateways) {
      expect(cipher(gateway, acme).open(sealed, 'user:u1')).toBe('ada@acme.example');
      expect(cipher(gateway, acme).lookup('ada')).toBe(cipher(gateways[0]!, acme).lookup('ada'));
      expect(cipher(gateway, acme).currentKeyId).toBe(cipher(gateways[0]!, acme).currentKeyId);
    }
  });

  it('a sidecar loads the keys the gateway created; a tenant without a customer-managed key stays in clear', async () => {
    const acme = tenantId();
    const tenants = new Map([[acme, local(newLocalKey())]]);
    const gateway = await keyring(tenants, { creates: true });
    const sidecar = await keyring(tenants, { creates: false });
    const sealed = cipher(gateway, acme).seal('+1 555 0100', 'user:u2');
    expect(cipher(sidecar, acme).open(sealed, 'user:u2')).toBe('+1 555 0100');
    expect(sidecar.cipherOf('clear-tenant')).toBeUndefined();
    expect(sidecar.readiness()).toMatchObject({ ok: true, tenants: { [acme]: { ready: true } } });
  });

  it('a sidecar whose gateway has not created the keys yet answers UNAVAILABLE, then loads them as they appear', async () => {
    const acme = tenantId();
    const tenants = new Map([[acme, local(newLocalKey())]]);
    const sidecar = await keyring(tenants, { creates: false });
    expect(codeOf(() => sidecar.cipherOf(acme))).toBe('ERR_TENANT_KEY_UNAVAILABLE');
    expect(sidecar.readiness().tenants[acme]).toMatchObject({ ready: false });
    expect(sidecar.readiness().detail).toContain(acme);
    const changed: string[] = [];
    sidecar.onChange((tenant) => changed.push(tenant));
    const gateway = await keyring(tenants, { creates: true });
    await until(() => changed.includes(acme));
    expect(cipher(sidecar, acme).currentKeyId).toBe(cipher(gateway, acme).currentKeyId);
  });

  it('rotates the data key while another process keeps opening values sealed before; new values open everywhere', async () => {
    const acme = tenantId();
    const tenants = new Map([[acme, local(newLocalKey())]]);
    const gateway = await keyring(tenants, { creates: true });
    const sidecar = await keyring(tenants, { creates: false });
    const before = cipher(sidecar, acme);
    const old = before.seal('grace@acme.example', 'user:u3');
    const changed: string[] = [];
    sidecar.onChange((tenant) => changed.push(tenant));
    // The sidecar opens old values all along the rotation.
    const reading = { on: true };
    let opened = 0;
    const reader = (async () => {
      while (reading.on) {
        expect(cipher(sidecar, acme).open(old, 'user:u3')).toBe('grace@acme.example');
        opened++;
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const status = await gateway.rotate(acme, { dataKey: true });
    await until(() => changed.includes(acme));
    reading.on = false;
    await reader;
    expect(opened).toBeGreaterThan(0);
    expect(status.data_keys).toHaveLength(2);
    expect(status.current_data_key).not.toBe(before.currentKeyId);
    const after = cipher(sidecar, acme);
    expect(after.currentKeyId).toBe(status.current_data_key);
    expect(after.open(old, 'user:u3')).toBe('grace@acme.example');
    expect(after.lookup('grace')).toBe(before.lookup('grace'));
    expect(after.open(cipher(gateway, acme).seal('new', 'user:u3'), 'user:u3')).toBe('new');
    expect(audited.filter((r) => r.tenant === acme && r.kind === 'tenant_key.rotated')).toHaveLength(1);
  });

  it('two gateways rotating at the same time lose no rotation (compare-and-set), and every process ends with all the keys', async () => {
    const acme = tenantId();
    const tenants = new Map([[acme, local(newLocalKey())]]);
    const [a, b] = [await keyring(tenants, { creates: true }), await keyring(tenants, { creates: true })];
    const sidecar = await keyring(tenants, { creates: false });
    const old = cipher(sidecar, acme).seal('v', 'c');
    await Promise.all(
      [a, b].flatMap((gateway) => Array.from({ length: 4 }, async () => await gateway.rotate(acme, { dataKey: true }))),
    );
    const status = await a.status(acme);
    expect(status.data_keys).toHaveLength(9);
    await until(() => sidecar.cipherOf(acme)?.currentKeyId === status.current_data_key);
    await until(() => a.cipherOf(acme)?.currentKeyId === status.current_data_key);
    await until(() => b.cipherOf(acme)?.currentKeyId === status.current_data_key);
    expect(cipher(sidecar, acme).open(old, 'c')).toBe('v');
    expect(audited.filter((r) => r.tenant === acme && r.kind === 'tenant_key.rotated')).toHaveLength(8);
  });

  it('refuses a data-key rotation past the most data keys a record holds, rather than write a record every process would refuse', async () => {
    const acme = tenantId();
    const keyId = newLocalKey();
    const tenants = new Map([[acme, local(keyId)]]);
    const gateway = await keyring(tenants, { creates: true });
    const nc = await connectNats({ servers: [nats.url], name: 'filler' }, logger);
    started.push({
      stop: async () => {
        await nc.close();
      },
    });
    const bucket = await KvRegister.openOrCreate(nc, TENANT_KEYS_BUCKET_OPTIONS(1));
    const entry = (await bucket.read(acme))!;
    const record = JSON.parse(entry.value) as { data_keys: Record<string, unknown> };
    const provider = keyProviders({ localKeyFile: keyFile })(local(keyId));
    for (let i = Object.keys(record.data_keys).length; i < MAX_DATA_KEYS; i++) {
      const id = `filler_${String(i)}`;
      record.data_keys[id] = {
        wrapped: (await provider.generateDataKey(keyId, { tenant: acme, key: `data:${id}` })).wrapped,
        created_at: i,
      };
    }
    await bucket.replace(acme, JSON.stringify(record), entry.revision);
    await gateway.revalidate();
    await expect(gateway.rotate(acme, { dataKey: true })).rejects.toMatchObject({
      code: 'ERR_TENANT_KEY_REQUEST_INVALID',
    });
    expect((await gateway.status(acme)).data_keys).toHaveLength(MAX_DATA_KEYS);
    expect(gateway.cipherOf(acme)).toBeDefined();
  });

  it('re-wraps every key under a new customer-managed key (admin or tenants file); the old key is no longer needed', async () => {
    const acme = tenantId();
    const first = await kms.createKey();
    const gateway = await keyring(new Map([[acme, awsKms(first)]]), { creates: true });
    const sidecar = await keyring(new Map([[acme, awsKms(first)]]), { creates: false });
    const old = cipher(sidecar, acme).seal('v', 'c');
    const second = await kms.createKey();
    const changed: string[] = [];
    sidecar.onChange((tenant) => changed.push(tenant));
    expect((await gateway.rotate(acme, { keyId: second })).key_id).toBe(second);
    await until(() => changed.includes(acme));
    // A gateway started again with the same tenants file keeps the key the administrator rotated to.
    const sameFile = await keyring(new Map([[acme, awsKms(first)]]), { creates: true });
    expect((await sameFile.status(acme)).key_id).toBe(second);
    await kms.disableKey(first);
    await sidecar.revalidate();
    expect(cipher(sidecar, acme).open(old, 'c')).toBe('v');
    // The tenants file naming a third key: adopted at the gateway's next start.
    const third = await kms.createKey();
    const restarted = await keyring(new Map([[acme, awsKms(third)]]), { creates: true });
    expect((await restarted.status(acme)).key_id).toBe(third);
    await kms.disableKey(second);
    await sidecar.revalidate();
    expect(cipher(sidecar, acme).open(old, 'c')).toBe('v');
    expect(audited.filter((r) => r.tenant === acme && r.kind === 'tenant_key.rotated')).toHaveLength(2);
  });

  it('revocation crypto-shreds: every process answers REVOKED and is told; other tenants are unaffected; a restart does not recreate', async () => {
    const acme = tenantId();
    const globex = tenantId();
    const tenants = new Map([
      [acme, local(newLocalKey())],
      [globex, local(newLocalKey())],
    ]);
    const gateway = await keyring(tenants, { creates: true });
    const sidecars = [await keyring(tenants, { creates: false }), await keyring(tenants, { creates: false })];
    const told: string[][] = sidecars.map(() => []);
    sidecars.forEach((s, i) => s.onChange((tenant) => told[i]!.push(tenant)));
    const globexSealed = cipher(sidecars[0]!, globex).seal('kept', 'c');
    const status = await gateway.revoke(acme);
    expect(status).toMatchObject({ state: 'revoked', data_keys: [] });
    expect(codeOf(() => gateway.cipherOf(acme))).toBe('ERR_TENANT_KEY_REVOKED');
    await until(() => told.every((t) => t.includes(acme)));
    for (const sidecar of sidecars) {
      expect(codeOf(() => sidecar.cipherOf(acme))).toBe('ERR_TENANT_KEY_REVOKED');
      expect(cipher(sidecar, globex).open(globexSealed, 'c')).toBe('kept');
      expect(sidecar.readiness().ok).toBe(true);
    }
    expect(audited.filter((r) => r.tenant === acme && r.kind === 'tenant_key.revoked')).toHaveLength(1);
    const again = await keyring(tenants, { creates: true });
    expect(codeOf(() => again.cipherOf(acme))).toBe('ERR_TENANT_KEY_REVOKED');
    await expect(gateway.rotate(acme, { dataKey: true })).rejects.toMatchObject({ code: 'ERR_TENANT_KEY_REVOKED' });
  });

  it('a key disabled in KMS stops the tenant on every process within the re-validation interval, audited once; re-enabled, it serves again', async () => {
    const acme = tenantId();
    const globex = tenantId();
    const acmeKey = await kms.createKey();
    const tenants = new Map([
      [acme, awsKms(acmeKey)],
      [globex, awsKms(await kms.createKey())],
    ]);
    const gateway = await keyring(tenants, { creates: true });
    const sidecar = await keyring(tenants, { creates: false });
    const told: string[] = [];
    sidecar.onChange((tenant) => told.push(tenant));
    await kms.disableKey(acmeKey);
    await until(
      () =>
        codeOf(() => gateway.cipherOf(acme)) === 'ERR_TENANT_KEY_REVOKED' &&
        codeOf(() => sidecar.cipherOf(acme)) === 'ERR_TENANT_KEY_REVOKED',
    );
    expect(told).toContain(acme);
    expect(sidecar.cipherOf(globex)).toBeDefined();
    expect((await gateway.status(acme)).state).toBe('key_revoked');
    // Both processes noticed it; the same record id makes the audit stream keep one.
    const revoked = audited.filter((r) => r.tenant === acme && r.kind === 'tenant_key.revoked');
    expect(revoked.length).toBeGreaterThan(0);
    expect(new Set(revoked.map((r) => r.id)).size).toBe(1);
    await kms.enableKey(acmeKey);
    await until(() => sidecar.cipherOf(acme) !== undefined && codeOf(() => sidecar.cipherOf(acme)) === undefined);
  });

  it('keeps serving what it holds while KMS is down, and loads a tenant that could not be loaded once KMS is back', async () => {
    const acme = tenantId();
    const tenants = new Map([[acme, awsKms(await kms.createKey())]]);
    const gateway = await keyring(tenants, { creates: true });
    await kms.stop();
    try {
      const sidecar = await keyring(tenants, { creates: false });
      expect(codeOf(() => sidecar.cipherOf(acme))).toBe('ERR_TENANT_KEY_UNAVAILABLE');
      await gateway.revalidate();
      expect(gateway.cipherOf(acme)).toBeDefined();
      await kms.start();
      await until(() => codeOf(() => sidecar.cipherOf(acme)) === undefined);
    } finally {
      await kms.start().catch(() => undefined);
    }
  });

  it('a gateway started while KMS is down creates the keys at the first re-validation once KMS is back', async () => {
    const acme = tenantId();
    const tenants = new Map([[acme, awsKms(await kms.createKey())]]);
    await kms.stop();
    let gateway: TenantKeyring;
    try {
      gateway = await keyring(tenants, { creates: true });
      expect(codeOf(() => gateway.cipherOf(acme))).toBe('ERR_TENANT_KEY_UNAVAILABLE');
      expect((await gateway.status(acme)).state).toBe('absent');
    } finally {
      await kms.start();
    }
    await until(() => codeOf(() => gateway.cipherOf(acme)) === undefined);
    expect(audited.filter((r) => r.tenant === acme && r.kind === 'tenant_key.created')).toHaveLength(1);
  });

  it('refuses a forged or altered record without crashing the watcher, keeps the keys it holds, and follows the next real change', async () => {
    const acme = tenantId();
    const tenants = new Map([[acme, local(newLocalKey())]]);
    const gateway = await keyring(tenants, { creates: true });
    const sidecar = await keyring(tenants, { creates: false });
    const held = cipher(sidecar, acme);
    const sealed = held.seal('secret', 'c');
    const nc = await connectNats({ servers: [nats.url], name: 'forger' }, logger);
    started.push({
      stop: async () => {
        await nc.close();
      },
    });
    const bucket = await KvRegister.openOrCreate(nc, TENANT_KEYS_BUCKET_OPTIONS(1));
    const real = (await bucket.read(acme))!;
    const record = JSON.parse(real.value) as {
      data_keys: Record<string, { wrapped: string }>;
      lookup_key: { wrapped: string };
    };
    const otherKey = newLocalKey();
    const attacker = keyProviders({ localKeyFile: keyFile });
    // Each forgery: not JSON; not a record; a wrapped key altered; the attacker's own data key under another key.
    const forged = [
      'not json',
      JSON.stringify({ v: 1, keys: 'all of them' }),
      JSON.stringify({
        ...record,
        lookup_key: { wrapped: Buffer.from(randomBytes(60)).toString('base64') },
      }),
      JSON.stringify({
        ...record,
        data_keys: Object.fromEntries(
          await Promise.all(
            Object.keys(record.data_keys).map(
              async (id): Promise<[string, { created_at: number; wrapped: string }]> => [
                id,
                {
                  created_at: 1,
                  wrapped: (
                    await attacker(local(otherKey)).generateDataKey(otherKey, { tenant: acme, key: `data:${id}` })
                  ).wrapped,
                },
              ],
            ),
          ),
        ),
      }),
      'x'.repeat(300 * 1024),
    ];
    let revision = real.revision;
    for (const value of forged) {
      revision = (await bucket.replace(acme, value, revision))!;
      await sidecar.revalidate();
      expect(cipher(sidecar, acme).open(sealed, 'c')).toBe('secret');
      expect(cipher(sidecar, acme)).toBe(held);
    }
    // The real record back (an operator restoring it), then a rotation: the watcher still follows.
    await bucket.replace(acme, real.value, revision);
    await gateway.revalidate();
    const changed: string[] = [];
    sidecar.onChange((tenant) => changed.push(tenant));
    await gateway.rotate(acme, { dataKey: true });
    await until(() => changed.includes(acme));
    expect(cipher(sidecar, acme).open(sealed, 'c')).toBe('secret');
    expect(cipher(sidecar, acme).currentKeyId).not.toBe(held.currentKeyId);
  });

  it('a local key removed from the key file revokes the tenant at the next re-validation', async () => {
    const acme = tenantId();
    const keyId = newLocalKey();
    const sidecar = await keyring(new Map([[acme, local(keyId)]]), { creates: true });
    expect(sidecar.cipherOf(acme)).toBeDefined();
    Reflect.deleteProperty(localKeys, keyId);
    writeKeyFile();
    await until(() => codeOf(() => sidecar.cipherOf(acme)) === 'ERR_TENANT_KEY_REVOKED');
  });
});
