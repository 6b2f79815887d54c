import { describe, expect, it } from 'vitest';
import { explainTrace, PolicyCompiler } from '../../src/policy/index.js';
import type { PolicyInput } from '../../src/policy/index.js';
import { examplePolicy, opaPath, PLATFORM_POLICY_DIR } from '../harness/opa.js';

const compiler = new PolicyCompiler({ opaPath: opaPath(), platformDir: PLATFORM_POLICY_DIR, timeoutMs: 30_000 });

const NOW = 1_800_000_000;

function input(overrides: Partial<PolicyInput> = {}): PolicyInput {
  return {
    tenant: 't1',
    now: NOW,
    subject: { id: 'u1', user_name: 'u1', external_id: null, active: true, attributes: {}, roles: [], groups: [] },
    session: null,
    posture: {},
    action: { name: 'read', properties: {} },
    resource: { type: 'doc', id: 'd1', properties: {} },
    context: {},
    ...overrides,
  };
}

const TENANT = `package tenants.t1

allow if input.action.name in {"read", "delete"}

deny contains {"code": "FROZEN", "message": "the document is frozen"} if input.resource.properties.frozen == true

deny contains "interns may not delete" if {
	input.action.name == "delete"
	input.subject.attributes.title == "Intern"
}

requirement := {"acr_values": ["phr"]} if input.action.name == "delete"
`;

const source = { tenantId: 't1', modules: new Map([['rules/authz.rego', TENANT]]) };

describe('PolicyCompiler.explain (real opa eval --explain full)', () => {
  it('attributes a tenant denial to the deny rule that produced it, by file and line', async () => {
    const explained = await compiler.explain(
      source,
      input({ resource: { type: 'doc', id: 'd1', properties: { frozen: true } } }),
    );
    expect(explained.decision).toBe('deny');
    const [reason] = explained.reasons;
    expect(reason?.code).toBe('FROZEN');
    expect(reason?.rules).toContainEqual({
      origin: 'tenant',
      rule: 'deny',
      file: 'rules/authz.rego',
      row: 5,
      value: { code: 'FROZEN', message: 'the document is frozen' },
    });
  });

  it('a string denial is POLICY_DENIED with its message, traced to its rule', async () => {
    const explained = await compiler.explain(
      source,
      input({
        action: { name: 'delete', properties: {} },
        subject: { ...input().subject, attributes: { title: 'Intern' } },
      }),
    );
    expect(explained.reasons[0]).toMatchObject({ code: 'POLICY_DENIED', message: 'interns may not delete' });
    expect(explained.reasons[0]?.rules).toContainEqual(
      expect.objectContaining({ origin: 'tenant', rule: 'deny', row: 7, value: 'interns may not delete' }),
    );
  });

  it("a step-up names the platform rule that asked for it and the tenant's requirement behind it", async () => {
    const explained = await compiler.explain(
      source,
      input({
        action: { name: 'delete', properties: {} },
        session: {
          id: 's1',
          issuer: 'https://idp.example',
          acr: 'pwd',
          amr: ['pwd'],
          auth_time: NOW - 60,
          expires_at: NOW + 3600,
          revoked: false,
          ip: null,
          device_id: null,
        },
      }),
    );
    expect(explained.decision).toBe('step_up');
    const [reason] = explained.reasons;
    expect(reason?.code).toBe('AUTHN_LEVEL_INSUFFICIENT');
    const platform = reason?.rules.filter((r) => r.origin === 'platform' && r.file === 'authz.rego');
    expect(platform?.map((r) => (r.value as { code?: string } | undefined)?.code)).toContain(
      'AUTHN_LEVEL_INSUFFICIENT',
    );
    expect(reason?.rules).toContainEqual({
      origin: 'tenant',
      rule: 'requirement',
      file: 'rules/authz.rego',
      row: 12,
      value: { acr_values: ['phr'] },
    });
  });

  it('a request no rule allows says so rather than naming a rule', async () => {
    const explained = await compiler.explain(source, input({ action: { name: 'write', properties: {} } }));
    expect(explained.reasons[0]).toMatchObject({ code: 'POLICY_DENIED' });
    expect(explained.reasons[0]?.note).toMatch(/no `allow` rule/);
    expect(explained.reasons[0]?.rules.every((r) => r.origin === 'platform')).toBe(true);
  });

  it('an allowed request lists the allow rule; the stored version is recognised as the same sources', async () => {
    const compiled = await compiler.compile(await examplePolicy('acme'));
    const acme = await examplePolicy('acme');
    const explained = await compiler.explain(
      acme,
      input({
        tenant: 'acme',
        subject: { ...input().subject, groups: [{ id: 'g1', display_name: 'Engineering', external_id: null }] },
        action: { name: 'read', properties: {} },
        resource: { type: 'repository', id: 'r1', properties: {} },
      }),
      compiled.version,
    );
    expect(explained).toMatchObject({ decision: 'allow', platformChanged: false });
    expect(explained.reasons[0]?.rules).toContainEqual(
      expect.objectContaining({ origin: 'tenant', rule: 'allow', file: 'authz.rego', value: true }),
    );
    expect((await compiler.explain(acme, input({ tenant: 'acme' }), 'another-version')).platformChanged).toBe(true);
  });

  it('reads nothing out of output that is not a trace', () => {
    expect(explainTrace({ result: 'x', explanation: [{ Op: 'Exit', Node: null }] }, () => undefined)).toEqual({
      decision: 'undefined',
      reasons: [],
      fired: [],
      truncated: false,
    });
  });
});
