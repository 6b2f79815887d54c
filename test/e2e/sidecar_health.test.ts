/** The sidecar's probes and metrics: not ready until policies are loaded and the stream is caught up. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { structFromJson } from '../../src/check/index.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

let nats: NatsServer;
let producer: TestProducer;
let t: TestSidecar;
let base = '';

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges());
  t = await startTestSidecar({
    env: { IPSIE_NATS_URL: nats.url, IPSIE_HEALTH_ADDRESS: '127.0.0.1:0', IPSIE_STALE_AFTER_MS: '500' },
  });
  base = `http://127.0.0.1:${String(t.sidecar.healthPort)}`;
});

afterAll(async () => {
  await t.stop();
  await producer.close();
  await nats.dispose();
});

async function readyz(): Promise<{
  status: number;
  body: { components: Record<string, { ok: boolean; detail: string }> };
}> {
  const response = await fetch(`${base}/readyz`);
  return { status: response.status, body: (await response.json()) as never };
}

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('sidecar probes and metrics', () => {
  it('is live, but not ready while no tenant has a policy; a tenant without one is not ready, the others are', async () => {
    // Its own sidecar: "no policy yet" is a state only a fresh one is in.
    const fresh = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url, IPSIE_HEALTH_ADDRESS: '127.0.0.1:0' } });
    const probes = `http://127.0.0.1:${String(fresh.sidecar.healthPort)}`;
    const ready = async (): Promise<{ status: number; body: { components: Record<string, unknown> } }> => {
      const response = await fetch(`${probes}/readyz`);
      return { status: response.status, body: (await response.json()) as never };
    };
    try {
      expect((await fetch(`${probes}/healthz`)).status).toBe(200);
      const before = await ready();
      expect(before.status).toBe(503);
      expect(before.body.components['policies']).toMatchObject({ ok: false, detail: 'no policy for acme, globex' });
      expect(before.body.components['stream']).toMatchObject({ ok: true });
      await fresh.sidecar.deployPolicy(await examplePolicy('acme'));
      // globex has no policy yet: its own readiness says so, and its Checks fail closed, but acme is served.
      const partly = await ready();
      expect(partly.status).toBe(200);
      expect(partly.body.components['policies']).toMatchObject({
        ok: true,
        detail: 'no policy for globex (the other tenants are served)',
      });
      expect((await fetch(`${probes}/readyz/acme`)).status).toBe(200);
      const globex = await fetch(`${probes}/readyz/globex`);
      expect(globex.status).toBe(503);
      expect(await globex.json()).toMatchObject({ tenant: { ready: false } });
      expect((await fetch(`${probes}/readyz/nosuchtenant`)).status).toBe(404);
      await fresh.sidecar.deployPolicy(await examplePolicy('globex'));
      expect((await ready()).status).toBe(200);
      expect((await fetch(`${probes}/readyz/globex`)).status).toBe(200);
    } finally {
      await fresh.stop();
    }
  });

  it('exports decisions, latency, the stream position and the policy versions', async () => {
    await t.sidecar.deployPolicy(await examplePolicy('acme'));
    const bob = ACME.people['bob']!.id;
    const request = { tenant: 'acme', subject: { user_id: bob }, resource: { type: 'repository' } };
    const before = await (await fetch(`${base}/metrics`)).text();
    await t.tcp.check({ ...request, action: { name: 'write' } });
    await t.tcp.check({ ...request, action: { name: 'write' } });
    await t.tcp.check({ ...request, action: { name: 'pay' } });
    const text = await (await fetch(`${base}/metrics`)).text();
    // Counters only grow: what these three Checks added, whatever ran before.
    const added = (series: string): number => metric(text, series) - metric(before, series);
    expect(added('ipsie_decisions_total{tenant="acme",decision="allow",reason="POLICY_ALLOWED"}')).toBe(2);
    expect(added('ipsie_decisions_total{tenant="acme",decision="deny",reason="POLICY_DENIED"}')).toBe(1);
    expect(added('ipsie_check_duration_seconds_count{call="check"}')).toBe(3);
    expect(text).toContain(`ipsie_store_applied_sequence ${String(await producer.lastSequence())}`);
    expect(text).toMatch(/ipsie_policy_info\{tenant="acme",version="sha256:\w+"\} 1/);
    expect(text).toContain('ipsie_ingest_stale 0');
  });

  it("counts a tenant's own reason codes as TENANT_DEFINED: a policy cannot add label values", async () => {
    const previous = await examplePolicy('acme');
    const codes = Array.from({ length: 5 }, (_, i) => `ACME_CUSTOM_${String(i)}`);
    const rules = `package tenants.acme\n\nallow := true\n\ndeny contains {"code": input.context.code}\n`;
    await t.sidecar.deployPolicy({ tenantId: 'acme', modules: new Map([['authz.rego', rules]]) });
    try {
      const bob = ACME.people['bob']!.id;
      for (const code of codes) {
        const response = await t.tcp.check({
          tenant: 'acme',
          subject: { user_id: bob },
          action: { name: 'read' },
          resource: { type: 'repository' },
          context: { attributes: structFromJson({ code }) },
        });
        expect(response.reasons.map((r) => r.code)).toEqual([code]);
      }
      const text = await (await fetch(`${base}/metrics`)).text();
      for (const code of codes) expect(text).not.toContain(code);
      expect(text).toContain('ipsie_decisions_total{tenant="acme",decision="deny",reason="TENANT_DEFINED"} 5');
    } finally {
      await t.sidecar.deployPolicy(previous);
    }
  });

  it('is not ready while cut off from the stream longer than the bound, and ready again after', async () => {
    const stream = async (): Promise<unknown> => (await readyz()).body.components['stream'];
    await nats.stop();
    try {
      await until(async () => !((await stream()) as { ok: boolean }).ok);
      const cutOff = await readyz();
      expect(cutOff.status).toBe(503);
      expect(cutOff.body.components['stream']).toMatchObject({
        ok: false,
        detail: 'cut off longer than the staleness bound',
      });
    } finally {
      await nats.restart();
    }
    // The stream part of readiness: whether every tenant has a policy is another test's business.
    await until(async () => ((await stream()) as { ok: boolean }).ok);
  });
});

/** A series' value in a Prometheus text exposition; 0 when it is not there yet. */
function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}
