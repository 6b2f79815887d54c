/**
 * The gateway stays responsive for every tenant while one tenant dry-runs a
 * runaway policy: evaluation runs on workers within a budget, a trapping
 * dry-run is refused naming the version (4xx), and SCIM for another tenant
 * keeps meeting a 1 s deadline meanwhile.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { ScimClient } from '../harness/scim_client.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

let nats: NatsServer;

beforeAll(async () => {
  nats = await NatsServer.start();
});

afterAll(async () => {
  await nats.dispose();
});

interface World {
  readonly gw: TestGateway;
  readonly bobId: string;
  readonly upload: (rules: string) => Promise<string>;
  readonly dryRun: (version: string, action: string, count: number) => Promise<Response>;
}

/** A gateway of its own (the budget is per gateway), acme's admin and one acme user. */
async function world(budgetMs: number): Promise<World> {
  const gw = await startTestGateway(
    nats.url,
    {
      acme: {
        scim: { bearer_token_sha256: [sha256('acme-scim')] },
        admin: { bearer_token_sha256: [sha256('acme-admin')] },
      },
      globex: { scim: { bearer_token_sha256: [sha256('globex-scim')] } },
    },
    { IPSIE_POLICY_WORKERS: '2', IPSIE_POLICY_BUDGET_MS: String(budgetMs) },
  );
  const acme = new ScimClient(gw.origin, 'acme', 'acme-scim');
  const created = await acme.post('/Users', { schemas: [USER], userName: `bob${String(budgetMs)}@acme.example` });
  const bobId = String(created.body?.['id']);
  const admin = { authorization: 'Bearer acme-admin', 'content-type': 'application/json' };
  return {
    gw,
    bobId,
    upload: async (rules) => {
      const response = await fetch(`${gw.origin}/admin/v1/acme/policies`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ modules: { 'authz.rego': `package tenants.acme\n\n${rules}` } }),
      });
      expect(response.status).toBe(201);
      return ((await response.json()) as { version: string }).version;
    },
    dryRun: async (version, action, count) => {
      const request = { subject: { user_id: bobId }, action: { name: action }, resource: { type: 'doc' } };
      return await fetch(`${gw.origin}/admin/v1/acme/policies/${version}/dry-run`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ requests: Array.from({ length: count }, () => request) }),
      });
    },
  };
}

describe('gateway isolation', () => {
  it("another tenant's SCIM meets a 1 s deadline while a runaway dry-run runs", async () => {
    const { gw, upload, dryRun } = await world(500);
    const version = await upload(
      'allow if input.action.name == "read"\n\nallow if {\n\tinput.action.name == "heavy"\n\txs := numbers.range(1, 12000)\n\txs[_] == 0 - xs[_]\n}\n',
    );
    const running = dryRun(version, 'heavy', 3);
    const globex = new ScimClient(gw.origin, 'globex', 'globex-scim');
    for (let i = 0; i < 20; i++) {
      const response = await fetch(`${gw.origin}/scim/v2/globex/Users?count=1`, {
        headers: { authorization: 'Bearer globex-scim' },
        signal: AbortSignal.timeout(1_000),
      });
      expect(response.status).toBe(200);
      await globex.post('/Users', { schemas: [USER], userName: `user${String(i)}@globex.example` });
    }
    const answer = await running;
    expect(answer.status).toBe(200);
    const { outcomes } = (await answer.json()) as { outcomes: { candidate: { reasons: string[] } }[] };
    expect(outcomes.map((o) => o.candidate.reasons)).toEqual([
      ['POLICY_TIMEOUT'],
      ['POLICY_TIMEOUT'],
      ['POLICY_TIMEOUT'],
    ]);
    await gw.stop();
  });

  it('a dry-run whose policy traps (memory exhausted) is 422 naming the version, not 500', async () => {
    // A budget generous enough that the memory-hungry policy traps before it runs out.
    const { gw, upload, dryRun } = await world(60_000);
    const version = await upload(
      'allow if input.action.name == "read"\n\nallow if {\n\tinput.action.name == "huge"\n\tcount(numbers.range(1, 50000000)) > 0\n}\n',
    );
    const answer = await dryRun(version, 'huge', 1);
    expect(answer.status).toBe(422);
    const body = (await answer.json()) as { code: string; detail: string };
    expect(body.code).toBe('ERR_CATALOG_DRY_RUN_FAILED');
    expect(body.detail).toContain(version);
    // The same version's cheap requests still dry-run.
    expect((await dryRun(version, 'read', 1)).status).toBe(200);
    await gw.stop();
  });
});
