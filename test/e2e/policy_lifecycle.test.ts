/**
 * Tenant policy lifecycle through the gateway's admin API, with the real
 * `opa`, a real NATS (KV + object store) and sidecars that follow
 * activations: upload (compile + the tenant's tests), activate on every
 * sidecar, refuse bad uploads while the old version serves, roll back,
 * dry-run, delete, and tenant isolation.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges, GLOBEX } from '../../demo/example_directory.js';
import type { Change } from '../../src/changes/index.js';
import type { CheckRequestMessage, CheckResponseMessage } from '../../src/check/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { EXAMPLE_POLICY_DIR } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const ACME_ADMIN = 'acme-admin-token';
const GLOBEX_ADMIN = 'globex-admin-token';
const INITECH_ADMIN = 'initech-admin-token';
const bob = ACME.people['bob']!;
/** Initech's one developer: initech is the tenant whose first upload and activation one test watches. */
const INITECH_DEVELOPER = 'initech-developer';

let nats: NatsServer;
let producer: TestProducer;
let gw: TestGateway;
let sidecars: TestSidecar[] = [];

/** The example acme policy as uploaded: its modules and its tests. */
function acmeModules(): Record<string, string> {
  const dir = join(EXAMPLE_POLICY_DIR, 'acme');
  return Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
}

/** The acme policy rewritten for initech (a tenant's modules must be in its own package). */
function initechModules(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(acmeModules()).map(([name, source]) => [name, source.replaceAll(/\bacme\b/g, 'initech')]),
  );
}

/** Initech's directory: the tenant and one member of Engineering. */
function initechDirectory(): Change[] {
  const envelope = { v: 1, tenant: 'initech', at: Date.now() } as const;
  const group = 'initech-engineering';
  return [
    { ...envelope, id: randomUUID(), kind: 'tenant.upsert', data: { display_name: 'Initech' } },
    {
      ...envelope,
      id: randomUUID(),
      kind: 'group.upsert',
      data: { id: group, display_name: 'Engineering', external_id: null },
    },
    {
      ...envelope,
      id: randomUUID(),
      kind: 'user.upsert',
      data: {
        id: INITECH_DEVELOPER,
        user_name: 'dev@initech.example',
        external_id: null,
        active: true,
        attributes: {},
        roles: [],
      },
    },
    { ...envelope, id: randomUUID(), kind: 'member.add', data: { group_id: group, user_id: INITECH_DEVELOPER } },
  ];
}

/** v2: developers may read repositories but no longer write them. */
function readOnlyModules(): Record<string, string> {
  const modules = acmeModules();
  return {
    'authz.rego': (modules['authz.rego'] ?? '').replace('{"type": "repository", "action": "write"},\n', ''),
  };
}

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll([...exampleDirectoryChanges(), ...initechDirectory()]);
  gw = await startTestGateway(nats.url, {
    acme: { admin: { bearer_token_sha256: [sha256(ACME_ADMIN)] } },
    globex: { admin: { bearer_token_sha256: [sha256(GLOBEX_ADMIN)] } },
    initech: { admin: { bearer_token_sha256: [sha256(INITECH_ADMIN)] } },
  });
  sidecars = await Promise.all([0, 1].map(async () => await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } })));
});

afterAll(async () => {
  for (const s of sidecars) await s.stop();
  await gw.stop();
  await producer.close();
  await nats.dispose();
});

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown> & { problems?: Record<string, unknown>[] };
}

async function admin(
  method: string,
  path: string,
  body?: unknown,
  token = ACME_ADMIN,
  tenant = 'acme',
): Promise<Answer> {
  const response = await fetch(`${gw.origin}/admin/v1/${tenant}/policies${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Answer['body']) };
}

const writeRepo: CheckRequestMessage = {
  tenant: 'acme',
  subject: { user_id: bob.id },
  action: { name: 'write' },
  resource: { type: 'repository', id: 'api' },
};

/** Polls every sidecar until each answers `request` under `version`; returns their answers. */
async function everywhere(version: string, request = writeRepo, timeoutMs = 10_000): Promise<CheckResponseMessage[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answers = await Promise.all(sidecars.map(async (s) => await s.tcp.check(request).catch(() => undefined)));
    if (answers.every((a) => a?.policy_version === version)) return answers as CheckResponseMessage[];
    if (Date.now() > deadline) throw new Error(`not every sidecar answers with ${version}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Uploads `modules` unless already there (versions are content-addressed); returns the version. */
async function givenUploaded(modules: Record<string, string>): Promise<string> {
  const uploaded = await admin('POST', '', { modules });
  expect([200, 201]).toContain(uploaded.status);
  return String(uploaded.body['version']);
}

/** Makes `version` acme's active one unless it is already, and waits until every sidecar answers under it. */
async function givenActive(version: string): Promise<string> {
  const active = (await admin('GET', '')).body['active'] as { version: string } | null;
  if (active?.version !== version) expect((await admin('POST', `/${version}/activate`)).status).toBe(200);
  await everywhere(version);
  return version;
}

/** v1 (the example acme policy) active, v2 (read-only developers) uploaded, as the story's middle tests start. */
async function givenV1ActiveAndV2Uploaded(): Promise<{ v1: string; v2: string }> {
  const v1 = await givenActive(await givenUploaded(acmeModules()));
  return { v1, v2: await givenUploaded(readOnlyModules()) };
}

describe('policy lifecycle', () => {
  it('before any upload, a tenant without a policy fails closed', async () => {
    // No test of this file uploads a policy for globex.
    const erin = GLOBEX.people['erin']!;
    const failure = await sidecars[0]!.tcp
      .check({ ...writeRepo, tenant: 'globex', subject: { user_id: erin.id } })
      .catch((e: unknown) => e);
    expect(failure).toMatchObject({ code: status.UNAVAILABLE });
  });

  it('uploads (compiled, tests run), activates, and every sidecar answers with the new version', async () => {
    // Initech: the one tenant whose first upload and first activation happen here.
    const initech = (method: string, path: string): Promise<Answer> =>
      admin(
        method,
        path,
        method === 'POST' && path === '' ? { modules: initechModules() } : undefined,
        INITECH_ADMIN,
        'initech',
      );
    const uploaded = await initech('POST', '');
    expect(uploaded.status).toBe(201);
    expect(uploaded.body).toMatchObject({ tenant: 'initech', active: false, tests: { failed: 0 } });
    const v1 = String(uploaded.body['version']);
    expect(v1).toMatch(/^sha256:/);
    // The same sources again: the same version, not stored twice.
    expect(await initech('POST', '')).toMatchObject({ status: 200, body: { version: v1 } });

    const activated = await initech('POST', `/${v1}/activate`);
    expect(activated).toMatchObject({ status: 200, body: { version: v1, previous: null } });
    const developerWrites = { ...writeRepo, tenant: 'initech', subject: { user_id: INITECH_DEVELOPER } };
    for (const answer of await everywhere(v1, developerWrites)) expect(answer.decision).toBe('DECISION_ALLOW');
  });

  it('a dry run shows which decisions a candidate would change before it is active', async () => {
    const { v1, v2 } = await givenV1ActiveAndV2Uploaded();
    const read = { ...writeRepo, action: { name: 'read' } };
    const run = await admin('POST', `/${v2}/dry-run`, {
      requests: [
        { subject: { user_id: bob.id }, action: { name: 'write' }, resource: { type: 'repository', id: 'api' } },
        { subject: { user_id: bob.id }, action: read.action, resource: { type: 'repository', id: 'api' } },
      ],
    });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({
      candidate: v2,
      current: v1,
      changed: 1,
      outcomes: [
        { changed: true, current: { decision: 'allow' }, candidate: { decision: 'deny', reasons: ['POLICY_DENIED'] } },
        { changed: false, current: { decision: 'allow' }, candidate: { decision: 'allow' } },
      ],
    });
    expect((await admin('POST', `/${v2}/dry-run`, { requests: [{ subject: {} }] })).status).toBe(400);
    // Nothing changed for the sidecars.
    await everywhere(v1);
  });

  it('a dry run names subjects by identifier as the sidecars resolve them', async () => {
    const { v2 } = await givenV1ActiveAndV2Uploaded();
    const write = { action: { name: 'write' }, resource: { type: 'repository', id: 'api' } };
    const run = await admin('POST', `/${v2}/dry-run`, {
      requests: [
        { subject: { identifier: { type: 'identity', id: 'bob' } }, ...write },
        { subject: { identifier: { type: 'user', id: bob.userName } }, ...write },
        { subject: { identifier: { type: 'identity', id: 'nobody' } }, ...write },
      ],
    });
    expect(run.status).toBe(200);
    const bobWrites = { changed: true, current: { decision: 'allow' }, candidate: { decision: 'deny' } };
    expect(run.body).toMatchObject({
      outcomes: [
        bobWrites,
        bobWrites,
        { changed: false, current: { reasons: ['SUBJECT_UNKNOWN'] }, candidate: { reasons: ['SUBJECT_UNKNOWN'] } },
      ],
    });
    const typeless = { requests: [{ subject: { identifier: { id: 'bob' } }, ...write }] };
    expect((await admin('POST', `/${v2}/dry-run`, typeless)).status).toBe(400);
  });

  it('activating v2 changes every sidecar’s answers; a stale expected revision is refused', async () => {
    const { v1, v2 } = await givenV1ActiveAndV2Uploaded();
    const listed = await admin('GET', '');
    const revision = (listed.body['active'] as { revision: number }).revision;
    expect(await admin('POST', `/${v2}/activate`, { expected_revision: revision + 5 })).toMatchObject({
      status: 409,
      body: { code: 'ERR_CATALOG_CONFLICT' },
    });
    expect(await admin('POST', `/${v2}/activate`, { expected_revision: revision })).toMatchObject({
      status: 200,
      body: { version: v2, previous: v1 },
    });
    for (const answer of await everywhere(v2)) {
      expect(answer.decision).toBe('DECISION_DENY');
      expect(answer.reasons.map((r) => r.code)).toEqual(['POLICY_DENIED']);
    }
  });

  it.each([
    [
      'a syntax error',
      { 'authz.rego': 'package tenants.acme\n\nallow if {\n' },
      'ERR_POLICY_COMPILE_FAILED',
      'authz.rego',
    ],
    [
      'a forbidden builtin',
      {
        'authz.rego':
          'package tenants.acme\n\nallow if http.send({"method": "get", "url": "http://x"}).status_code == 200\n',
      },
      'ERR_POLICY_COMPILE_FAILED',
      'authz.rego',
    ],
    [
      'a foreign package',
      { 'authz.rego': 'package tenants.globex\n\nallow := true\n' },
      'ERR_POLICY_MODULE_REJECTED',
      undefined,
    ],
    [
      'the platform package',
      { 'authz.rego': 'package ipsie.authz\n\nallow := true\n' },
      'ERR_POLICY_MODULE_REJECTED',
      undefined,
    ],
    [
      'a failing test',
      {
        'authz.rego': 'package tenants.acme\n\nallow := false\n',
        'authz_test.rego': 'package tenants_test.acme\n\nimport data.tenants.acme\n\ntest_allows if acme.allow\n',
      },
      'ERR_POLICY_TEST_FAILED',
      'authz_test.rego',
    ],
  ])('refuses %s with a precise message; the active version keeps serving', async (_, modules, code, file) => {
    const { v1: active } = await givenV1ActiveAndV2Uploaded();
    const before = (await admin('GET', '')).body['versions'];
    const refused = await admin('POST', '', { modules });
    expect(refused.status).toBe(422);
    expect(refused.body['code']).toBe(code);
    expect(String(refused.body['detail']).length).toBeGreaterThan(10);
    if (file !== undefined) {
      expect(refused.body.problems?.[0]).toMatchObject({ file });
      expect(refused.body.problems?.[0]?.['row']).toBeGreaterThan(0);
    }
    expect((await admin('GET', '')).body['versions']).toEqual(before);
    await everywhere(active);
  });

  it('refuses uploads that are not policies: no modules, too large, not JSON', async () => {
    expect((await admin('POST', '', { modules: {} })).body['code']).toBe('ERR_CATALOG_UPLOAD_INVALID');
    const huge = { 'authz.rego': `package tenants.acme\n# ${'x'.repeat(300_000)}\n` };
    expect(await admin('POST', '', { modules: huge })).toMatchObject({ status: 400 });
    const response = await fetch(`${gw.origin}/admin/v1/acme/policies`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ACME_ADMIN}`, 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(response.status).toBe(400);
  });

  it('rollback restores the previous answers everywhere', async () => {
    const { v1, v2 } = await givenV1ActiveAndV2Uploaded();
    await givenActive(v2);
    expect(await admin('POST', '/rollback')).toMatchObject({ status: 200, body: { version: v1, previous: v2 } });
    for (const answer of await everywhere(v1)) expect(answer.decision).toBe('DECISION_ALLOW');
  });

  it('a sidecar started later loads the active version before it serves', async () => {
    const v1 = await givenActive(await givenUploaded(acmeModules()));
    const late = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } });
    try {
      const first = await late.tcp.check(writeRepo);
      expect(first).toMatchObject({ decision: 'DECISION_ALLOW', policy_version: v1 });
    } finally {
      await late.stop();
    }
  });

  it('reads versions back; deletes only inactive ones', async () => {
    const { v1, v2 } = await givenV1ActiveAndV2Uploaded();
    const one = await admin('GET', `/${v2}`);
    expect(one).toMatchObject({ status: 200, body: { version: v2, active: false } });
    expect(Object.keys(one.body['modules'] as object)).toEqual(['authz.rego']);
    expect(await admin('DELETE', `/${v1}`)).toMatchObject({
      status: 409,
      body: { code: 'ERR_CATALOG_CONFLICT' },
    });
    expect((await admin('DELETE', `/${v2}`)).status).toBe(204);
    expect((await admin('GET', `/${v2}`)).status).toBe(404);
    expect((await admin('POST', `/${v2}/activate`)).status).toBe(404);
  });

  it('keeps tenants apart', async () => {
    expect((await admin('GET', '', undefined, GLOBEX_ADMIN)).status).toBe(401);
    expect((await admin('POST', '', { modules: acmeModules() }, GLOBEX_ADMIN)).status).toBe(401);
    const globex = await admin('GET', '', undefined, GLOBEX_ADMIN, 'globex');
    expect(globex).toMatchObject({ status: 200, body: { active: null, versions: [] } });
    // acme's version id means nothing in globex (uploaded here again: versions are content-addressed).
    const acme = String((await admin('POST', '', { modules: acmeModules() })).body['version']);
    expect(acme).toMatch(/^sha256:/);
    expect((await admin('POST', `/${acme}/activate`, undefined, GLOBEX_ADMIN, 'globex')).status).toBe(404);
    expect((await admin('GET', `/${acme}`, undefined, GLOBEX_ADMIN, 'globex')).status).toBe(404);
  });
});
