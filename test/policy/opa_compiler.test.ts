import { writeFileSync } from 'node:fs';
import path, { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyCompiler, PolicyRegistry } from '../../src/policy/index.js';
import type { PolicyInput } from '../../src/policy/index.js';
import { examplePolicy, opaPath, PLATFORM_POLICY_DIR } from '../harness/opa.js';
import { makeTempDir } from '../harness/temp_dir.js';

const compiler = new PolicyCompiler({ opaPath: opaPath(), platformDir: PLATFORM_POLICY_DIR, timeoutMs: 30_000 });

const modules = (text: string, name = 'authz.rego'): Map<string, string> => new Map([[name, text]]);

function input(overrides: Partial<PolicyInput> = {}): PolicyInput {
  return {
    tenant: 't1',
    now: 1_800_000_000,
    subject: { id: 'u1', user_name: 'u1', external_id: null, active: true, attributes: {}, roles: [], groups: [] },
    session: null,
    posture: {},
    action: { name: 'read', properties: {} },
    resource: { type: 'doc', id: 'd1', properties: {} },
    context: {},
    ...overrides,
  };
}

describe('PolicyCompiler (real opa build -t wasm)', () => {
  it('compiles platform + tenant rules into Wasm that the registry evaluates', async () => {
    const compiled = await compiler.compile({
      tenantId: 't1',
      modules: modules('package tenants.t1\n\nallow if input.action.name == "read"\n'),
    });
    expect(Buffer.from(compiled.wasm.subarray(0, 4)).toString('hex')).toBe('0061736d'); // "\0asm"
    const policy = await new PolicyRegistry().install(compiled);
    expect((await policy.evaluate(input())).kind).toBe('allow');
    expect((await policy.evaluate(input({ action: { name: 'write', properties: {} } }))).kind).toBe('deny');
  });

  it('gives the same version for the same sources and a new one when they change', async () => {
    const a = await compiler.compile(await examplePolicy('acme'));
    const b = await compiler.compile(await examplePolicy('acme'));
    const c = await compiler.compile({
      tenantId: 'acme',
      modules: modules('package tenants.acme\n\nallow := false\n'),
    });
    expect(a.version).toBe(b.version);
    expect(c.version).not.toBe(a.version);
  });

  it('reports every parse error with file, row and column', async () => {
    const error = await compiler
      .compile({
        tenantId: 't1',
        modules: modules('package tenants.t1\n\nallow if {\n  input.x ==\n}\n', 'rules/main.rego'),
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [{ file: 'rules/main.rego', row: 5, col: 1, code: 'rego_parse_error' }],
    });
    expect((error as Error).message).toContain('rules/main.rego:5:1');
  });

  it('reports type errors, e.g. an unknown reference', async () => {
    await expect(
      compiler.compile({ tenantId: 't1', modules: modules('package tenants.t1\n\nallow if no_such_rule(input)\n') }),
    ).rejects.toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [expect.objectContaining({ file: 'authz.rego', row: 3, code: 'rego_type_error' })],
    });
  });

  it.each([
    ['http.send', 'allow if http.send({"method": "get", "url": "http://x"}).status_code == 200'],
    ['time.now_ns (the Wasm SDK has no clock)', 'allow if time.now_ns() > 0'],
    ['opa.runtime', 'allow if opa.runtime().env'],
    ['net.lookup_ip_addr', 'allow if net.lookup_ip_addr("example.com")'],
  ])('refuses builtins the Wasm runtime cannot evaluate: %s', async (_name, rule) => {
    await expect(
      compiler.compile({ tenantId: 't1', modules: modules(`package tenants.t1\n\n${rule}\n`) }),
    ).rejects.toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [expect.objectContaining({ file: 'authz.rego', row: 3, code: 'rego_type_error' })],
    });
  });

  it.each([
    ['the platform package', 'package ipsie.authz\n\ndecision := {"decision": "allow"}\n'],
    ['another tenant', 'package tenants.t2\n\nallow := true\n'],
    ['a prefix look-alike', 'package tenants.t1x\n\nallow := true\n'],
  ])('refuses a module that declares %s', async (_name, text) => {
    await expect(compiler.compile({ tenantId: 't1', modules: modules(text) })).rejects.toMatchObject({
      code: 'ERR_POLICY_MODULE_REJECTED',
    });
  });

  it('accepts sub-packages and tenant tests in their own namespace', async () => {
    const compiled = await compiler.compile({
      tenantId: 't1',
      modules: new Map([
        ['authz.rego', 'package tenants.t1\n\nimport data.tenants.t1.roles\n\nallow if roles.admin\n'],
        [
          'roles.rego',
          'package tenants.t1.roles\n\nadmin if "admins" in {g.display_name | some g in input.subject.groups}\n',
        ],
        ['authz_test.rego', 'package tenants_test.t1\n\ntest_nothing if true\n'],
      ]),
    });
    const policy = await new PolicyRegistry().install(compiled);
    const admin = input({
      subject: { ...input().subject, groups: [{ id: 'g', display_name: 'admins', external_id: null }] },
    });
    expect((await policy.evaluate(admin)).kind).toBe('allow');
  });

  it.each([['../escape.rego'], ['/abs.rego'], ['notes.txt'], ['a/../../b.rego']])(
    'refuses the module file name %s',
    async (name) => {
      await expect(
        compiler.compile({ tenantId: 't1', modules: modules('package tenants.t1\n', name) }),
      ).rejects.toMatchObject({ code: 'ERR_POLICY_MODULE_REJECTED' });
    },
  );

  it('refuses an invalid tenant id and an upload with no module', async () => {
    await expect(compiler.compile({ tenantId: 'T-1', modules: modules('package x\n') })).rejects.toMatchObject({
      code: 'ERR_POLICY_MODULE_REJECTED',
    });
    await expect(compiler.compile({ tenantId: 't1', modules: new Map() })).rejects.toMatchObject({
      code: 'ERR_POLICY_MODULE_REJECTED',
    });
  });

  it('stops opa at the time limit', async () => {
    const slow = new PolicyCompiler({ opaPath: opaPath(), platformDir: PLATFORM_POLICY_DIR, timeoutMs: 1 });
    await expect(slow.compile(await examplePolicy('acme'))).rejects.toMatchObject({
      code: 'ERR_POLICY_COMPILE_TIMEOUT',
    });
  });

  it('resolves a relative opa path against the working directory, not its temp dir', async () => {
    const relative = new PolicyCompiler({
      opaPath: path.relative(process.cwd(), opaPath()),
      platformDir: path.relative(process.cwd(), PLATFORM_POLICY_DIR),
      timeoutMs: 30_000,
    });
    await expect(relative.compile(await examplePolicy('acme'))).resolves.toMatchObject({ tenantId: 'acme' });
  });

  it('runs opa under its memory limit: one that needs more is refused with ERR_POLICY_COMPILE_MEMORY', async () => {
    const cramped = new PolicyCompiler({
      opaPath: opaPath(),
      platformDir: PLATFORM_POLICY_DIR,
      timeoutMs: 30_000,
      memoryLimitMb: 64,
    });
    await expect(cramped.compile(await examplePolicy('acme'))).rejects.toMatchObject({
      code: 'ERR_POLICY_COMPILE_MEMORY',
    });
    const roomy = new PolicyCompiler({
      opaPath: opaPath(),
      platformDir: PLATFORM_POLICY_DIR,
      timeoutMs: 30_000,
      memoryLimitMb: 2048,
    });
    expect((await roomy.compile(await examplePolicy('acme'))).version).toMatch(/^sha256:/);
  });

  it('refuses a tenant id its package could not be named by (a Rego keyword)', async () => {
    await expect(
      compiler.compile({ tenantId: 'if', modules: modules('package tenants["if"]\n\nallow := true\n') }),
    ).rejects.toMatchObject({ code: 'ERR_POLICY_MODULE_REJECTED' });
  });

  it('says so when the opa CLI is missing, run under a memory limit or not', async () => {
    const limited = new PolicyCompiler({
      opaPath: '/nonexistent/opa',
      platformDir: PLATFORM_POLICY_DIR,
      timeoutMs: 5_000,
      memoryLimitMb: 2048,
    });
    await expect(limited.compile(await examplePolicy('acme'))).rejects.toMatchObject({
      code: 'ERR_POLICY_OPA_UNAVAILABLE',
    });
    const missing = new PolicyCompiler({
      opaPath: '/nonexistent/opa',
      platformDir: PLATFORM_POLICY_DIR,
      timeoutMs: 5_000,
    });
    await expect(missing.compile(await examplePolicy('acme'))).rejects.toMatchObject({
      code: 'ERR_POLICY_OPA_UNAVAILABLE',
    });
  });
});

describe('PolicyRegistry', () => {
  it('fails closed for a tenant without a policy', () => {
    expect(() => new PolicyRegistry().get('nobody')).toThrow(
      expect.objectContaining({ code: 'ERR_POLICY_NOT_LOADED' }),
    );
  });

  it('a policy whose decision is malformed decides DENY POLICY_RESULT_INVALID, never allows', async () => {
    // The platform decision cannot be overridden, so corrupt the evaluation result
    // by compiling a platform folder whose decision is not a decision document.
    const dir = makeTempDir('ipsie-platform-');
    try {
      writeFileSync(join(dir.path, 'authz.rego'), 'package ipsie.authz\n\ndecision := {"decision": "maybe"}\n');
      const odd = new PolicyCompiler({ opaPath: opaPath(), platformDir: dir.path, timeoutMs: 30_000 });
      const policy = await new PolicyRegistry().install(
        await odd.compile({ tenantId: 't1', modules: modules('package tenants.t1\n\nallow := true\n') }),
      );
      expect(await policy.evaluate(input())).toEqual({
        kind: 'deny',
        reasons: [{ code: 'POLICY_RESULT_INVALID', message: 'the decision document has no valid "decision"' }],
        stepUp: undefined,
      });
    } finally {
      dir.remove();
    }
  });
});

describe('PolicyCompiler for uploads: tests, static data, forbidden builtins', () => {
  const tested = (authz: string, test: string): Map<string, string> =>
    new Map([
      ['authz.rego', authz],
      ['authz_test.rego', test],
    ]);

  it('runs the tenant tests and refuses a failing one, located', async () => {
    const source = {
      tenantId: 't1',
      modules: tested(
        'package tenants.t1\n\nallow if input.action.name == "read"\n',
        'package tenants_test.t1\n\nimport data.tenants.t1\n\ntest_read if t1.allow with input as {"action": {"name": "read"}}\n\ntest_write if t1.allow with input as {"action": {"name": "write"}}\n',
      ),
    };
    const error = await compiler.compile(source, { runTests: true }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ERR_POLICY_TEST_FAILED',
      problems: [
        {
          file: 'authz_test.rego',
          row: 7,
          code: 'test_failed',
          message: expect.stringContaining('test_write') as unknown,
        },
      ],
    });
    // Without the failing test it passes, and says how many ran.
    const passing = await compiler.compile(
      {
        ...source,
        modules: tested(
          source.modules.get('authz.rego') ?? '',
          'package tenants_test.t1\n\nimport data.tenants.t1\n\ntest_read if t1.allow with input as {"action": {"name": "read"}}\n',
        ),
      },
      { runTests: true },
    );
    expect(passing.tests).toEqual({ passed: 1, failed: 0 });
  });

  it('static data is data.static, and changes the version', async () => {
    const text = 'package tenants.t1\n\nallow if input.action.name in data.static.allowed_actions\n';
    const a = await compiler.compile({ tenantId: 't1', modules: modules(text), data: { allowed_actions: ['read'] } });
    const b = await compiler.compile({ tenantId: 't1', modules: modules(text), data: { allowed_actions: ['write'] } });
    expect(a.version).not.toBe(b.version);
    const policy = await new PolicyRegistry().install(a);
    expect((await policy.evaluate(input())).kind).toBe('allow');
    expect((await (await new PolicyRegistry().install(b)).evaluate(input())).kind).toBe('deny');
  });

  it.each([
    ['http.send', 'x := http.send({"method": "get", "url": "http://example.com"})'],
    ['net.lookup_ip_addr', 'x := net.lookup_ip_addr("example.com")'],
    ['opa.runtime', 'x := opa.runtime()'],
    ['time.now_ns', 'x := time.now_ns()'],
  ])('refuses %s with its location', async (builtin, rule) => {
    const error = await compiler
      .compile({ tenantId: 't1', modules: modules(`package tenants.t1\n\n${rule}\n`) })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [{ file: 'authz.rego', row: 3, message: expect.stringContaining(builtin) as unknown }],
    });
  });
});
