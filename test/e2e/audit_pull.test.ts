/** The tenant's audit trail pulled by its SIEM: NDJSON, cursor resume, tenant isolation. */
import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeIdp } from '../harness/fake_idp.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { ScimClient } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';

let nats: NatsServer;
let gw: TestGateway;
let scim: ScimClient;

beforeAll(async () => {
  nats = await NatsServer.start();
  gw = await startTestGateway(
    nats.url,
    {
      acme: {
        scim: { bearer_token_sha256: [sha256('acme-scim')] },
        admin: { bearer_token_sha256: [sha256('acme-admin')] },
      },
      globex: { admin: { bearer_token_sha256: [sha256('globex-admin')] } },
    },
    { IPSIE_HEALTH_ADDRESS: '127.0.0.1:0' },
  );
  scim = new ScimClient(gw.origin, 'acme', 'acme-scim');
});

afterAll(async () => {
  await gw.stop();
  await nats.dispose();
});

async function pull(
  query: string,
  token = 'acme-admin',
  tenant = 'acme',
): Promise<{ status: number; cursor: number; records: Record<string, unknown>[] }> {
  const response = await fetch(`${gw.origin}/admin/v1/${tenant}/audit${query}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  return {
    status: response.status,
    cursor: Number(response.headers.get('x-ipsie-cursor')),
    records:
      response.status === 200 && text !== ''
        ? text
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line) as Record<string, unknown>)
        : [],
  };
}

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

/** globex's auth.refused records: other tests of this file make some too. */
async function globexRefusals(): Promise<Record<string, unknown>[]> {
  return (await pull('?limit=1000', 'globex-admin', 'globex')).records.filter((r) => r['kind'] === 'auth.refused');
}

describe('audit pull', () => {
  it('returns SCIM writes and admin actions as NDJSON, and resumes from the cursor', async () => {
    const created = await scim.post('/Users', { schemas: [USER], userName: 'ann@acme.example' });
    const id = String(created.body?.['id']);
    await fetch(`${gw.origin}/admin/v1/acme/users/${id}/reauthenticate`, {
      method: 'POST',
      headers: { authorization: 'Bearer acme-admin' },
    });
    const first = await pull('');
    expect(first.status).toBe(200);
    expect(first.records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          kind: 'scim.write',
          tenant: 'acme',
          data: expect.objectContaining({ method: 'POST', status: 201, resource_id: id }) as unknown,
        }),
        expect.objectContaining({
          kind: 'admin.action',
          data: expect.objectContaining({ action: 'reauthenticate', user_id: id }) as unknown,
        }),
      ]) as unknown,
    );
    expect(first.cursor).toBe(first.records.at(-1)?.['seq']);

    // Nothing newer yet: empty, same cursor.
    const idle = await pull(`?after=${first.cursor}`);
    expect(idle).toMatchObject({ status: 200, records: [], cursor: first.cursor });

    await scim.patch(`/Users/${id}`, [{ op: 'replace', path: 'active', value: false }]);
    const next = await pull(`?after=${first.cursor}`);
    expect(next.records.map((r) => [r['kind'], (r['data'] as { method: string }).method])).toEqual([
      ['scim.write', 'PATCH'],
    ]);
  });

  it('refused authentications on every API reach the trail with the reason, never the credential', async () => {
    const sidecar = await startTestSidecar({
      env: { IPSIE_NATS_URL: nats.url, IPSIE_AUTHZEN_ADDRESS: '127.0.0.1:0' },
      tenants: { acme: { authzen: { bearer_token_sha256: [sha256('acme-pep')] } } },
    });
    try {
      const before = (await pull('?limit=1000')).cursor;
      const globexBefore = (await globexRefusals()).length;
      const secret = 'guessed-secret-7f3a';
      await fetch(`${gw.origin}/scim/v2/acme/Users`);
      await fetch(`${gw.origin}/scim/v2/acme/Users`, { headers: { authorization: `Bearer ${secret}` } });
      await fetch(`${gw.origin}/scim/v2/acme/Users`, { headers: { authorization: `Basic ${secret}` } });
      await fetch(`${gw.origin}/admin/v1/acme/policies`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}` },
      });
      await fetch(`${gw.origin}/ssf/v1/acme/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/secevent+jwt' },
        body: 'a.b.c',
      });
      await fetch(`http://127.0.0.1:${String(sidecar.sidecar.authzenPort)}/acme/access/v1/evaluation`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
        body: '{}',
      });
      // Another tenant's credential failures stay out of acme's trail; unknown tenants have none.
      await fetch(`${gw.origin}/admin/v1/globex/policies`, { headers: { authorization: `Bearer ${secret}` } });
      await fetch(`${gw.origin}/admin/v1/nosuchtenant/policies`, { headers: { authorization: `Bearer ${secret}` } });

      const want = [
        ['scim', 'GET', 'missing'],
        ['scim', 'GET', 'not_accepted'],
        ['scim', 'GET', 'malformed'],
        ['admin', 'POST', 'not_accepted'],
        ['ssf', 'POST', 'not_accepted'],
        ['authzen', 'POST', 'not_accepted'],
      ];
      let refused: Record<string, unknown>[] = [];
      for (let i = 0; i < 100 && refused.length < want.length; i++) {
        const { records } = await pull(`?after=${before}&limit=1000`);
        refused = records.filter((r) => r['kind'] === 'auth.refused');
        if (refused.length < want.length) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const seen = refused.map((r) => {
        const data = r['data'] as Record<string, unknown>;
        return [data['api'], data['method'], data['credential']];
      });
      expect(seen.sort()).toEqual(want.sort());
      expect(refused.every((r) => r['tenant'] === 'acme')).toBe(true);
      expect(refused.find((r) => (r['data'] as { api: string }).api === 'admin')?.['data']).toMatchObject({
        status: 401,
        code: 'ERR_ADMIN_UNAUTHORIZED',
        path: '/admin/v1/acme/policies',
      });
      expect(refused.find((r) => (r['data'] as { api: string }).api === 'ssf')?.['data']).toMatchObject({
        code: 'authentication_failed',
      });
      expect(JSON.stringify(refused)).not.toContain(secret);
      // Unauthenticated traffic writes them: they live a week on the stream, not the trail's 90 days.
      const nc = await connect({ servers: nats.url });
      try {
        const stored = await (
          await jetstreamManager(nc)
        ).streams.getMessage('IPSIE_AUDIT', {
          last_by_subj: 'ipsie.audit.acme.auth_refused',
        });
        expect(stored?.header.get('Nats-TTL')).toBe('604800s');
      } finally {
        await nc.close();
      }
      expect(await globexRefusals()).toHaveLength(globexBefore + 1);
    } finally {
      await sidecar.stop();
    }
  });

  it('a refused policy upload and a refused admin action are in the trail with their reason', async () => {
    const before = (await pull('?limit=1000')).cursor;
    const upload = await fetch(`${gw.origin}/admin/v1/acme/policies`, {
      method: 'POST',
      headers: { authorization: 'Bearer acme-admin', 'content-type': 'application/json' },
      body: JSON.stringify({ modules: { 'authz.rego': 'package tenants.acme\n\nallow := true\n\ndeny if true\n' } }),
    });
    expect(upload.status).toBe(422);
    const unknownUser = await fetch(`${gw.origin}/admin/v1/acme/users/no-such-user/reauthenticate`, {
      method: 'POST',
      headers: { authorization: 'Bearer acme-admin' },
    });
    expect(unknownUser.status).toBe(404);
    const actions = (await pull(`?after=${before}&limit=1000`)).records.filter((r) => r['kind'] === 'admin.action');
    expect(actions.map((r) => r['data'])).toEqual([
      expect.objectContaining({
        action: 'POST /policies',
        status: 422,
        code: 'ERR_POLICY_COMPILE_FAILED',
        detail: expect.stringContaining('authz.rego:5:1') as unknown,
      }),
      expect.objectContaining({
        action: 'POST /users/no-such-user/reauthenticate',
        status: 404,
        code: 'ERR_ADMIN_NOT_FOUND',
      }),
    ]);
  });

  it('pages with limit', async () => {
    for (const n of [1, 2, 3]) await scim.post('/Users', { schemas: [USER], userName: `page${n}@acme.example` });
    const all = await pull('');
    const page = await pull('?limit=2');
    expect(page.records).toEqual(all.records.slice(0, 2));
    const rest = await pull(`?after=${page.cursor}&limit=1000`);
    expect([...page.records, ...rest.records]).toEqual(all.records);
  });

  it('the gateway exports requests by API, tenant and status on its metrics port', async () => {
    expect((await scim.post('/Users', { schemas: [USER], userName: 'counted@acme.example' })).status).toBe(201);
    expect((await pull('')).status).toBe(200);
    const text = await (await fetch(`http://127.0.0.1:${String(gw.gateway.healthPort)}/metrics`)).text();
    expect(text).toMatch(/ipsie_gateway_requests_total\{api="scim",tenant="acme",method="POST",status="201"\} \d+/);
    expect(text).toMatch(/ipsie_gateway_requests_total\{api="admin",tenant="acme",method="GET",status="200"\} \d+/);
    expect(text).toContain('ipsie_ingest_stale 0');
    const ready = await fetch(`http://127.0.0.1:${String(gw.gateway.healthPort)}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: 'ready',
      components: { replica: { ok: true, detail: expect.stringMatching(/^caught up at \d+$/) as unknown } },
    });
  });

  it('sampled decisions of a sidecar reach the tenant’s trail (rate 1 here), naming a token subject without the token', async () => {
    const idp = await FakeIdp.start();
    const sidecar = await startTestSidecar({
      env: { IPSIE_NATS_URL: nats.url, IPSIE_DECISION_AUDIT_RATE: '1' },
      tenants: {
        acme: {
          idps: [
            {
              issuer: idp.issuer,
              client_id: 'acme-app',
              jwks_uri: idp.jwksUri,
              link: { claim: 'oid', to: 'externalId' },
            },
          ],
        },
      },
    });
    try {
      await sidecar.sidecar.deployPolicy(await examplePolicy('acme'));
      const before = (await pull('?limit=1000')).cursor;
      const created = await scim.post('/Users', {
        schemas: [USER],
        userName: 'dee@acme.example',
        externalId: 'oid-dee',
      });
      const id = String(created.body?.['id']);
      const sequence = Number(created.headers.get('x-ipsie-sequence'));
      await sidecar.sidecar.ingestor?.waitForSequence(sequence, 10_000);
      // Signed in once (the binding), then a Check presents the IdP's token itself.
      const nonce = randomUUID();
      await sidecar.tcp.startSession({
        tenant: 'acme',
        id_token: await idp.idToken('sub-dee', 'acme-app', { nonce, oid: 'oid-dee' }),
        nonce,
      });
      const token = await idp.idToken('sub-dee', 'acme-app', { oid: 'oid-dee' });
      const answer = await sidecar.tcp.check({
        tenant: 'acme',
        subject: { token },
        action: { name: 'write' },
        resource: { type: 'repository', id: 'api' },
      });
      let decisions: Record<string, unknown>[] = [];
      for (let i = 0; i < 100 && decisions.length === 0; i++) {
        decisions = (await pull(`?after=${before}&limit=1000`)).records.filter(
          (r) => r['kind'] === 'decision' && (r['data'] as { decision_id: string }).decision_id === answer.decision_id,
        );
        if (decisions.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(decisions[0]).toMatchObject({
        tenant: 'acme',
        data: {
          decision_id: answer.decision_id,
          decision: 'deny',
          reasons: ['POLICY_DENIED'],
          subject: { kind: 'identity', issuer: idp.issuer, subject: 'sub-dee' },
          action: 'write',
          resource: { type: 'repository', id: 'api' },
        },
      });
      // The input it recorded (for explanations) is not pulled: the person's attributes stay behind the redacting API.
      expect(decisions[0]?.['data']).toMatchObject({ input_recorded: true });
      expect(decisions[0]?.['data']).not.toHaveProperty('input');
      expect(answer.decision).toBe('DECISION_DENY');
      expect(id).not.toBe('');
      // The record names who asked; the credential itself (nor any part of it) is never in the trail.
      const trail = JSON.stringify((await pull(`?after=${before}&limit=1000`)).records);
      for (const part of token.split('.')) expect(trail).not.toContain(part);
    } finally {
      await sidecar.stop();
      await idp.stop();
    }
  });

  it('keeps tenants apart, and refuses bad queries', async () => {
    expect((await scim.post('/Users', { schemas: [USER], userName: 'apart@acme.example' })).status).toBe(201);
    expect((await pull('', 'globex-admin')).status).toBe(401);
    // globex does nothing but fail to authenticate: none of acme's records are its.
    await fetch(`${gw.origin}/admin/v1/globex/policies`, { headers: { authorization: 'Bearer not-globex-admin' } });
    for (let i = 0; i < 100 && (await globexRefusals()).length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const globex = await pull('', 'globex-admin', 'globex');
    expect(globex.status).toBe(200);
    expect(globex.records.length).toBeGreaterThan(0);
    expect(globex.records.map((r) => [r['tenant'], r['kind']])).toEqual(
      globex.records.map(() => ['globex', 'auth.refused']),
    );
    expect((await pull('?after=-1')).status).toBe(400);
    expect((await pull('?limit=0')).status).toBe(400);
    expect((await pull('?limit=5000')).status).toBe(400);
  });
});
