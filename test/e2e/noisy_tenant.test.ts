/**
 * One tenant can never slow another: a valid policy that burns CPU for one
 * action (it compiles and passes its tests) is cut off at its budget with DENY
 * POLICY_TIMEOUT, while another tenant's Checks, sent at the same time, meet
 * their deadlines.
 */
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, GLOBEX, provisionExampleTenants } from '../../demo/example_directory.js';
import { structFromJson } from '../../src/check/index.js';
import type { CheckRequestMessage, CheckResponseMessage } from '../../src/check/index.js';
import { examplePolicy } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';

const HEAVY = `package tenants.acme

allow if input.action.name == "read"

allow if {
\tinput.action.name == "heavy"
\txs := numbers.range(1, 12000)
\txs[_] == 0 - xs[_]
}
`;

let t: TestSidecar;

beforeAll(async () => {
  t = await startTestSidecar({
    env: { IPSIE_POLICY_WORKERS: '2', IPSIE_POLICY_BUDGET_MS: '100', IPSIE_HEALTH_ADDRESS: '127.0.0.1:0' },
  });
  provisionExampleTenants(t.sidecar.store);
  await t.sidecar.deployPolicy({ tenantId: 'acme', modules: new Map([['authz.rego', HEAVY]]) });
  await t.sidecar.deployPolicy(await examplePolicy('globex'));
});

afterAll(async () => {
  await t.stop();
});

function check(request: CheckRequestMessage, deadlineMs: number): Promise<CheckResponseMessage> {
  return new Promise((resolve, reject) => {
    t.tcp.raw.check(request, { deadline: Date.now() + deadlineMs }, (error: ServiceError | null, response) => {
      if (error !== null) reject(error);
      else if (response === undefined) reject(new Error('no response'));
      else resolve(response);
    });
  });
}

describe('a noisy tenant', () => {
  it("is cut off at its budget while another tenant's Checks meet a 1 s deadline", async () => {
    const bob = { user_id: ACME.people['bob']!.id };
    const heavy = Promise.all(
      Array.from(
        { length: 10 },
        async () =>
          await check({ tenant: 'acme', subject: bob, action: { name: 'heavy' }, resource: { type: 'doc' } }, 60_000),
      ),
    );
    const erin = GLOBEX.people['erin']!;
    const quiet: string[] = [];
    for (let i = 0; i < 50; i++) {
      const response = await check(
        {
          tenant: 'globex',
          subject: { user_id: erin.id },
          action: { name: 'read' },
          resource: { type: 'document', properties: structFromJson({ department: 'R&D' }) },
        },
        1_000,
      );
      quiet.push(response.decision);
    }
    expect(quiet).toEqual(Array.from({ length: 50 }, () => 'DECISION_ALLOW'));
    expect((await heavy).map((r) => [r.decision, r.reasons.map((reason) => reason.code)])).toEqual(
      Array.from({ length: 10 }, () => ['DECISION_DENY', ['POLICY_TIMEOUT']]),
    );
  });

  it('answers POLICY_TIMEOUT for the runaway request, counts it, and serves its cheap ones again once its share allows', async () => {
    const acme = ACME.people['bob']!;
    const heavy = await check(
      { tenant: 'acme', subject: { user_id: acme.id }, action: { name: 'heavy' }, resource: { type: 'doc' } },
      10_000,
    );
    expect(heavy.decision).toBe('DECISION_DENY');
    expect(heavy.reasons.map((r) => r.code)).toEqual(['POLICY_TIMEOUT']);
    // Throttled after its timeouts: its requests are denied at once until its share of a worker allows again.
    const reads: string[] = [];
    const deadline = Date.now() + 10_000;
    while (reads.at(-1) !== 'DECISION_ALLOW' && Date.now() < deadline) {
      const read = await check(
        { tenant: 'acme', subject: { user_id: acme.id }, action: { name: 'read' }, resource: { type: 'doc' } },
        10_000,
      );
      reads.push(read.decision === 'DECISION_ALLOW' ? read.decision : (read.reasons[0]?.message ?? ''));
      if (read.decision !== 'DECISION_ALLOW') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(reads.at(-1)).toBe('DECISION_ALLOW');
    for (const answer of reads.slice(0, -1)) expect(answer).toMatch(/throttled/);
    const metrics = await (await fetch(`http://127.0.0.1:${String(t.sidecar.healthPort)}/metrics`)).text();
    expect(metrics).toMatch(/ipsie_policy_timeouts_total\{tenant="acme"\} [1-9]/);
    expect(metrics).toContain('ipsie_decisions_total{tenant="acme",decision="deny",reason="POLICY_TIMEOUT"}');
  });
});
