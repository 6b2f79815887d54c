/**
 * The tenant-rules contract (policies/README.md): rules that cannot fit are
 * refused at upload with their location; values computed at evaluation that
 * do not fit decide DENY `POLICY_RESULT_INVALID`, never ALLOW and never an
 * error. Real `opa` and Wasm throughout.
 */
import { describe, expect, it } from 'vitest';
import {
  PolicyCompiler,
  PolicyInputEncoder,
  PolicyRegistry,
  POLICY_RESULT_INVALID,
  TENANT_RULES,
} from '../../src/policy/index.js';
import type { PolicyDecision, PolicyInput, TenantPolicy } from '../../src/policy/index.js';
import { opaPath, PLATFORM_POLICY_DIR } from '../harness/opa.js';

const compiler = new PolicyCompiler({ opaPath: opaPath(), platformDir: PLATFORM_POLICY_DIR, timeoutMs: 30_000 });
const NOW = 1_800_000_000;

function input(context: Record<string, unknown> = {}, session: PolicyInput['session'] = null): PolicyInput {
  return {
    tenant: 't1',
    now: NOW,
    subject: { id: 'u1', user_name: 'u1', external_id: null, active: true, attributes: {}, roles: [], groups: [] },
    session,
    posture: {},
    action: { name: 'read', properties: {} },
    resource: { type: 'doc', id: 'd1', properties: {} },
    context,
  };
}

async function load(rules: string): Promise<TenantPolicy> {
  const compiled = await compiler.compile({
    tenantId: 't1',
    modules: new Map([['authz.rego', `package tenants.t1\n\n${rules}\n`]]),
  });
  return await new PolicyRegistry().install(compiled);
}

function refusal(rules: string): Promise<unknown> {
  return compiler
    .compile({ tenantId: 't1', modules: new Map([['authz.rego', `package tenants.t1\n\n${rules}\n`]]) })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
}

const resultInvalid = (d: PolicyDecision): boolean =>
  d.kind === 'deny' && d.reasons.length === 1 && d.reasons[0]?.code === POLICY_RESULT_INVALID;

describe('an upload whose rules cannot fit the contract is refused, located', () => {
  it.each([
    [
      'a boolean deny (`deny if`), which would be ignored',
      'allow := true\n\ndeny if input.context.blocked',
      5,
      'must be a set of reasons',
    ],
    [
      'deny built as an object (`deny[msg] if`)',
      'allow := true\n\ndeny[msg] if {\n\tmsg := "x"\n}',
      5,
      'must be a set of reasons',
    ],
    [
      'a misspelt max_risk',
      'allow := true\n\nrequirement := {"max_risk": "meduim"}',
      5,
      'requirement.max_risk: "meduim"',
    ],
    [
      'device_compliant as a string',
      'allow := true\n\nrequirement := {"device_compliant": "true"}',
      5,
      'requirement.device_compliant: "true"',
    ],
    [
      'an unknown requirement key',
      'allow := true\n\nrequirement := {"acr_value": ["phr"]}',
      5,
      'unknown key "acr_value"',
    ],
    [
      'two complete requirement rules, which conflict when both apply',
      'allow := true\n\nrequirement := {"max_age": 900} if input.action.name == "pay"\n\nrequirement := {"acr_values": ["phr"]} if input.resource.type == "invoice"',
      7,
      'more than one complete rule',
    ],
    ['a string allow', 'allow := "yes"', 3, 'allow: "yes"'],
    ['allow as a function', 'allow(x) if x', 3, 'not a function'],
    [
      'a non-numeric acr_rank',
      'allow := true\n\nacr_rank := {"urn:acme:gold": "high"}',
      5,
      'acr_rank["urn:acme:gold"]',
    ],
    [
      'a reason with an extra key',
      'allow := true\n\ndeny contains {"code": "X", "why": "y"} if input.context.x',
      5,
      'unknown key "why"',
    ],
    [
      'a requirement in an else branch',
      'allow := true\n\nrequirement := {"max_age": 60} if input.context.x\n\telse := {"max_age": "1h"}',
      6,
      'requirement.max_age: "1h"',
    ],
  ])('%s', async (_what, rules, row, message) => {
    const error = await refusal(rules);
    expect(error).toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [expect.objectContaining({ file: 'authz.rego', row, code: 'rego_contract_error' })],
    });
    expect((error as Error).message).toContain(message);
    expect((error as Error).message).toContain(`authz.rego:${row}:`);
  });

  it('a sub-package that takes the place of a contract rule', async () => {
    const error = await compiler
      .compile({
        tenantId: 't1',
        modules: new Map([
          ['authz.rego', 'package tenants.t1\n\nallow := true\n'],
          ['extra/deny.rego', 'package tenants.t1.deny\n\nreason := "x"\n'],
        ]),
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      problems: [expect.objectContaining({ file: 'extra/deny.rego', row: 1, code: 'rego_contract_error' })],
    });
  });

  it('accepts every form the contract allows, and another tenant-defined rule of any shape', async () => {
    const policy = await load(
      [
        'default allow := false',
        'allow if input.action.name == "read"',
        'deny contains "closed" if input.context.closed',
        'deny contains {"code": "ACME_HOLD", "message": "on hold"} if input.context.hold',
        'requirement contains {"acr_values": ["phr"], "max_age": 900} if input.context.strong',
        'acr_rank["urn:acme:gold"] := 35',
        'helper := {"deny": "anything", "requirement": 1}',
      ].join('\n\n'),
    );
    expect((await policy.evaluate(input())).kind).toBe('allow');
    expect((await policy.evaluate(input({ hold: true }))).reasons).toEqual([{ code: 'ACME_HOLD', message: 'on hold' }]);
  });
});

describe('a result computed at evaluation that does not fit decides DENY POLICY_RESULT_INVALID', () => {
  it('a max_risk taken from the input and misspelt is not dropped', async () => {
    const policy = await load('allow := true\n\nrequirement := {"max_risk": input.context.risk}');
    expect((await policy.evaluate(input({ risk: 'high' }))).kind).toBe('allow');
    const decision = await policy.evaluate(input({ risk: 'meduim' }));
    expect(resultInvalid(decision)).toBe(true);
    expect(decision.reasons[0]?.message).toContain('max_risk');
  });

  it('a complete rule with two values at once (a Rego conflict) is a DENY, not an evaluation error', async () => {
    const policy = await load(
      'allow := true\n\nrequirement := {"max_age": age} if {\n\tsome age in input.context.ages\n}',
    );
    expect((await policy.evaluate(input({ ages: [60] }))).kind).toBe('step_up');
    const decision = await policy.evaluate(input({ ages: [60, 900] }));
    expect(resultInvalid(decision)).toBe(true);
    expect(decision.reasons[0]?.message).toMatch(/authz\.rego:5:1: .*conflict/);
  });

  it('the same conflict in a BatchCheck denies every item', async () => {
    const policy = await load(
      'allow := true\n\nrequirement := {"max_age": age} if {\n\tsome age in input.context.ages\n}',
    );
    const { action, resource, context, ...subject } = input({ ages: [60, 900] });
    const items = [
      { action, resource, context },
      { action, resource, context },
    ];
    const decisions = await policy.evaluateBatch(new PolicyInputEncoder(subject).encodeBatch(items), items.length);
    expect(decisions.every(resultInvalid)).toBe(true);
  });

  it('overlapping requirements written with `contains` merge to the strictest', async () => {
    const policy = await load(
      [
        'allow := true',
        'requirement contains {"acr_values": ["mfa"], "max_age": 900} if input.action.name == "read"',
        'requirement contains {"acr_values": ["phr"], "max_age": 300} if input.resource.type == "doc"',
      ].join('\n\n'),
    );
    const session = {
      id: 's1',
      issuer: 'https://idp.example',
      acr: 'mfa',
      amr: ['otp'],
      auth_time: NOW - 600,
      expires_at: NOW + 3600,
      revoked: false,
      ip: null,
      device_id: null,
    };
    const decision = await policy.evaluate(input({}, session));
    expect(decision.kind).toBe('step_up');
    expect(decision.stepUp).toEqual({ acrValues: ['phr'], maxAge: 300 });
    expect((await policy.evaluate(input({}, { ...session, acr: 'phr', auth_time: NOW - 60 }))).kind).toBe('allow');
  });
});

describe('the platform checks exactly the contract the upload checks', () => {
  // One value per line: produced dynamically, it must be refused at evaluation
  // exactly when the contract's schema refuses it.
  const cases: [rule: keyof typeof TENANT_RULES, rego: string, values: unknown[]][] = [
    ['allow', 'allow := input.context.value', [true, false, 'true', 1, null, {}]],
    [
      'requirement',
      'allow := true\n\nrequirement := input.context.value',
      [
        {},
        { acr_values: ['phr'], amr: ['hwk'], max_age: 0, device_compliant: true, max_risk: 'low' },
        { max_risk: 'HIGH' },
        { max_risk: 'meduim' },
        { max_age: -1 },
        { max_age: 1.5 },
        { acr_values: [] },
        { acr_values: [''] },
        { amr: 'hwk' },
        { device_compliant: 'true' },
        { acr_value: ['phr'] },
        'strong',
      ],
    ],
    [
      'acr_rank',
      'allow := true\n\nacr_rank := input.context.value',
      [{}, { 'urn:x': 35 }, { 'urn:x': '35' }, ['urn:x']],
    ],
    [
      'deny',
      'allow := true\n\ndeny contains input.context.value',
      [
        'closed',
        '',
        { code: 'ACME_HOLD' },
        { code: 'ACME_HOLD', message: 'm' },
        { code: 'acme' },
        { code: 'X', why: 1 },
        7,
      ],
    ],
  ];

  it.each(cases)('%s', async (rule, rego, values) => {
    const policy = await load(rego);
    for (const value of values) {
      const refusedByContract = !TENANT_RULES[rule].schema.safeParse(value).success;
      const decision = await policy.evaluate(input({ value }));
      expect({ value, refused: resultInvalid(decision) }).toEqual({ value, refused: refusedByContract });
    }
  });
});
