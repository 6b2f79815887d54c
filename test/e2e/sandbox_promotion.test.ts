/**
 * Sandbox tenants (issue 19): `acme.sandbox`, declared in the tenants file beside `acme`, provisioned over
 * SCIM and given a policy of its own through its own admin API, answers Checks with it while production is
 * untouched; production's administrators see the diff and a dry-run of production's recorded decisions, promote
 * on that review, and production's Checks answer with the promoted version. Refused: a stale review, a review
 * used twice or by another tenant, the sandbox's credentials on production (and the other way round), a
 * promotion from another tenant's sandbox. Real NATS, the real gateway, sidecar and `opa`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import type { CheckRequestMessage, CheckResponseMessage } from '../../src/check/index.js';
import { runPolicyCli } from '../../src/cli/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { EXAMPLE_POLICY_DIR } from '../harness/opa.js';
import { ScimClient } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const ACME_ADMIN = 'acme-admin-promotion';
const SANDBOX_ADMIN = 'acme-sandbox-admin-promotion';
const GLOBEX_ADMIN = 'globex-admin-promotion';
const GLOBEX_SANDBOX_ADMIN = 'globex-sandbox-admin-promotion';
const ACME_SCIM = 'acme-scim-promotion';
const SANDBOX_SCIM = 'acme-sandbox-scim-promotion';
const ACME_PEP = 'acme-authzen-promotion';
const SANDBOX_PEP = 'acme-sandbox-authzen-promotion';
/** Written in production's package: a sandbox's policy is its production's (docs/sandbox.md). */
const FROZEN_RULE = `package tenants.acme

deny contains {"code": "REPOSITORY_FROZEN", "message": "the repository is frozen for the release"} if {
	input.resource.type == "repository"
	input.resource.id == "release"
}
`;

let nats: NatsServer;
let producer: TestProducer;
let gw: TestGateway;
let sidecar: TestSidecar;
/** Production's active version when the file starts: the example policy. */
let productionVersion = '';

const bob = ACME.people['bob']!;

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function admin(method: string, tenant: string, path: string, token: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${gw.origin}/admin/v1/${tenant}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

const production = async (method: string, path: string, body?: unknown): Promise<Answer> =>
  await admin(method, 'acme', path, ACME_ADMIN, body);
const sandbox = async (method: string, path: string, body?: unknown): Promise<Answer> =>
  await admin(method, 'acme.sandbox', path, SANDBOX_ADMIN, body);

function exampleModules(): Record<string, string> {
  const dir = join(EXAMPLE_POLICY_DIR, 'acme');
  return Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
}

/** Uploads `modules` to a tenant (versions are content-addressed: 200 when stored already) and activates them. */
async function activeIn(
  call: (method: string, path: string, body?: unknown) => Promise<Answer>,
  modules: Record<string, string>,
): Promise<string> {
  const uploaded = await call('POST', '/policies', { modules });
  expect([200, 201]).toContain(uploaded.status);
  const version = String(uploaded.body['version']);
  expect((await call('POST', `/policies/${version}/activate`)).status).toBe(200);
  return version;
}

function writeRepo(tenant: string, id: string, user = bob.id): CheckRequestMessage {
  return { tenant, subject: { user_id: user }, action: { name: 'write' }, resource: { type: 'repository', id } };
}

/** Polls the sidecar until it answers `request` under `version`. */
async function answeredWith(version: string, request: CheckRequestMessage): Promise<CheckResponseMessage> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = await sidecar.tcp.check(request).catch(() => undefined);
    if (answer?.policy_version === version) return answer;
    if (Date.now() > deadline) throw new Error(`the sidecar never answered ${request.tenant} under ${version}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits until a sampled decision of production is on its audit trail (recorded off the Check path). */
async function recorded(decisionId: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await production('GET', `/decisions/${decisionId}/explanation`)).status !== 200) {
    if (Date.now() > deadline) throw new Error(`decision ${decisionId} was never recorded`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const TESS = 'tess@sandbox.acme.example';

/** Tess, provisioned over SCIM into the sandbox (only there); returns her id. */
async function givenSandboxUser(): Promise<string> {
  const scim = new ScimClient(gw.origin, 'acme.sandbox', SANDBOX_SCIM);
  const filter = `?filter=${encodeURIComponent(`userName eq "${TESS}"`)}`;
  const found = (await scim.request('GET', `/Users${filter}`)).body?.['Resources'] as { id: string }[] | undefined;
  if (found?.[0] !== undefined) return found[0].id;
  const created = await scim.request('POST', '/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: TESS,
    active: true,
  });
  expect(created.status).toBe(201);
  return String(created.body?.['id']);
}

/** The sandbox's frozen version, uploaded and active there. */
async function givenSandboxFrozen(): Promise<string> {
  const version = await activeIn(sandbox, { ...exampleModules(), 'release/frozen.rego': FROZEN_RULE });
  await answeredWith(version, writeRepo('acme.sandbox', 'release', await givenSandboxUser()));
  return version;
}

/** Production's active version back to the example policy, as every test starts. */
async function givenProductionExample(): Promise<void> {
  const active = (await production('GET', '/policies')).body['active'] as { version: string } | null;
  if (active?.version !== productionVersion) {
    expect((await production('POST', `/policies/${productionVersion}/activate`)).status).toBe(200);
  }
  await answeredWith(productionVersion, writeRepo('acme', 'api'));
}

async function auditActions(tenant: string, token: string): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${gw.origin}/admin/v1/${tenant}/audit?limit=1000`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(200);
  return (await response.text())
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as { kind: string; tenant: string; data: Record<string, unknown> })
    .filter((r) => r.kind === 'policy.change')
    .map((r) => ({ tenant: r.tenant, ...r.data }));
}

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges());
  gw = await startTestGateway(nats.url, {
    acme: {
      admin: { bearer_token_sha256: [sha256(ACME_ADMIN)] },
      scim: { bearer_token_sha256: [sha256(ACME_SCIM)] },
    },
    'acme.sandbox': {
      display_name: 'Acme (sandbox)',
      admin: { bearer_token_sha256: [sha256(SANDBOX_ADMIN)] },
      scim: { bearer_token_sha256: [sha256(SANDBOX_SCIM)] },
      // Configuration of its own: an attribute production does not have.
      attribute_catalog: {
        attributes: [
          { name: 'clearance', type: 'integer', description: 'clearance level', source: { claim: 'clearance' } },
        ],
      },
    },
    globex: { admin: { bearer_token_sha256: [sha256(GLOBEX_ADMIN)] } },
    'globex.sandbox': { admin: { bearer_token_sha256: [sha256(GLOBEX_SANDBOX_ADMIN)] } },
  });
  sidecar = await startTestSidecar({
    env: { IPSIE_NATS_URL: nats.url, IPSIE_DECISION_AUDIT_RATE: '1', IPSIE_AUTHZEN_ADDRESS: '127.0.0.1:0' },
    tenants: {
      acme: { authzen: { bearer_token_sha256: [sha256(ACME_PEP)] } },
      'acme.sandbox': { authzen: { bearer_token_sha256: [sha256(SANDBOX_PEP)] } },
    },
  });
  productionVersion = await activeIn(production, exampleModules());
  await answeredWith(productionVersion, writeRepo('acme', 'api'));
});

afterAll(async () => {
  await sidecar.stop();
  await gw.stop();
  await producer.close();
  await nats.dispose();
});

describe('a sandbox of its own', () => {
  it('a user provisioned over SCIM into acme.sandbox is the sandbox’s only: production does not see it', async () => {
    const scim = new ScimClient(gw.origin, 'acme.sandbox', SANDBOX_SCIM);
    const created = await scim.request('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'sam@sandbox.acme.example',
      active: true,
    });
    expect(created.status).toBe(201);
    // Its location names the sandbox as people do.
    expect(created.headers.get('location')).toContain('/scim/v2/acme.sandbox/Users/');
    const filter = `?filter=${encodeURIComponent('userName eq "sam@sandbox.acme.example"')}`;
    expect((await scim.request('GET', `/Users${filter}`)).body).toMatchObject({ totalResults: 1 });
    const inProduction = await new ScimClient(gw.origin, 'acme', ACME_SCIM).request('GET', `/Users${filter}`);
    expect(inProduction.status).toBe(200);
    expect(inProduction.body).toMatchObject({ totalResults: 0 });
    // Nor does production's Check know the sandbox's user, and the sandbox's knows no production user.
    const version = await givenSandboxFrozen();
    const id = String(created.body?.['id']);
    const inSandbox = await answeredWith(version, writeRepo('acme.sandbox', 'api', id));
    expect(inSandbox.reasons.map((r) => r.code)).not.toContain('SUBJECT_UNKNOWN');
    const check = await sidecar.tcp.check(writeRepo('acme', 'api', id));
    expect(check.reasons.map((r) => r.code)).toContain('SUBJECT_UNKNOWN');
    const bobInSandbox = await sidecar.tcp.check(writeRepo('acme.sandbox', 'api'));
    expect(bobInSandbox.reasons.map((r) => r.code)).toContain('SUBJECT_UNKNOWN');
  });

  it('a policy uploaded and tested in the sandbox answers the sandbox’s Checks; production keeps its version', async () => {
    await givenProductionExample();
    const tested = await sandbox('POST', '/policies', {
      modules: { ...exampleModules(), 'release/frozen.rego': FROZEN_RULE },
    });
    expect([200, 201]).toContain(tested.status);
    expect(tested.body['tests']).toMatchObject({ failed: 0 });
    const version = await givenSandboxFrozen();
    expect(version).not.toBe(productionVersion);
    const inSandbox = await answeredWith(version, writeRepo('acme.sandbox', 'release', await givenSandboxUser()));
    expect(inSandbox.reasons.map((r) => r.code)).toContain('REPOSITORY_FROZEN');
    const inProduction = await sidecar.tcp.check(writeRepo('acme', 'release'));
    expect(inProduction).toMatchObject({ policy_version: productionVersion });
    expect(inProduction.reasons.map((r) => r.code)).not.toContain('REPOSITORY_FROZEN');
    // Each catalog holds its own versions: one uploaded to the sandbox only is not production's.
    const only = await sandbox('POST', '/policies', {
      modules: { ...exampleModules(), 'release/frozen.rego': `${FROZEN_RULE}# ${randomUUID()}\n` },
    });
    expect(only.status).toBe(201);
    const listed = (await production('GET', '/policies')).body['versions'] as { version: string }[];
    expect(listed.map((v) => v.version)).not.toContain(only.body['version']);
    expect((await production('GET', `/policies/${String(only.body['version'])}`)).status).toBe(404);
  });
});

describe("the sandbox's AuthZEN PDP", () => {
  it('answers at /acme.sandbox/access/v1 with the sandbox’s policy, only to the sandbox’s callers', async () => {
    const version = await givenSandboxFrozen();
    const evaluation = {
      subject: { type: 'user', id: await givenSandboxUser() },
      action: { name: 'write' },
      resource: { type: 'repository', id: 'release' },
    };
    const ask = async (tenant: string, token: string): Promise<Answer> => {
      const response = await fetch(
        `http://127.0.0.1:${String(sidecar.sidecar.authzenPort)}/${tenant}/access/v1/evaluation`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(evaluation),
        },
      );
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const answer = await ask('acme.sandbox', SANDBOX_PEP);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ decision: false, context: { policy_version: version } });
    const reasons = (answer.body['context'] as { reasons: { code: string }[] }).reasons.map((r) => r.code);
    expect(reasons).toContain('REPOSITORY_FROZEN');
    // Each PDP's callers are its own.
    expect((await ask('acme.sandbox', ACME_PEP)).status).toBe(401);
    expect((await ask('acme', SANDBOX_PEP)).status).toBe(401);
  });
});

describe('promotion to production', () => {
  it('shows the diff and a dry-run of production’s recorded decisions, promotes on that review, and production answers with the promoted version', async () => {
    await givenProductionExample();
    const version = await givenSandboxFrozen();
    // Production traffic the sandbox's version would decide otherwise.
    const sampled = await sidecar.tcp.check(writeRepo('acme', 'release'));
    expect(sampled.decision).toBe('DECISION_ALLOW');
    await recorded(sampled.decision_id);

    const diff = await production('GET', `/promotions/${version}/diff`);
    expect(diff.status).toBe(200);
    expect(diff.body).toMatchObject({
      from: 'acme.sandbox',
      version,
      production: { version: productionVersion },
      data_changed: false,
    });
    const modules = diff.body['modules'] as { file: string; change: string; diff?: string }[];
    expect(modules.find((m) => m.file === 'release/frozen.rego')).toMatchObject({ change: 'added' });
    expect(modules.find((m) => m.file === 'release/frozen.rego')?.diff).toContain('+\tinput.resource.id == "release"');
    expect(modules.find((m) => m.file === 'authz.rego')).toMatchObject({ change: 'same' });

    const review = await production('POST', `/promotions/${version}/review`, { recorded: { since_s: 3600 } });
    expect(review.status).toBe(201);
    expect(review.body['attribute_catalog']).toEqual({ added: ['clearance'], removed: [], changed: [] });
    const dryRun = review.body['dry_run'] as { decisions: number; changed: number; examples: unknown[] };
    expect(dryRun.changed).toBeGreaterThanOrEqual(1);
    expect(dryRun.examples).toContainEqual(
      expect.objectContaining({
        decisionId: sampled.decision_id,
        changed: true,
        recorded: expect.objectContaining({ decision: 'allow' }) as unknown,
        candidate: expect.objectContaining({ decision: 'deny', reasons: ['REPOSITORY_FROZEN'] }) as unknown,
      }),
    );

    const promoted = await production('POST', '/promotions', { review: review.body['review'] });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toMatchObject({
      version,
      previous: productionVersion,
      promoted_from: { tenant: 'acme.sandbox', version, review: review.body['review'] },
    });
    const answer = await answeredWith(version, writeRepo('acme', 'release'));
    expect(answer.decision).toBe('DECISION_DENY');
    expect(answer.reasons.map((r) => r.code)).toContain('REPOSITORY_FROZEN');
    // Production's catalog holds it with where it came from.
    expect((await production('GET', `/policies/${version}`)).body).toMatchObject({
      active: true,
      promoted_from: { tenant: 'acme.sandbox', version },
    });
    // Audited in both tenants, each on its own trail.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const inProduction = await auditActions('acme', ACME_ADMIN);
      const inSandbox = await auditActions('acme.sandbox', SANDBOX_ADMIN);
      const promotedHere = inProduction.find((a) => a['action'] === 'promote' && a['version'] === version);
      const promotedThere = inSandbox.find((a) => a['action'] === 'promoted' && a['version'] === version);
      if (promotedHere !== undefined && promotedThere !== undefined) {
        expect(promotedHere).toMatchObject({ tenant: 'acme', from: 'acme.sandbox', previous: productionVersion });
        expect(promotedThere).toMatchObject({ tenant: 'acme-sandbox', to: 'acme' });
        expect(inSandbox.every((a) => a['tenant'] === 'acme-sandbox')).toBe(true);
        break;
      }
      if (Date.now() > deadline) throw new Error('the promotion was not audited in both tenants');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    // The review was used: it promotes nothing again.
    const again = await production('POST', '/promotions', { review: review.body['review'] });
    expect(again).toMatchObject({ status: 404, body: { code: 'ERR_CATALOG_PROMOTION_REVIEW_UNKNOWN' } });
  });

  it('refuses a promotion whose review saw another active version of production (stale), and one without a review', async () => {
    await givenProductionExample();
    const version = await givenSandboxFrozen();
    const review = await production('POST', `/promotions/${version}/review`, {});
    expect(review.status).toBe(201);
    // Someone activates another version of production after the review was shown.
    const other = await activeIn(production, {
      ...exampleModules(),
      'note.rego': 'package tenants.acme\n\nnote := "another version"\n',
    });
    const stale = await production('POST', '/promotions', { review: review.body['review'] });
    expect(stale).toMatchObject({ status: 409, body: { code: 'ERR_CATALOG_PROMOTION_STALE' } });
    expect((await production('GET', '/policies')).body['active']).toMatchObject({ version: other });
    expect((await production('POST', '/promotions', {})).body).toMatchObject({
      code: 'ERR_CATALOG_PROMOTION_INVALID',
    });
    const forged = await production('POST', '/promotions', { review: 'f'.repeat(32) });
    expect(forged).toMatchObject({ status: 404, body: { code: 'ERR_CATALOG_PROMOTION_REVIEW_UNKNOWN' } });
  });

  it('two promotions on one review at once: one is done, the other refused', async () => {
    await givenProductionExample();
    const version = await givenSandboxFrozen();
    const review = await production('POST', `/promotions/${version}/review`, {});
    const answers = await Promise.all(
      [0, 1].map(async () => await production('POST', '/promotions', { review: review.body['review'] })),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([200, expect.any(Number) as number]);
    const refused = answers.find((a) => a.status !== 200);
    expect(['ERR_CATALOG_PROMOTION_STALE', 'ERR_CATALOG_PROMOTION_REVIEW_UNKNOWN']).toContain(refused?.body['code']);
  });
});

describe('what a sandbox cannot do', () => {
  it("the sandbox's admin token does not open production's admin API, nor production's the sandbox's", async () => {
    expect((await admin('GET', 'acme', '/policies', SANDBOX_ADMIN)).status).toBe(401);
    expect((await admin('POST', 'acme', '/promotions', SANDBOX_ADMIN, { review: 'x' })).status).toBe(401);
    expect((await admin('GET', 'acme.sandbox', '/policies', ACME_ADMIN)).status).toBe(401);
    // By its internal key, too: the key is the same tenant, behind the same credentials.
    expect((await admin('GET', 'acme-sandbox', '/policies', ACME_ADMIN)).status).toBe(401);
    const sandboxScimOnProduction = await new ScimClient(gw.origin, 'acme', SANDBOX_SCIM).request('GET', '/Users');
    expect(sandboxScimOnProduction.status).toBe(401);
    const productionScimOnSandbox = await new ScimClient(gw.origin, 'acme.sandbox', ACME_SCIM).request('GET', '/Users');
    expect(productionScimOnSandbox.status).toBe(401);
  });

  it("the sandbox's administrators reach none of production's users or decisions", async () => {
    await givenProductionExample();
    const decided = await sidecar.tcp.check(writeRepo('acme', 'api'));
    await recorded(decided.decision_id);
    expect(await sandbox('GET', `/decisions/${decided.decision_id}/explanation`)).toMatchObject({
      status: 404,
      body: { code: 'ERR_EXPLAIN_DECISION_UNKNOWN' },
    });
    expect(await sandbox('POST', `/users/${bob.id}/sessions/revoke`)).toMatchObject({
      status: 404,
      body: { code: 'ERR_ADMIN_NOT_FOUND' },
    });
  });

  it('a sandbox promotes into nothing: not from its own admin API, not into another tenant, not on another tenant’s review', async () => {
    const version = await givenSandboxFrozen();
    // The sandbox has no sandbox of its own.
    expect(await sandbox('POST', `/promotions/${version}/review`, {})).toMatchObject({
      status: 404,
      body: { code: 'ERR_CATALOG_PROMOTION_NO_SANDBOX' },
    });
    const globex = async (method: string, path: string, body?: unknown): Promise<Answer> =>
      await admin(method, 'globex', path, GLOBEX_ADMIN, body);
    // Globex's administrators name acme's sandbox as the source: refused, whatever the version.
    expect(await globex('POST', `/promotions/${version}/review`, { from: 'acme.sandbox' })).toMatchObject({
      status: 403,
      body: { code: 'ERR_CATALOG_PROMOTION_SOURCE_FORBIDDEN' },
    });
    expect(await globex('GET', `/promotions/${version}/diff?from=acme-sandbox`)).toMatchObject({
      status: 403,
      body: { code: 'ERR_CATALOG_PROMOTION_SOURCE_FORBIDDEN' },
    });
    // Their own sandbox does not hold acme's version.
    expect((await globex('POST', `/promotions/${version}/review`, {})).status).toBe(404);
    // Acme's review digest means nothing to globex.
    await givenProductionExample();
    const review = await production('POST', `/promotions/${version}/review`, {});
    expect(review.status).toBe(201);
    expect(await globex('POST', '/promotions', { review: review.body['review'] })).toMatchObject({
      status: 404,
      body: { code: 'ERR_CATALOG_PROMOTION_REVIEW_UNKNOWN' },
    });
  });

  it('a tenant id imitating a sandbox key names no tenant the tenants file can declare', async () => {
    await expect(
      startTestGateway(nats.url, { acme: {}, 'acme-sandbox': { admin: { bearer_token_sha256: [sha256('x')] } } }),
    ).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    // A Check naming a tenant beside a sandbox suffix is not a tenant id.
    await expect(sidecar.tcp.check(writeRepo('acme.sandbox.x', 'api'))).rejects.toMatchObject({
      details: expect.stringContaining('not a valid tenant id') as unknown,
    });
  });
});

describe('the policy CLI', () => {
  it('reviews and promotes from the sandbox: prints the diff and the dry-run, then the promoted version', async () => {
    await givenProductionExample();
    const version = await givenSandboxFrozen();
    const lines: string[] = [];
    const io = {
      env: { IPSIE_GATEWAY_URL: gw.origin, IPSIE_TENANT: 'acme', IPSIE_ADMIN_TOKEN: ACME_ADMIN },
      out: (line: string) => lines.push(line),
      err: (line: string) => lines.push(`err: ${line}`),
    };
    // The sandbox's administrators name it as people do.
    const sandboxIo = { ...io, env: { ...io.env, IPSIE_TENANT: 'acme.sandbox', IPSIE_ADMIN_TOKEN: SANDBOX_ADMIN } };
    expect(await runPolicyCli(['list'], sandboxIo)).toBe(0);
    expect(lines.some((line) => line.startsWith(`* ${version}`))).toBe(true);
    lines.length = 0;
    expect(await runPolicyCli(['promote', version], io)).toBe(0);
    const reviewLine = lines.find((l) => l.startsWith('review '));
    expect(reviewLine).toBeDefined();
    expect(lines.join('\n')).toContain('+ release/frozen.rego');
    // Without --review it stops at the review: nothing is promoted blind.
    expect((await production('GET', '/policies')).body['active']).toMatchObject({ version: productionVersion });
    const digest = reviewLine?.split(' ')[1] ?? '';
    lines.length = 0;
    expect(await runPolicyCli(['promote', version, '--review', digest], io)).toBe(0);
    expect(lines.join('\n')).toContain(`active: ${version}`);
    await answeredWith(version, writeRepo('acme', 'release'));
  });
});
