import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectNats, KvRegister } from '../../src/stream/index.js';
import type { NatsConnection } from '../../src/stream/index.js';
import {
  keyProviders,
  TENANT_KEYS_BUCKET_OPTIONS,
  TenantKeyError,
  TenantKeyring,
} from '../../src/tenant_keys/index.js';
import { sha256, spawnGatewayProcess } from '../harness/gateway.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { SidecarProcess } from '../harness/sidecar_process.js';
import { makeTempDir } from '../harness/temp_dir.js';

const logger = pino({ level: 'silent' });
let nats: NatsServer;
let gateways: GatewayProcess[];
let nc: NatsConnection;
let reader: TenantKeyring;
let sidecar: SidecarProcess;
const dir = makeTempDir('ipsie-keys-processes-');
const keyFile = join(dir.path, 'keys.json');
const tenants = {
  acme: {
    admin: { bearer_token_sha256: [sha256('acme-admin')] },
    customer_managed_key: { provider: 'local', key_id: 'acme-1' },
  },
  globex: {
    admin: { bearer_token_sha256: [sha256('globex-admin')] },
    customer_managed_key: { provider: 'local', key_id: 'globex-1' },
  },
};

beforeAll(async () => {
  nats = await NatsServer.start();
  writeFileSync(
    keyFile,
    JSON.stringify({
      keys: { 'acme-1': randomBytes(32).toString('base64'), 'globex-1': randomBytes(32).toString('base64') },
    }),
  );
  // Two gateway replicas started at the same moment: both find no keys, both try to create them.
  gateways = await Promise.all(
    [1, 2].map(async () => await spawnGatewayProcess(nats.url, tenants, { IPSIE_LOCAL_KEY_FILE: keyFile })),
  );
  // A sidecar's keyring, in this process.
  nc = await connectNats({ servers: [nats.url], name: 'sidecar-keys' }, logger);
  reader = new TenantKeyring({
    store: await KvRegister.openOrCreate(nc, TENANT_KEYS_BUCKET_OPTIONS(1)),
    tenants: new Map([
      ['acme', { provider: 'local', keyId: 'acme-1', endpoint: undefined, region: undefined }],
      ['globex', { provider: 'local', keyId: 'globex-1', endpoint: undefined, region: undefined }],
    ]),
    providers: keyProviders({ localKeyFile: keyFile }),
    creates: false,
    revalidateMs: 60_000,
    logger,
  });
  await reader.start();
  // And a real sidecar process, with the same tenants file.
  const tenantsFile = join(dir.path, 'tenants.json');
  writeFileSync(tenantsFile, JSON.stringify({ tenants }));
  sidecar = await SidecarProcess.spawn({
    natsUrl: nats.url,
    env: { IPSIE_TENANTS_FILE: tenantsFile, IPSIE_LOCAL_KEY_FILE: keyFile },
  });
}, 120_000);
afterAll(async () => {
  await sidecar.stop();
  await reader.stop();
  await nc.close();
  await Promise.all(
    gateways.map(async (g) => {
      await g.stop();
    }),
  );
  await nats.dispose();
  dir.remove();
});

async function admin(
  gateway: GatewayProcess,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.origin}/admin/v1/acme/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: 'Bearer acme-admin', 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (path === 'audit' ? { records: text } : JSON.parse(text)) as Record<string, unknown>,
  };
}

describe('customer-managed keys across gateway and sidecar processes', () => {
  it('two gateway processes starting at once create the keys once; both and a sidecar process hold the same', async () => {
    const [a, b] = [await admin(gateways[0]!, 'keys'), await admin(gateways[1]!, 'keys')];
    expect(a).toMatchObject({ status: 200, body: { state: 'active' } });
    expect(b.body['data_keys']).toEqual(a.body['data_keys']);
    expect(reader.cipherOf('acme')?.currentKeyId).toBe(a.body['current_data_key']);
    // The sidecar process loaded the same data key.
    const loaded = await sidecar.waitForLog(
      (line) => line['msg'] === 'tenant keys loaded' && line['tenant'] === 'acme',
    );
    expect(loaded['data_key']).toBe(a.body['current_data_key']);
    expect((await sidecar.readyz()).body).toMatchObject({ components: { tenant_keys: { ok: true } } });
    const created = String((await admin(gateways[0]!, 'audit')).body['records'])
      .split('\n')
      .filter((line) => line.includes('"tenant_key.created"'));
    expect(created).toHaveLength(1);
  });

  it('a rotation through one replica reaches the other and the sidecars; a revocation through the other stops them all', async () => {
    const before = reader.cipherOf('acme');
    const sealed = before?.seal('ada@acme.example', 'user:u1') ?? '';
    const changed: string[] = [];
    reader.onChange((tenant) => changed.push(tenant));
    const rotated = await admin(gateways[0]!, 'keys/rotate', { data_key: true });
    expect(rotated.status).toBe(200);
    await vi.waitFor(
      () => {
        expect(reader.cipherOf('acme')?.currentKeyId).toBe(rotated.body['current_data_key']);
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(reader.cipherOf('acme')?.open(sealed, 'user:u1')).toBe('ada@acme.example');
    expect((await admin(gateways[1]!, 'keys')).body).toMatchObject({
      current_data_key: rotated.body['current_data_key'],
      state: 'active',
    });
    expect(await admin(gateways[1]!, 'keys/revoke', { confirm: 'acme' })).toMatchObject({
      status: 200,
      body: { state: 'revoked' },
    });
    await vi.waitFor(
      () => {
        expect(() => reader.cipherOf('acme')).toThrow(TenantKeyError);
      },
      { timeout: 10_000, interval: 20 },
    );
    expect(() => reader.cipherOf('acme')).toThrow(expect.objectContaining({ code: 'ERR_TENANT_KEY_REVOKED' }));
    expect(reader.cipherOf('globex')).toBeDefined();
    expect(changed).toContain('acme');
    await sidecar.waitForLog(
      (line) => line['msg'] === 'tenant keys revoked (crypto-shredded)' && line['tenant'] === 'acme',
    );
    expect((await sidecar.readyz()).body).toMatchObject({
      components: { tenant_keys: { ok: true } },
      tenants: { acme: { ready: false, detail: 'keys revoked' } },
    });
    expect((await admin(gateways[0]!, 'keys/rotate', { data_key: true })).status).toBe(403);
  });
});
