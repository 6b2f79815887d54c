/**
 * Policy evaluation on worker threads (real opa-compiled Wasm): a policy that
 * runs past its budget is abandoned with DENY POLICY_TIMEOUT and its worker
 * replaced, and one tenant cannot hold every worker.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { EvaluationPool, PolicyCompiler, PolicyRegistry } from '../../src/policy/index.js';
import type { PolicyInput, TenantPolicy } from '../../src/policy/index.js';
import { opaPath, PLATFORM_POLICY_DIR } from '../harness/opa.js';
import { random } from '../harness/random.js';

const compiler = new PolicyCompiler({ opaPath: opaPath(), platformDir: PLATFORM_POLICY_DIR, timeoutMs: 30_000 });

/** Valid, passes compile and its own tests, and burns 10^8 steps for action "heavy" (the example). */
const HEAVY = `allow if input.action.name == "read"

allow if {
\tinput.action.name == "heavy"
\txs := numbers.range(1, 12000)
\txs[_] == 0 - xs[_]
}
`;

function input(tenant: string, action: string): PolicyInput {
  return {
    tenant,
    now: 1_800_000_000,
    subject: { id: 'u1', user_name: 'u1', external_id: null, active: true, attributes: {}, roles: [], groups: [] },
    session: null,
    posture: {},
    action: { name: action, properties: {} },
    resource: { type: 'doc', id: 'd1', properties: {} },
    context: {},
  };
}

async function install(registry: PolicyRegistry, tenantId: string, rules: string): Promise<TenantPolicy> {
  const modules = new Map([['authz.rego', `package tenants.${tenantId}\n\n${rules}`]]);
  return await registry.install(await compiler.compile({ tenantId, modules }));
}

const pools: EvaluationPool[] = [];
afterAll(async () => {
  await Promise.all(
    pools.map(async (p) => {
      await p.close();
    }),
  );
});

function pool(options: ConstructorParameters<typeof EvaluationPool>[0]): EvaluationPool {
  const p = new EvaluationPool(options);
  pools.push(p);
  return p;
}

describe('EvaluationPool', () => {
  it('an evaluation past its budget is DENY POLICY_TIMEOUT, and the replaced worker serves the next one', async () => {
    const timeouts: string[] = [];
    const registry = new PolicyRegistry({
      pool: pool({ size: 1, budgetMs: 100, onTimeout: (tenant) => timeouts.push(tenant) }),
    });
    const noisy = await install(registry, 'noisy', HEAVY);
    expect(await noisy.evaluate(input('noisy', 'heavy'))).toEqual({
      kind: 'deny',
      reasons: [{ code: 'POLICY_TIMEOUT', message: 'the tenant policy did not decide within 100 ms' }],
      stepUp: undefined,
    });
    expect(timeouts).toEqual(['noisy']);
    // The one worker was terminated mid-evaluation; its replacement has every policy loaded.
    expect((await noisy.evaluate(input('noisy', 'read'))).kind).toBe('allow');
  });

  it('an answer the worker gave within budget wins over a budget timer a stalled event loop fires late', async () => {
    const timeouts: string[] = [];
    const registry = new PolicyRegistry({
      pool: pool({ size: 1, budgetMs: 20, onTimeout: (tenant) => timeouts.push(tenant) }),
    });
    const quick = await install(registry, 'quick', HEAVY);
    const decided = quick.evaluate(input('quick', 'read'));
    // The task reaches the worker on the next microtask; then this thread stalls (a GC pause, a long
    // synchronous request) well past the budget while the worker answers in well under a millisecond.
    // Stalling in the check phase puts the timers phase before the one that reads the worker's answer.
    await new Promise<void>((resolve) => {
      setImmediate(() => {
        const stalledUntil = performance.now() + 200;
        while (performance.now() < stalledUntil) {
          // busy: the event loop cannot run
        }
        resolve();
      });
    });
    expect((await decided).kind).toBe('allow');
    expect(timeouts).toEqual([]);
  });

  it('under stalls, timeouts and replaced workers, every evaluation answers for its own input: an allow only where its policy allows', async () => {
    const registry = new PolicyRegistry({ pool: pool({ size: 2, budgetMs: 20 }) });
    const open = await install(registry, 'open', HEAVY);
    const shut = await install(registry, 'shut', 'allow if input.action.name == "never"\n');
    const next = random(7);
    const asked: {
      readonly allows: boolean;
      readonly decided: Promise<{ readonly kind: string; readonly code?: string }>;
    }[] = [];
    for (let i = 0; i < 150; i++) {
      const policy = next() < 0.5 ? open : shut;
      const roll = next();
      const action = roll < 0.08 ? 'heavy' : roll < 0.55 ? 'read' : 'write';
      asked.push({
        allows: policy === open && action === 'read',
        decided: policy
          .evaluate(input(policy.tenantId, action))
          .then((d) => ({ kind: d.kind, ...(d.reasons[0] === undefined ? {} : { code: d.reasons[0].code }) })),
      });
      if (next() < 0.3) {
        // This thread stalls past the budget (a GC pause, a long request) while workers answer.
        const stallMs = next() * 50;
        await new Promise<void>((resolve) => {
          setImmediate(() => {
            const until = performance.now() + stallMs;
            while (performance.now() < until) {
              // busy: the event loop cannot run
            }
            resolve();
          });
        });
      }
    }
    const decided = await Promise.all(asked.map(async (a) => ({ allows: a.allows, ...(await a.decided) })));
    // Its own answer, or a timeout (a deny); never another evaluation's allow.
    for (const d of decided) {
      if (!d.allows) expect(d.kind).toBe('deny');
      else if (d.kind !== 'allow') expect(d.code).toBe('POLICY_TIMEOUT');
    }
    expect(decided.filter((d) => d.allows && d.kind === 'allow').length).toBeGreaterThan(0);
  });

  it("a tenant's own budget applies to it alone", async () => {
    const registry = new PolicyRegistry({
      pool: pool({ size: 1, budgetMs: 60_000, tenantBudgetMs: (t) => (t === 'strict' ? 50 : undefined) }),
    });
    const strict = await install(registry, 'strict', HEAVY);
    expect((await strict.evaluate(input('strict', 'heavy'))).reasons[0]?.code).toBe('POLICY_TIMEOUT');
  });

  it("a noisy tenant never holds every worker: another tenant's evaluations run beside its heavy ones", async () => {
    // A budget far beyond the test's patience: only the worker reserved from the noisy tenant can answer.
    const workers = new EvaluationPool({ size: 2, budgetMs: 120_000 });
    const registry = new PolicyRegistry({ pool: workers });
    const noisy = await install(registry, 'noisy', HEAVY);
    const quiet = await install(registry, 'quiet', 'allow if input.action.name == "read"\n');
    const heavy = Promise.allSettled(
      Array.from({ length: 4 }, async () => await noisy.evaluate(input('noisy', 'heavy'))),
    );
    const answered: string[] = [];
    for (let i = 0; i < 20; i++) answered.push((await quiet.evaluate(input('quiet', 'read'))).kind);
    expect(answered).toEqual(Array.from({ length: 20 }, () => 'allow'));
    // The heavy ones are still running or queued behind each other, on one worker: end them.
    await workers.close();
    expect((await heavy).map((r) => r.status)).toEqual(Array.from({ length: 4 }, () => 'rejected'));
  });

  it('a tenant that keeps running out of budget is throttled to a share of one worker; the others keep theirs', async () => {
    const timeouts: number[] = [];
    const workers = pool({ size: 2, budgetMs: 20, onTimeout: () => timeouts.push(performance.now()) });
    const registry = new PolicyRegistry({ pool: workers });
    const noisy = await install(registry, 'noisy', HEAVY);
    const quiet = await install(registry, 'quiet', 'allow if input.action.name == "read"\n');
    const started = performance.now();
    let stop = false;
    // Four callers sending nothing but heavy requests, for two seconds.
    const loops = Array.from({ length: 4 }, async () => {
      while (!stop) await noisy.evaluate(input('noisy', 'heavy')).catch(() => undefined);
    });
    const answered: string[] = [];
    while (performance.now() - started < 2_000) answered.push((await quiet.evaluate(input('quiet', 'read'))).kind);
    stop = true;
    // Held to 5% of a worker, each timeout charged twice its 20 ms: about one every 800 ms once throttled
    // (two to start it). Unthrottled, one worker would time out every ~20 ms plus its replacement.
    expect(timeouts.length).toBeGreaterThanOrEqual(2);
    expect(timeouts.length).toBeLessThanOrEqual(8);
    expect(new Set(answered)).toEqual(new Set(['allow']));
    await Promise.allSettled(loops);
    // Throttled requests are denied at once (POLICY_TIMEOUT), and a cheap one is decided again once the share allows.
    const cheap: string[] = [];
    while (cheap.at(-1) !== 'allow' && performance.now() - started < 10_000) {
      const decision = await noisy.evaluate(input('noisy', 'read'));
      cheap.push(decision.kind === 'allow' ? 'allow' : (decision.reasons[0]?.message ?? ''));
      if (decision.kind !== 'allow') await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(cheap.at(-1)).toBe('allow');
    for (const answer of cheap.slice(0, -1)) expect(answer).toMatch(/throttled/);
  });

  it('a batch is one evaluation, and a timed-out batch denies every item', async () => {
    const registry = new PolicyRegistry({ pool: pool({ size: 1, budgetMs: 100 }) });
    const noisy = await install(registry, 'noisy', HEAVY);
    const { action, resource, context, ...subject } = input('noisy', 'heavy');
    const { PolicyInputEncoder } = await import('../../src/policy/index.js');
    const encoded = new PolicyInputEncoder(subject).encodeBatch([
      { action, resource, context },
      { action: { name: 'read', properties: {} }, resource, context },
    ]);
    const decisions = await noisy.evaluateBatch(encoded, 2);
    expect(decisions.map((d) => d.reasons[0]?.code)).toEqual(['POLICY_TIMEOUT', 'POLICY_TIMEOUT']);
  });

  it('a version replaced while evaluations are waiting still answers them', async () => {
    const registry = new PolicyRegistry({ pool: pool({ size: 1, budgetMs: 5_000 }) });
    const first = await install(registry, 't1', 'allow if input.action.name == "read"\n');
    const waiting = Array.from({ length: 20 }, async () => await first.evaluate(input('t1', 'read')));
    await install(registry, 't1', 'allow := false\n');
    expect((await Promise.all(waiting)).map((d) => d.kind)).toEqual(Array.from({ length: 20 }, () => 'allow'));
    expect((await registry.get('t1').evaluate(input('t1', 'read'))).kind).toBe('deny');
  });

  it('evaluations waiting or asked for when the pool closes fail as unavailable (a stopping sidecar), not as internal errors', async () => {
    const workers = new EvaluationPool({ size: 1, budgetMs: 60_000 });
    const registry = new PolicyRegistry({ pool: workers });
    const noisy = await install(registry, 'noisy', HEAVY);
    const failure = async (evaluation: Promise<unknown>): Promise<unknown> =>
      await evaluation.then(
        () => undefined,
        (error: unknown) => error,
      );
    const running = failure(noisy.evaluate(input('noisy', 'heavy')));
    const waiting = failure(noisy.evaluate(input('noisy', 'read')));
    await workers.close();
    const closed = { code: 'ERR_POLICY_POOL_CLOSED', kind: 'unavailable' };
    expect(await running).toMatchObject(closed);
    expect(await waiting).toMatchObject(closed);
    await expect(noisy.evaluate(input('noisy', 'read'))).rejects.toMatchObject(closed);
  });

  it('registries sharing one pool install the same version independently: closing one leaves the other evaluating', async () => {
    const shared = pool({ size: 1, budgetMs: 5_000 });
    const compiled = await compiler.compile({
      tenantId: 'twice',
      modules: new Map([['authz.rego', 'package tenants.twice\n\nallow if input.action.name == "read"\n']]),
    });
    const [first, second] = [new PolicyRegistry({ pool: shared }), new PolicyRegistry({ pool: shared })];
    await first.install(compiled);
    const kept = await second.install(compiled);
    await first.close();
    expect((await kept.evaluate(input('twice', 'read'))).kind).toBe('allow');
    await second.close();
  });

  it('refuses a meaningless size or budget at construction', () => {
    expect(() => new EvaluationPool({ size: 0 })).toThrow(TypeError);
    expect(() => new EvaluationPool({ size: 1, budgetMs: 0 })).toThrow(TypeError);
  });
});

describe('EvaluationPool when its workers cannot run', () => {
  it('stops replacing workers that keep dying and fails evaluations closed, instead of spinning', async () => {
    const errors: unknown[] = [];
    const broken = pool({ size: 2, sdkPath: '/nonexistent/opa-wasm.cjs', onWorkerError: (e) => errors.push(e) });
    const registry = new PolicyRegistry({ pool: broken });
    await expect(install(registry, 't1', 'allow := true\n')).rejects.toMatchObject({
      code: 'ERR_POLICY_EVALUATION_FAILED',
    });
    // Each worker dies at start; after a handful the pool stops starting more.
    const deadline = Date.now() + 10_000;
    while (errors.length < 5 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const seen = errors.length;
    expect(seen).toBeGreaterThanOrEqual(5);
    await expect(broken.evaluate('t1', 'k', 'ipsie/authz/decision', new ArrayBuffer(2))).rejects.toMatchObject({
      code: 'ERR_POLICY_EVALUATION_FAILED',
    });
    await expect(broken.load('k2', new Uint8Array(8), {})).rejects.toMatchObject({
      code: 'ERR_POLICY_EVALUATION_FAILED',
    });
    expect(errors.length).toBeLessThanOrEqual(seen + 2);
  });
});

describe('EvaluationPool and the SDK builtins that run as JavaScript', () => {
  it('a builtin refusing its arguments (sprintf with a bad verb) is DENY POLICY_RESULT_INVALID, not an error', async () => {
    const registry = new PolicyRegistry({ pool: pool({ size: 1, budgetMs: 5_000 }) });
    const p = await install(registry, 'fmt', 'allow if sprintf("%z", [input.action.name]) != ""\n');
    const decision = await p.evaluate(input('fmt', 'read'));
    expect(decision.kind).toBe('deny');
    expect(decision.reasons.map((r) => r.code)).toEqual(['POLICY_RESULT_INVALID']);
  });

  it('a sprintf width that would allocate hundreds of megabytes is refused: DENY POLICY_RESULT_INVALID, no crash', async () => {
    const registry = new PolicyRegistry({ pool: pool({ size: 1, budgetMs: 60_000 }) });
    const p = await install(
      registry,
      'hog',
      'allow if input.action.name == "read"\n\nallow if {\n\tinput.action.name == "hog"\n\tcount(sprintf("%300000000s", ["x"])) > 0\n}\n',
    );
    const decision = await p.evaluate(input('hog', 'hog'));
    expect(decision.reasons.map((r) => r.code)).toEqual(['POLICY_RESULT_INVALID']);
    expect(decision.reasons[0]?.message).toMatch(/sprintf/);
    expect((await p.evaluate(input('hog', 'read'))).kind).toBe('allow');
  });
});
