/**
 * "Why was this denied": a sidecar's sampled decisions explained by their id through the gateway's admin
 * API (the recorded input evaluated again with `opa eval --explain full` on the version that decided), a
 * request explained by deciding it again, and decisions the sidecar made without the policy (STALE_DATA).
 * Real NATS, a real gateway and sidecar, the policy uploaded and activated through the admin API.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { runPolicyCli } from '../../src/cli/index.js';
import type { Explanation } from '../../src/explain/index.js';
import { REDACTED } from '../../src/explain/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { EXAMPLE_POLICY_DIR } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const ADMIN = 'acme-admin-explain';
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
let version = '';

const bob = ACME.people['bob']!;
const alice = ACME.people['alice']!;

async function admin(
  method: string,
  path: string,
  body?: unknown,
  token = ADMIN,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gw.origin}/admin/v1/acme${path}`, {
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

/** The explanation of a sampled decision, once its record (published off the Check path) is on the trail. */
async function explanationOf(decisionId: string): Promise<Explanation> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = await admin('GET', `/decisions/${decisionId}/explanation`);
    if (answer.status === 200) return answer.body as unknown as Explanation;
    expect(answer.status).toBe(404);
    if (Date.now() > deadline) throw new Error(`decision ${decisionId} was never recorded`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges());
  gw = await startTestGateway(nats.url, {
    acme: { admin: { bearer_token_sha256: [sha256(ADMIN)] } },
    globex: { admin: { bearer_token_sha256: [sha256('globex-admin-explain')] } },
  });
  sidecar = await startTestSidecar({
    env: {
      IPSIE_NATS_URL: nats.url,
      IPSIE_DECISION_AUDIT_RATE: '1',
      IPSIE_STALE_AFTER_MS: '1000',
      IPSIE_STREAM_PROBE_MS: '200',
    },
  });
  const dir = join(EXAMPLE_POLICY_DIR, 'acme');
  const modules = Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
  const uploaded = await admin('POST', '/policies', { modules: { ...modules, 'release/frozen.rego': FROZEN_RULE } });
  expect(uploaded.status).toBe(201);
  version = String(uploaded.body['version']);
  expect((await admin('POST', `/policies/${version}/activate`)).status).toBe(200);
  const deadline = Date.now() + 10_000;
  while ((await sidecar.tcp.check(writeRepo('api')).catch(() => undefined))?.policy_version !== version) {
    if (Date.now() > deadline) throw new Error('the sidecar never answered under the uploaded version');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

afterAll(async () => {
  await sidecar.stop();
  await gw.stop();
  await producer.close();
  await nats.dispose();
});

function writeRepo(id: string, user = bob.id): CheckRequestMessage {
  return {
    tenant: 'acme',
    subject: { user_id: user },
    action: { name: 'write' },
    resource: { type: 'repository', id },
  };
}

describe('explaining decisions', () => {
  it("a DENY from a tenant rule names that rule's file and line, from the input the sidecar recorded", async () => {
    const answer = await sidecar.tcp.check(writeRepo('release'));
    expect(answer.decision).toBe('DECISION_DENY');
    const explained = await explanationOf(answer.decision_id);
    expect(explained).toMatchObject({
      decision_id: answer.decision_id,
      source: 'sampled',
      decision: 'deny',
      decided_by: 'policy',
      policy_version: version,
      evaluation: { decision: 'deny', agrees: true, platform_changed: false },
    });
    expect(explained.reasons).toHaveLength(1);
    expect(explained.reasons[0]).toMatchObject({
      code: 'REPOSITORY_FROZEN',
      message: 'the repository is frozen for the release',
    });
    expect(explained.reasons[0]?.rules).toContainEqual({
      origin: 'tenant',
      rule: 'deny',
      file: 'release/frozen.rego',
      row: 3,
      value: { code: 'REPOSITORY_FROZEN', message: 'the repository is frozen for the release' },
    });
    // The input as the policy saw it, less what identifies the person.
    expect(explained.input).toMatchObject({
      subject: { id: bob.id, user_name: REDACTED, groups: [expect.objectContaining({ display_name: 'Engineering' })] },
      resource: { type: 'repository', id: 'release' },
    });
    expect(JSON.stringify(explained)).not.toContain(bob.userName);
  });

  it("a STEP_UP from the platform names the platform rule and the tenant's requirement behind it", async () => {
    const answer = await sidecar.tcp.check({
      tenant: 'acme',
      subject: { user_id: alice.id },
      action: { name: 'approve' },
      resource: { type: 'deployment', id: 'd-9' },
    });
    expect(answer.decision).toBe('DECISION_STEP_UP');
    const explained = await explanationOf(answer.decision_id);
    expect(explained).toMatchObject({ decision: 'step_up', decided_by: 'policy', evaluation: { agrees: true } });
    const [reason] = explained.reasons;
    expect(reason?.code).toBe('AUTHENTICATION_REQUIRED');
    const origins = reason?.rules.map((r) => `${r.origin}:${r.rule}:${r.file}`);
    expect(origins).toContain('platform:requirement_failures:authz.rego');
    expect(origins).toContain('tenant:requirement:authz.rego');
  });

  it('a STALE_DATA is explained as the sidecar deciding without the policy, with no input', async () => {
    nats.freeze();
    let decisionId = '';
    try {
      const deadline = Date.now() + 10_000;
      while (decisionId === '') {
        const answer = await sidecar.tcp.check(writeRepo('api'));
        if (answer.reasons.some((r) => r.code === 'STALE_DATA')) decisionId = answer.decision_id;
        else if (Date.now() > deadline) throw new Error('the sidecar never went stale');
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      nats.thaw();
    }
    const explained = await explanationOf(decisionId);
    expect(explained).toMatchObject({ decision: 'deny', decided_by: 'sidecar', input: null, evaluation: null });
    expect(explained.reasons.map((r) => [r.code, r.rules])).toEqual([['STALE_DATA', []]]);
    expect(explained.reasons[0]?.note).toMatch(/entitlement stream/);
  });

  it('a request is explained by deciding it again now, under the active or a named version', async () => {
    const answer = await admin('POST', '/explanations', { request: writeRepo('release'), version });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      source: 'replayed',
      decided_at: null,
      decision: 'deny',
      evaluation: { agrees: true },
    });
    const allowed = await admin('POST', '/explanations', { request: writeRepo('api') });
    expect(allowed.body).toMatchObject({ decision: 'allow', policy_version: version });
    expect((allowed.body as unknown as Explanation).reasons[0]?.rules).toContainEqual(
      expect.objectContaining({ origin: 'tenant', rule: 'allow', file: 'authz.rego', value: true }),
    );
  });

  it('a candidate version is dry-run against the inputs of the decisions sidecars recorded: which of them it would change', async () => {
    const frozen = await sidecar.tcp.check(writeRepo('release'));
    await explanationOf(frozen.decision_id);
    // The candidate: the example policy without the freeze.
    const dir = join(EXAMPLE_POLICY_DIR, 'acme');
    const modules = Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
    const candidate = String((await admin('POST', '/policies', { modules })).body['version']);
    const answer = await admin('POST', `/policies/${candidate}/dry-run`, { recorded: { since_s: 3600 } });
    expect(answer.status).toBe(200);
    const body = answer.body as {
      source: string;
      changed: number;
      skipped: number;
      outcomes: {
        decisionId: string;
        changed: boolean;
        recorded: { decision: string };
        candidate: { decision: string };
      }[];
    };
    expect(body.source).toBe('recorded');
    const thawed = body.outcomes.find((o) => o.decisionId === frozen.decision_id);
    expect(thawed).toMatchObject({ changed: true, recorded: { decision: 'deny' }, candidate: { decision: 'allow' } });
    expect(body.changed).toBe(body.outcomes.filter((o) => o.changed).length);
    // The STALE_DATA one earlier in this file had no input: skipped, never decided as if it had one.
    expect(body.skipped).toBeGreaterThanOrEqual(1);
    expect((await admin('POST', `/policies/${candidate}/dry-run`, { recorded: { limit: 0 } })).status).toBe(400);
  });

  it('evaluates a few explanations at a time and refuses the rest with 429 ERR_EXPLAIN_BUSY, never queueing opa runs', async () => {
    const answers = await Promise.all(
      Array.from({ length: 8 }, async () => await admin('POST', '/explanations', { request: writeRepo('release') })),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
    expect(answers.find((a) => a.status === 429)?.body).toMatchObject({ code: 'ERR_EXPLAIN_BUSY' });
  });

  it('refuses what is not an explanation request, and another tenant never reads acme decisions', async () => {
    const answer = await sidecar.tcp.check(writeRepo('release'));
    await explanationOf(answer.decision_id);
    expect((await admin('GET', '/decisions/not-a-uuid/explanation')).status).toBe(400);
    expect((await admin('GET', `/decisions/${randomUUID()}/explanation`)).status).toBe(404);
    expect((await admin('POST', '/explanations', { request: 'x' })).status).toBe(400);
    expect((await admin('POST', '/explanations', { request: { subject: {} } })).status).toBe(400);
    expect(
      (await admin('GET', `/decisions/${answer.decision_id}/explanation`, undefined, 'globex-admin-explain')).status,
    ).toBe(401);
    const globex = await fetch(`${gw.origin}/admin/v1/globex/decisions/${answer.decision_id}/explanation`, {
      headers: { authorization: 'Bearer globex-admin-explain' },
    });
    expect(globex.status).toBe(404);
  });

  it('the policy CLI prints the rules behind each reason, for a decision id and for a request file', async () => {
    const answer = await sidecar.tcp.check(writeRepo('release'));
    await explanationOf(answer.decision_id);
    const cli = async (...argv: string[]): Promise<{ code: number; out: string }> => {
      const out: string[] = [];
      const code = await runPolicyCli(argv, {
        env: { IPSIE_GATEWAY_URL: gw.origin, IPSIE_TENANT: 'acme', IPSIE_ADMIN_TOKEN: ADMIN },
        out: (line) => out.push(line),
        err: (line) => out.push(line),
      });
      return { code, out: out.join('\n') };
    };
    const byId = await cli('explain', answer.decision_id);
    expect(byId.code).toBe(0);
    expect(byId.out).toContain('REPOSITORY_FROZEN: the repository is frozen for the release');
    expect(byId.out).toMatch(/tenant {3}release\/frozen\.rego:3 {2}deny = \{"code":"REPOSITORY_FROZEN"/);
    const dir = makeTempDir('ipsie-explain-cli-');
    try {
      const file = join(dir.path, 'request.json');
      writeFileSync(file, JSON.stringify(writeRepo('release')));
      const byRequest = await cli('explain', '--request', file, '--json');
      expect(byRequest.code).toBe(0);
      expect(JSON.parse(byRequest.out)).toMatchObject({ source: 'replayed', decision: 'deny' });
      expect((await cli('explain', randomUUID())).code).toBe(1);
      expect((await cli('explain')).code).toBe(2);
    } finally {
      dir.remove();
    }
  });
});
