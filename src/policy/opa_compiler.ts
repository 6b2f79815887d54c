import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { readBundleArchive } from './bundle_archive.js';
import {
  OpaUnavailableError,
  PolicyCompileError,
  PolicyCompileMemoryError,
  PolicyCompileTimeoutError,
  PolicyModuleRejectedError,
  PolicyTestFailedError,
} from './errors.js';
import type { CompileProblem } from './errors.js';
import { TENANT_BINDING_FILE, tenantBindingModule } from './tenant_binding.js';
import { checkTenantRules } from './tenant_rules_contract.js';
import type { ParsedModule } from './tenant_rules_contract.js';
import { isTenantKey, policyTenantOf, TENANT_ID_RULE } from '../tenant_id.js';
import { explainTrace } from './policy_explanation.js';
import type { PolicyExplanation } from './policy_explanation.js';

/** The entry point every bundle exposes (DESIGN.md, Check step 3). */
export const DECISION_ENTRYPOINT = 'ipsie/authz/decision';
/** `decision` for each of `input.items`, in one evaluation (BatchCheck). */
export const BATCH_ENTRYPOINT = 'ipsie/authz/batch_decisions';

const MODULE_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*\.rego$/;
const isTestModule = (name: string): boolean => name.endsWith('_test.rego');

export interface TenantPolicySource {
  /** The tenant's key; a sandbox's (`acme-sandbox`) modules are in its production's package (`tenants.acme`). */
  readonly tenantId: string;
  /**
   * Relative file name (`authz.rego`, `rules/admin.rego`) → Rego v1 source.
   * Modules must declare `package tenants.<tenantId>` (or below it); test
   * modules (`*_test.rego`) `package tenants_test.<tenantId>` and are not
   * compiled into the bundle.
   */
  readonly modules: ReadonlyMap<string, string>;
  /** Static data uploaded with the policy, visible to it as `data.static`. */
  readonly data?: Readonly<Record<string, unknown>>;
}

/**
 * Builtins a tenant policy may never call, whatever the runtime supports:
 * no I/O from inside a decision (DESIGN.md: a decision depends on its input).
 */
const FORBIDDEN_BUILTINS: ReadonlySet<string> = new Set([
  'http.send',
  'opa.runtime',
  'net.lookup_ip_addr',
  'providers.aws.sign_req',
  'time.now_ns',
  'rand.intn',
  'uuid.rfc4122',
]);

export interface CompileOptions {
  /** Also run the tenant's `*_test.rego` with `opa test`; a failing test refuses the policy. */
  readonly runTests?: boolean;
  /**
   * The JSON Schema of `input` (policyInputJsonSchema: the tenant's attribute catalog): `opa check --schema`
   * then refuses a policy reading an input member it does not define, or comparing one with a value of
   * another type, with the file and line. Absent: `input` is untyped.
   */
  readonly inputSchema?: Readonly<Record<string, unknown>> | undefined;
}

/** What `opa test` reported for the tenant's tests. */
export interface TestSummary {
  readonly passed: number;
  readonly failed: number;
}

/** A tenant's Rego and the platform rules, compiled to one Wasm module. */
export interface CompiledPolicy {
  readonly tenantId: string;
  /** Content hash of every compiled source: equal sources, equal version. */
  readonly version: string;
  readonly wasm: Uint8Array;
  /** The bundle's `data.json` (kept small: entitlements go in `input`). */
  readonly data: Record<string, unknown>;
  /** Set when the compile ran the tenant's tests. */
  readonly tests?: TestSummary;
}

export interface PolicyCompilerOptions {
  /** The `opa` CLI. */
  readonly opaPath: string;
  /** Folder of the platform's `.rego` files (tests in it are skipped). */
  readonly platformDir: string;
  /** Time limit for one `opa` run, in milliseconds. */
  readonly timeoutMs: number;
  /** Address-space limit of one `opa` run (`ulimit -v`), in MiB; undefined: none. */
  readonly memoryLimitMb?: number | undefined;
}

interface OpaRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Compiles tenant Rego with `opa build -t wasm`. Builtins are limited to
 * what the Wasm runtime can evaluate (natively or in the JS SDK), so a
 * policy that would fail at evaluation fails here, with its location.
 */
export class PolicyCompiler {
  readonly #options: PolicyCompilerOptions;
  #capabilities: Promise<string> | undefined;

  constructor(options: PolicyCompilerOptions) {
    if (options.timeoutMs <= 0) throw new TypeError('timeoutMs must be positive');
    // opa runs inside a temporary directory: a relative path must not change meaning there.
    // A bare name ("opa") is left to the PATH lookup.
    this.#options = {
      ...options,
      opaPath: options.opaPath.includes('/') ? resolve(options.opaPath) : options.opaPath,
      platformDir: resolve(options.platformDir),
    };
  }

  /**
   * @throws {PolicyModuleRejectedError} `ERR_POLICY_MODULE_REJECTED` bad file name or foreign package
   * @throws {PolicyCompileError} `ERR_POLICY_COMPILE_FAILED` with every problem located
   * @throws {PolicyCompileTimeoutError} `ERR_POLICY_COMPILE_TIMEOUT`
   * @throws {OpaUnavailableError} `ERR_POLICY_OPA_UNAVAILABLE`
   * @throws {PolicyTestFailedError} `ERR_POLICY_TEST_FAILED` (with `runTests`)
   */
  async compile(source: TenantPolicySource, options: CompileOptions = {}): Promise<CompiledPolicy> {
    const key = source.tenantId;
    if (!isTenantKey(key)) {
      throw new PolicyModuleRejectedError(`"${key}" is not a valid tenant id (${TENANT_ID_RULE})`);
    }
    // A sandbox's policy is written in its production's package: promoted, it is the same sources and version.
    const tenantId = policyTenantOf(key);
    if (![...source.modules.keys()].some((name) => !isTestModule(name))) {
      throw new PolicyModuleRejectedError(`the policy for tenant "${tenantId}" has no module`);
    }
    for (const name of source.modules.keys()) {
      if (!MODULE_NAME_PATTERN.test(name) || name.split('/').includes('..')) {
        throw new PolicyModuleRejectedError(`"${name}" is not a valid module file name`);
      }
    }

    const platform = await this.#platformModules(tenantId);
    const work = await mkdtemp(join(tmpdir(), 'ipsie-policy-'));
    try {
      await writeModules(join(work, 'platform'), platform);
      await writeModules(join(work, 'tenant'), source.modules);
      // Static data under its own root, so it can never shadow the platform's or reach another package.
      await mkdir(join(work, 'static', 'static'), { recursive: true });
      await writeFile(join(work, 'static', 'static', 'data.json'), JSON.stringify(source.data ?? {}));
      await writeFile(join(work, 'capabilities.json'), await this.#capabilitiesJson());

      // The contract first: a rule of the wrong form would otherwise surface as
      // a type error inside the platform's files, far from the tenant's line.
      const parsed = await this.#parseTenantModules(work, source.modules);
      if (parsed !== undefined) {
        const problems = checkTenantRules(tenantId, parsed);
        if (problems.length > 0) throw new PolicyCompileError(tenantId, problems);
      }

      // Located, structured errors: `opa check` speaks JSON, `opa build` does not.
      await this.#check(work, tenantId, options.inputSchema);

      await this.#checkNamespaces(work, tenantId);
      const tests = options.runTests === true ? await this.#test(work, tenantId) : undefined;

      const build = await this.#opa(work, [
        'build',
        '-t',
        'wasm',
        '-e',
        DECISION_ENTRYPOINT,
        '--capabilities',
        'capabilities.json',
        '--ignore',
        '*_test.rego',
        '-o',
        'bundle.tar.gz',
        'platform',
        'tenant',
        'static',
      ]);
      if (build.code !== 0) throw new PolicyCompileError(tenantId, problemsFromText(build.stderr));

      const files = readBundleArchive(await readFile(join(work, 'bundle.tar.gz')));
      const wasm = files.get('policy.wasm');
      if (wasm === undefined) throw new PolicyCompileError(tenantId, [problem('bundle has no policy.wasm')]);
      const data = JSON.parse(files.get('data.json')?.toString('utf8') ?? '{}') as Record<string, unknown>;
      const version = versionOf(platform, source.modules, source.data ?? {});
      return { tenantId: key, version, wasm, data, ...(tests === undefined ? {} : { tests }) };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Evaluates `input` with `opa eval --explain full` over the same sources a version was compiled from
   * (platform rules, the tenant's modules and static data), bounded like every `opa` run, and reads the
   * trace back as the rules that produced each reason.
   *
   * @param version the version the sources were stored as: `platformChanged` says whether the platform
   *   rules here still give that version (a gateway upgraded since evaluates today's platform rules).
   * @throws {PolicyCompileError} `ERR_POLICY_COMPILE_FAILED` when the sources no longer compile
   * @throws {PolicyCompileTimeoutError} `ERR_POLICY_COMPILE_TIMEOUT`
   * @throws {OpaUnavailableError} `ERR_POLICY_OPA_UNAVAILABLE`
   */
  async explain(
    source: TenantPolicySource,
    input: unknown,
    version?: string,
  ): Promise<PolicyExplanation & { readonly platformChanged: boolean }> {
    const tenantId = policyTenantOf(source.tenantId);
    const platform = await this.#platformModules(tenantId);
    const modules = new Map([...source.modules].filter(([name]) => !isTestModule(name)));
    const work = await mkdtemp(join(tmpdir(), 'ipsie-explain-'));
    try {
      await writeModules(join(work, 'platform'), platform);
      await writeModules(join(work, 'tenant'), modules);
      await mkdir(join(work, 'static', 'static'), { recursive: true });
      await writeFile(join(work, 'static', 'static', 'data.json'), JSON.stringify(source.data ?? {}));
      await writeFile(join(work, 'input.json'), JSON.stringify(input));
      const run = await this.#opa(work, [
        'eval',
        '--format',
        'json',
        '--explain',
        'full',
        '-d',
        'platform',
        '-d',
        'tenant',
        '-d',
        'static',
        '-i',
        'input.json',
        `data.${DECISION_ENTRYPOINT.replaceAll('/', '.')}`,
      ]);
      if (run.code !== 0) throw new PolicyCompileError(tenantId, problemsFromText(run.stderr || run.stdout));
      const explanation = explainTrace(JSON.parse(run.stdout), (path) => {
        const [root, ...rest] = path.split('/');
        const file = rest.join('/');
        return root === 'tenant'
          ? { origin: 'tenant', file }
          : root === 'platform'
            ? { origin: 'platform', file }
            : undefined;
      });
      const platformChanged =
        version !== undefined && versionOf(platform, source.modules, source.data ?? {}) !== version;
      return { ...explanation, platformChanged };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Type-checks a tenant's sources (non-test modules) against an input schema, without building: whether a
   * stored version still fits a changed attribute catalog.
   *
   * @throws {PolicyCompileError} `ERR_POLICY_COMPILE_FAILED` with every problem located
   */
  async typeCheck(source: TenantPolicySource, inputSchema: Readonly<Record<string, unknown>>): Promise<void> {
    const tenantId = policyTenantOf(source.tenantId);
    const platform = await this.#platformModules(tenantId);
    const modules = new Map([...source.modules].filter(([name]) => !isTestModule(name)));
    const work = await mkdtemp(join(tmpdir(), 'ipsie-typecheck-'));
    try {
      await writeModules(join(work, 'platform'), platform);
      await writeModules(join(work, 'tenant'), modules);
      await writeFile(join(work, 'capabilities.json'), await this.#capabilitiesJson());
      await this.#check(work, tenantId, inputSchema);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /** `opa check` (JSON: located, structured errors), typed by the input schema when there is one. */
  async #check(
    work: string,
    tenantId: string,
    inputSchema: Readonly<Record<string, unknown>> | undefined,
  ): Promise<void> {
    const schemaArgs: string[] = [];
    if (inputSchema !== undefined) {
      await writeFile(join(work, 'input.schema.json'), JSON.stringify(inputSchema));
      schemaArgs.push('--schema', 'input.schema.json');
    }
    const check = await this.#opa(work, [
      'check',
      '--format',
      'json',
      '--capabilities',
      'capabilities.json',
      ...schemaArgs,
      'platform',
      'tenant',
    ]);
    if (check.code !== 0) throw new PolicyCompileError(tenantId, problemsFromCheck(check));
  }

  /** `opa test` over the tenant's tests (the platform's own are not run here). */
  async #test(work: string, tenantId: string): Promise<TestSummary> {
    const run = await this.#opa(work, [
      'test',
      '--format',
      'json',
      '--capabilities',
      'capabilities.json',
      'platform',
      'tenant',
      'static',
    ]);
    let results: {
      name?: string;
      fail?: boolean;
      error?: { message?: string };
      location?: { file?: string; row?: number; col?: number };
    }[];
    try {
      results = JSON.parse(run.stdout) as typeof results;
    } catch {
      // Not a test report: the tests did not compile.
      throw new PolicyCompileError(tenantId, problemsFromText(run.stderr || run.stdout));
    }
    const failed = results.filter((r) => r.fail === true || r.error !== undefined);
    if (failed.length > 0) {
      throw new PolicyTestFailedError(
        tenantId,
        failed.map((r) => ({
          file: displayFile(r.location?.file),
          row: r.location?.row,
          col: r.location?.col,
          code: r.error === undefined ? 'test_failed' : 'test_error',
          message: r.error?.message ?? `${r.name ?? 'a test'} failed`,
        })),
      );
    }
    return { passed: results.length, failed: 0 };
  }

  /**
   * The tenant's modules as `opa parse` reads them, or undefined when one does
   * not parse (`opa check` then reports where).
   */
  async #parseTenantModules(
    work: string,
    modules: ReadonlyMap<string, string>,
  ): Promise<Map<string, ParsedModule> | undefined> {
    const names = [...modules.keys()].filter((name) => !isTestModule(name));
    const runs = await Promise.all(
      names.map((name) =>
        this.#opa(join(work, 'tenant'), ['parse', '--format', 'json', '--json-include', 'locations,-comments', name]),
      ),
    );
    const parsed = new Map<string, ParsedModule>();
    for (const [i, run] of runs.entries()) {
      if (run.code !== 0) return undefined;
      parsed.set(names[i] ?? '', JSON.parse(run.stdout) as ParsedModule);
    }
    return parsed;
  }

  /** Every module's package must sit under the tenant's own namespace. */
  async #checkNamespaces(work: string, tenantId: string): Promise<void> {
    const run = await this.#opa(work, ['inspect', '--format', 'json', 'tenant']);
    if (run.code !== 0) throw new OpaUnavailableError('opa inspect failed', { detail: { stderr: run.stderr } });
    const namespaces = (JSON.parse(run.stdout) as { namespaces?: Record<string, string[]> }).namespaces ?? {};
    for (const [namespace, files] of Object.entries(namespaces)) {
      for (const file of files) {
        const name = file.replace(/^tenant\//, '');
        const root = isTestModule(name) ? `data.tenants_test.${tenantId}` : `data.tenants.${tenantId}`;
        if (namespace !== root && !namespace.startsWith(`${root}.`)) {
          throw new PolicyModuleRejectedError(
            `${name}: package ${namespace.replace(/^data\./, '')} is outside the tenant's namespace ${root.replace(/^data\./, '')}`,
          );
        }
      }
    }
  }

  /** The platform's rules, with the tenant's package bound statically (tenant_binding.ts). */
  async #platformModules(tenantId: string): Promise<Map<string, string>> {
    const modules = new Map<string, string>();
    for (const name of (await readdir(this.#options.platformDir)).sort()) {
      if (name.endsWith('.rego') && !isTestModule(name) && name !== TENANT_BINDING_FILE) {
        modules.set(name, await readFile(join(this.#options.platformDir, name), 'utf8'));
      }
    }
    if (modules.size === 0) throw new OpaUnavailableError(`no platform rules in ${this.#options.platformDir}`);
    modules.set(TENANT_BINDING_FILE, tenantBindingModule(tenantId));
    return modules;
  }

  /**
   * This OPA's language features, with only the builtins the Wasm SDK can
   * run. Computed once per compiler.
   */
  #capabilitiesJson(): Promise<string> {
    this.#capabilities ??= (async () => {
      const run = await this.#opa(tmpdir(), ['capabilities', '--current']);
      if (run.code !== 0) throw new OpaUnavailableError('opa capabilities failed', { detail: { stderr: run.stderr } });
      const current = JSON.parse(run.stdout) as { builtins: { name: string }[] };
      const require = createRequire(import.meta.url);
      const sdkRoot = dirname(dirname(require.resolve('@open-policy-agent/opa-wasm')));
      const sdk = JSON.parse(await readFile(join(sdkRoot, 'capabilities.json'), 'utf8')) as {
        builtins: { name: string }[];
      };
      const runnable = new Set(sdk.builtins.map((b) => b.name));
      const allowed = current.builtins.filter((b) => runnable.has(b.name) && !FORBIDDEN_BUILTINS.has(b.name));
      return JSON.stringify({ ...current, builtins: allowed });
    })();
    this.#capabilities.catch(() => (this.#capabilities = undefined));
    return this.#capabilities;
  }

  #opa(cwd: string, args: readonly string[]): Promise<OpaRun> {
    const { opaPath, timeoutMs, memoryLimitMb } = this.#options;
    // The memory bound is the shell's ulimit on the opa process alone, so a hostile upload cannot take the host's.
    const [file, argv] =
      memoryLimitMb === undefined
        ? [opaPath, args]
        : [
            '/bin/sh',
            ['-c', 'ulimit -v "$1" && shift && exec "$@"', 'sh', String(memoryLimitMb * 1024), opaPath, ...args],
          ];
    return new Promise((resolve, reject) => {
      execFile(
        file,
        argv,
        { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
        (error, stdout, stderr) => {
          if (error === null) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const failure = error as Omit<NodeJS.ErrnoException, 'code'> & {
            killed?: boolean;
            code?: number | string;
            signal?: string | null;
          };
          // ENOENT/EACCES from a direct run; 127/126 when the shell's exec cannot find or run it.
          if (failure.code === 'ENOENT' || failure.code === 'EACCES' || failure.code === 127 || failure.code === 126) {
            reject(new OpaUnavailableError(`the opa CLI was not found at ${opaPath}`, { cause: error }));
          } else if (failure.killed === true) {
            reject(new PolicyCompileTimeoutError(`opa ${args[0] ?? ''} did not finish within ${timeoutMs} ms`));
          } else if (
            memoryLimitMb !== undefined &&
            // Go reports a failed reservation, or dies of a signal when even its start-up does not fit.
            (/fatal error: (runtime: out of memory|failed to reserve)|cannot allocate memory/.test(stderr) ||
              typeof failure.signal === 'string')
          ) {
            reject(
              new PolicyCompileMemoryError(
                `opa ${args[0] ?? ''} needed more than the ${String(memoryLimitMb)} MiB it may use`,
                { detail: { stderr: stderr.slice(0, 2_000) } },
              ),
            );
          } else {
            resolve({ code: typeof failure.code === 'number' ? failure.code : 1, stdout, stderr });
          }
        },
      );
    });
  }
}

async function writeModules(dir: string, modules: ReadonlyMap<string, string>): Promise<void> {
  for (const [name, text] of modules) {
    const path = join(dir, name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
}

function versionOf(
  platform: ReadonlyMap<string, string>,
  tenant: ReadonlyMap<string, string>,
  data: Readonly<Record<string, unknown>>,
): string {
  const hash = createHash('sha256');
  hash.update(`data\0${JSON.stringify(data)}\0`);
  for (const [scope, modules] of [
    ['platform', platform],
    ['tenant', tenant],
  ] as const) {
    for (const name of [...modules.keys()].sort()) {
      if (isTestModule(name)) continue;
      hash.update(`${scope}/${name}\0${modules.get(name) ?? ''}\0`);
    }
  }
  return `sha256:${hash.digest('hex').slice(0, 16)}`;
}

/** Tenant files are reported by their own names; platform files keep their prefix. */
function displayFile(file: string | undefined): string | undefined {
  return file?.replace(/^tenant\//, '');
}

function problem(message: string): CompileProblem {
  return { file: undefined, row: undefined, col: undefined, code: 'opa_error', message };
}

interface CheckOutput {
  errors?: { message?: string; code?: string; location?: { file?: string; row?: number; col?: number } }[];
}

/** `opa check --format json` reports on stderr (stdout in some versions). */
function problemsFromCheck(run: OpaRun): CompileProblem[] {
  let parsed: CheckOutput;
  try {
    parsed = JSON.parse(run.stderr.trim() || run.stdout) as CheckOutput;
  } catch {
    return problemsFromText(run.stderr || run.stdout);
  }
  const problems = (parsed.errors ?? []).map((e): CompileProblem => ({
    file: displayFile(e.location?.file),
    row: e.location?.row,
    col: e.location?.col,
    code: e.code ?? 'opa_error',
    message: e.message ?? 'unknown error',
  }));
  return problems.length > 0 ? problems : problemsFromText(run.stderr);
}

/** Parses `file:row: code: message` lines from `opa build` output. */
function problemsFromText(text: string): CompileProblem[] {
  const problems: CompileProblem[] = [];
  for (const match of text.matchAll(/([^\s:]+\.rego):(\d+)(?::(\d+))?: (\w+): ([^\n]+)/g)) {
    const [, file, row, col, code, message] = match;
    problems.push({
      file: displayFile(file),
      row: Number(row),
      col: col === undefined ? undefined : Number(col),
      code: code ?? 'opa_error',
      message: message ?? '',
    });
  }
  return problems.length > 0 ? problems : [problem(text.trim() || 'opa failed without a message')];
}
