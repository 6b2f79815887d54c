import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectNats, KvRegister } from '../../src/stream/index.js';
import { TENANT_KEYS_BUCKET_OPTIONS, TenantKeyError } from '../../src/tenant_keys/index.js';
import type { TenantKeys } from '../../src/tenant_keys/index.js';
import { pino } from 'pino';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { awsEnvironment, LocalKms } from '../harness/local_kms.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { makeTempDir } from '../harness/temp_dir.js';

let nats: NatsServer;
let kms: LocalKms;
let gateway: TestGateway;
let sidecar: TestSidecar;
let acmeKey: string;
const dir = makeTempDir('ipsie-keys-e2e-');
const keyFile = join(dir.path, 'keys.json');

beforeAll(async () => {
  nats = await NatsServer.start();
  kms = await LocalKms.start();
  // The AWS SDK's standard environment, for the roles in this process.
  for (const [name, value] of Object.entries(awsEnvironment(kms))) process.env[name] = value;
  writeFileSync(keyFile, JSON.stringify({ keys: { 'globex-1': randomBytes(32).toString('base64') } }));
  acmeKey = await kms.createKey();
  const tenants = {
    acme: {
      admin: { bearer_token_sha256: [sha256('acme-admin')] },
      customer_managed_key: { provider: 'aws_kms', key_id: acmeKey },
    },
    globex: {
      admin: { bearer_token_sha256: [sha256('globex-admin')] },
      customer_managed_key: { provider: 'local', key_id: 'globex-1' },
    },
    initech: { admin: { bearer_token_sha256: [sha256('initech-admin')] } },
  };
  const env = { IPSIE_LOCAL_KEY_FILE: keyFile, IPSIE_TENANT_KEY_REVALIDATE_S: '1' };
  gateway = await startTestGateway(nats.url, tenants, env);
  sidecar = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url, ...env }, tenants });
});
afterAll(async () => {
  await sidecar.stop();
  await gateway.stop();
  await kms.dispose();
  await nats.dispose();
  dir.remove();
});

async function keys(
  tenant: string,
  token: string,
  path = '',
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.origin}/admin/v1/${tenant}/keys${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function codeOf(keys: TenantKeys, tenant: string): string | undefined {
  try {
    keys.cipherOf(tenant);
    return undefined;
  } catch (error) {
    if (error instanceof TenantKeyError) return error.code;
    throw error;
  }
}

async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  await vi.waitFor(
    async () => {
      if (!(await condition())) throw new Error('not yet');
    },
    { timeout: 15_000, interval: 50 },
  );
}

describe('customer-managed keys through the gateway and a sidecar', () => {
  it("the gateway created each CMK tenant's keys at start; the sidecar holds the same; a tenant without one is in clear", () => {
    for (const tenant of ['acme', 'globex']) {
      const sealed = gateway.gateway.tenantKeys.cipherOf(tenant)?.seal('ada@example.com', 'user:u1') ?? '';
      expect(sidecar.sidecar.tenantKeys.cipherOf(tenant)?.open(sealed, 'user:u1')).toBe('ada@example.com');
    }
    expect(gateway.gateway.tenantKeys.cipherOf('initech')).toBeUndefined();
    expect(sidecar.sidecar.readiness().components['tenant_keys']).toMatchObject({ ok: true });
  });

  it('answers the key admin API only to the tenant’s own administrators', async () => {
    expect((await keys('acme', 'globex-admin')).status).toBe(401);
    expect((await keys('acme', 'nope', '/rotate', { data_key: true })).status).toBe(401);
    expect((await keys('acme', 'acme-admin')).status).toBe(200);
  });

  it('states the keys (ids, dates, provider) and never their material', async () => {
    const { status, body } = await keys('acme', 'acme-admin');
    expect(status).toBe(200);
    expect(body).toMatchObject({ tenant: 'acme', state: 'active', provider: 'aws_kms', key_id: acmeKey });
    expect(body['data_keys']).toHaveLength(1);
    const nc = await connectNats({ servers: [nats.url], name: 'reader' }, pino({ level: 'silent' }));
    try {
      const stored = await (await KvRegister.openOrCreate(nc, TENANT_KEYS_BUCKET_OPTIONS(1))).read('acme');
      const record = JSON.parse(stored?.value ?? '{}') as { data_keys: Record<string, { wrapped: string }> };
      const text = JSON.stringify(body);
      for (const key of Object.values(record.data_keys)) expect(text).not.toContain(key.wrapped);
      expect(text).not.toContain('wrapped');
    } finally {
      await nc.close();
    }
    expect(await keys('initech', 'initech-admin')).toMatchObject({
      status: 404,
      body: { code: 'ERR_TENANT_KEY_NOT_CONFIGURED' },
    });
  });

  it.each([
    ['an empty request', {}],
    ['data_key not true', { data_key: 'yes' }],
    ['an unknown field', { data_key: true, force: true }],
    ['a key id with spaces', { key_id: 'alias/my key' }],
    ['a key id too long', { key_id: 'k'.repeat(2049) }],
    ['a body that is not JSON', '{"data_key": tru'],
    ['a body that is an array', '[true]'],
  ])('refuses to rotate on %s (400), and changes nothing', async (_name, body) => {
    const before = await keys('acme', 'acme-admin');
    const refused = await keys('acme', 'acme-admin', '/rotate', body);
    expect(refused).toMatchObject({ status: 400, body: { code: 'ERR_TENANT_KEY_REQUEST_INVALID' } });
    expect((await keys('acme', 'acme-admin')).body['data_keys']).toEqual(before.body['data_keys']);
  });

  it('refuses an oversized body (413)', async () => {
    expect((await keys('acme', 'acme-admin', '/rotate', { key_id: 'k', pad: 'x'.repeat(10_000) })).status).toBe(413);
  });

  it('rotates the data key: the sidecar follows and still opens what was sealed before', async () => {
    const old = sidecar.sidecar.tenantKeys.cipherOf('acme')?.seal('before', 'c') ?? '';
    const rotated = await keys('acme', 'acme-admin', '/rotate', { data_key: true });
    expect(rotated.status).toBe(200);
    expect(rotated.body['data_keys']).toHaveLength(2);
    await until(() => sidecar.sidecar.tenantKeys.cipherOf('acme')?.currentKeyId === rotated.body['current_data_key']);
    expect(sidecar.sidecar.tenantKeys.cipherOf('acme')?.open(old, 'c')).toBe('before');
  });

  it('re-wraps under a new KMS key; a key KMS refuses is the request’s fault (502), not a revocation', async () => {
    const next = await kms.createKey();
    expect(await keys('acme', 'acme-admin', '/rotate', { key_id: next })).toMatchObject({
      status: 200,
      body: { key_id: next, state: 'active' },
    });
    const disabled = await kms.createKey();
    await kms.disableKey(disabled);
    expect(await keys('acme', 'acme-admin', '/rotate', { key_id: disabled })).toMatchObject({
      status: 502,
      body: { code: 'ERR_TENANT_KEY_PROVIDER_FAILED' },
    });
    expect((await keys('acme', 'acme-admin')).body).toMatchObject({ key_id: next, state: 'active' });
    expect(codeOf(gateway.gateway.tenantKeys, 'acme')).toBeUndefined();
  });

  it('revokes only with the tenant named in the confirmation; then every process fails closed for it alone, audited', async () => {
    for (const body of [{}, { confirm: 'globex' }, { confirm: true }, { confirm: 'acme', extra: 1 }]) {
      expect(await keys('acme', 'acme-admin', '/revoke', body)).toMatchObject({
        status: 400,
        body: { code: 'ERR_TENANT_KEY_REQUEST_INVALID' },
      });
    }
    expect(codeOf(sidecar.sidecar.tenantKeys, 'acme')).toBeUndefined();
    const changed: string[] = [];
    sidecar.sidecar.tenantKeys.onChange((tenant) => changed.push(tenant));
    const revoked = await keys('acme', 'acme-admin', '/revoke', { confirm: 'acme' });
    expect(revoked).toMatchObject({ status: 200, body: { state: 'revoked', data_keys: [] } });
    expect(codeOf(gateway.gateway.tenantKeys, 'acme')).toBe('ERR_TENANT_KEY_REVOKED');
    await until(() => changed.includes('acme'));
    expect(codeOf(sidecar.sidecar.tenantKeys, 'acme')).toBe('ERR_TENANT_KEY_REVOKED');
    expect(codeOf(sidecar.sidecar.tenantKeys, 'globex')).toBeUndefined();
    expect(sidecar.sidecar.readiness()).toMatchObject({
      components: { tenant_keys: { ok: true } },
      tenants: { acme: { ready: false, detail: 'keys revoked' } },
    });
    // Irreversible: nothing rotates a shredded tenant back.
    expect(await keys('acme', 'acme-admin', '/rotate', { data_key: true })).toMatchObject({
      status: 403,
      body: { code: 'ERR_TENANT_KEY_REVOKED' },
    });
    const audit = await fetch(`${gateway.origin}/admin/v1/acme/audit`, {
      headers: { authorization: 'Bearer acme-admin' },
    });
    const records = (await audit.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; data: Record<string, unknown> });
    const kinds = records.map((r) => r.kind);
    expect(kinds).toEqual(expect.arrayContaining(['tenant_key.created', 'tenant_key.rotated', 'tenant_key.revoked']));
    expect(kinds.filter((k) => k === 'tenant_key.rotated')).toHaveLength(2);
    // The refused revocations are on the trail too.
    expect(
      records.filter((r) => r.kind === 'admin.action' && String(r.data['action']).includes('revoke')),
    ).toHaveLength(4);
  });

  it('a key removed from the local key file makes the tenant fail closed on the sidecar within the re-validation interval, audited', async () => {
    const beta = gateway.gateway.tenantKeys.cipherOf('globex');
    expect(beta).toBeDefined();
    writeFileSync(keyFile, JSON.stringify({ keys: {} }));
    await until(() => codeOf(sidecar.sidecar.tenantKeys, 'globex') === 'ERR_TENANT_KEY_REVOKED');
    expect((await keys('globex', 'globex-admin')).body).toMatchObject({ state: 'key_revoked' });
    await until(async () => {
      const audit = await fetch(`${gateway.origin}/admin/v1/globex/audit`, {
        headers: { authorization: 'Bearer globex-admin' },
      });
      return (await audit.text()).includes('tenant_key.revoked');
    });
  });
});
