import { readFile } from 'node:fs/promises';
import { attributesJsonSchema } from '../attribute_catalog.js';
import { parseConfig } from '../config/index.js';
import {
  loadPolicyDirectory,
  PolicyCompiler,
  PolicyCompileError,
  PolicyModuleRejectedError,
  policyInputJsonSchema,
  PolicyTestFailedError,
} from '../policy/index.js';
import type { Explanation } from '../explain/index.js';
import type { CompileProblem } from '../policy/index.js';
import { tenantKeyOf } from '../tenant_id.js';

export const POLICY_USAGE = `usage: ipsie-sidecar policy <command> [options]

commands:
  test <dir>                 compile <dir> with the platform rules and run its *_test.rego (local opa)
  push <dir> [--activate]    upload <dir> (*.rego, optional data.json) as a new version; print it
  list                       the tenant's versions and which is active
  diff <version> <file>      dry-run: which of the Check requests in <file> (a JSON array) would change
  activate <version>         make <version> active on every sidecar
  rollback                   re-activate the previous version
  promote <version>          review promoting <version> of the tenant's sandbox (<tenant>.sandbox) to the
          [--since-s <s>]    tenant: the Rego diff against the active version and a dry-run of the tenant's
          [--limit <n>]      recorded decisions; prints the review's digest
  promote <version> --review <digest>
                             promote on that review: refused if the active version changed since
  explain <decision-id>      why a sampled decision came out as it did: the rules behind each reason
  explain --request <file>   the same for a Check request (JSON) decided again now [--version <v>]
          [--json]           print the whole explanation as JSON (with the input, redacted)

options (or environment):
  --gateway <url>            IPSIE_GATEWAY_URL    the gateway's base URL
  --tenant <id>              IPSIE_TENANT         the tenant, or its sandbox (acme.sandbox)
  --token-file <path>        IPSIE_ADMIN_TOKEN    the tenant admin bearer token (file, or the variable)

exit status: 0 done, 1 refused or failed (the reason is printed), 2 usage.`;

export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

class UsageError extends Error {}

/** `ipsie-sidecar policy …` for tenants and CI. Returns the exit status. */
export async function runPolicyCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    return await run(argv, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n${POLICY_USAGE}`);
      return 2;
    }
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { positional, flags } = parseArgs(argv);
  const [command, ...args] = positional;
  switch (command) {
    case 'test':
      return await test(args[0], io);
    case 'push':
      return await push(args[0], flags, io);
    case 'list': {
      const r = await call(flags, io, 'GET', '');
      return report(r, io, (body) => {
        const versions = body['versions'] as { version: string; created_at: number; active: boolean }[];
        if (versions.length === 0) io.out('no versions');
        for (const v of versions) {
          io.out(`${v.active ? '*' : ' '} ${v.version}  ${new Date(v.created_at).toISOString()}`);
        }
      });
    }
    case 'diff': {
      if (args[0] === undefined || args[1] === undefined) throw new UsageError('diff needs <version> <file>');
      const requests = JSON.parse(await readFile(args[1], 'utf8')) as unknown;
      const r = await call(flags, io, 'POST', `/${segment(args[0])}/dry-run`, { requests });
      return report(r, io, (body) => {
        const outcomes = body['outcomes'] as {
          request: unknown;
          changed: boolean;
          current: { decision: string; reasons: string[] } | null;
          candidate: { decision: string; reasons: string[] };
        }[];
        for (const o of outcomes.filter((x) => x.changed)) {
          const was = o.current === null ? 'none' : `${o.current.decision} ${o.current.reasons.join(',')}`;
          io.out(`~ ${JSON.stringify(o.request)}: ${was} -> ${o.candidate.decision} ${o.candidate.reasons.join(',')}`);
        }
        io.out(
          `${String(body['changed'])} of ${outcomes.length} decisions change (${String(body['current'])} -> ${String(body['candidate'])})`,
        );
      });
    }
    case 'activate': {
      if (args[0] === undefined) throw new UsageError('activate needs <version>');
      const r = await call(flags, io, 'POST', `/${segment(args[0])}/activate`);
      return report(r, io, (body) => {
        io.out(
          `active: ${String(body['version'])} (was ${String(body['previous'])}, revision ${String(body['revision'])})`,
        );
      });
    }
    case 'explain':
      return await explain(args[0], flags, io);
    case 'promote':
      return await promote(args[0], flags, io);
    case 'rollback': {
      const r = await call(flags, io, 'POST', '/rollback');
      return report(r, io, (body) => {
        io.out(`active: ${String(body['version'])} (rolled back from ${String(body['previous'])})`);
      });
    }
    default:
      throw new UsageError(command === undefined ? 'a command is required' : `unknown command "${command}"`);
  }
}

async function test(dir: string | undefined, io: CliIo): Promise<number> {
  if (dir === undefined) throw new UsageError('test needs <dir>');
  const config = parseConfig(io.env);
  // A sandbox (acme.sandbox) compiles as its key: its policy is in its production's package.
  const named = tenantOf(io.env, dir);
  const source = await loadPolicyDirectory(dir, tenantKeyOf(named) ?? named);
  const compiler = new PolicyCompiler({
    opaPath: config.policy.opaPath,
    platformDir: config.policy.platformDir,
    timeoutMs: config.policy.buildTimeoutMs,
    memoryLimitMb: config.policy.opaMemoryLimitMb,
  });
  try {
    // Typed as the gateway types an upload when the tenants file (IPSIE_TENANTS_FILE) declares a catalog.
    const catalog = config.tenants.find((t) => t.id === source.tenantId)?.attributeCatalog;
    const inputSchema = catalog?.declared === true ? policyInputJsonSchema(attributesJsonSchema(catalog)) : undefined;
    const compiled = await compiler.compile(source, { runTests: true, inputSchema });
    io.out(`ok ${compiled.version}: compiles, ${compiled.tests?.passed ?? 0} tests pass`);
    return 0;
  } catch (error) {
    if (
      error instanceof PolicyCompileError ||
      error instanceof PolicyTestFailedError ||
      error instanceof PolicyModuleRejectedError
    ) {
      io.err(`${error.code}: ${error.message}`);
      for (const p of (error as { problems?: readonly CompileProblem[] }).problems ?? []) io.err(formatProblem(p));
      return 1;
    }
    throw error;
  }
}

async function push(dir: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  if (dir === undefined) throw new UsageError('push needs <dir>');
  const source = await loadPolicyDirectory(dir, tenant(flags, io));
  const r = await call(flags, io, 'POST', '', {
    modules: Object.fromEntries(source.modules),
    data: source.data ?? {},
  });
  const status = report(r, io, (body) => {
    const tests = body['tests'] as { passed: number } | null;
    io.out(`${String(body['version'])} (${String(body['stored'])}; ${tests?.passed ?? 0} tests pass)`);
  });
  if (status !== 0 || flags['activate'] !== 'true') return status;
  const activated = await call(flags, io, 'POST', `/${segment(String(r.body['version']))}/activate`);
  return report(activated, io, (body) => {
    io.out(`active: ${String(body['version'])} (revision ${String(body['revision'])})`);
  });
}

/** A review first (diff and dry-run, printed); a promotion only on a review's digest. */
async function promote(version: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  if (version === undefined) throw new UsageError('promote needs <version>');
  const digest = flags['review'];
  if (digest !== undefined) {
    const r = await call(flags, io, 'POST', '', { review: digest, version }, '/promotions');
    return report(r, io, (body) => {
      const from = body['promoted_from'] as { tenant: string; version: string };
      io.out(`active: ${String(body['version'])} (promoted from ${from.tenant}; was ${String(body['previous'])})`);
    });
  }
  const recorded = {
    ...(flags['since-s'] === undefined ? {} : { since_s: Number(flags['since-s']) }),
    ...(flags['limit'] === undefined ? {} : { limit: Number(flags['limit']) }),
  };
  const r = await call(flags, io, 'POST', `/${segment(version)}/review`, { recorded }, '/promotions');
  return report(r, io, (body) => {
    const active = body['production'] as { version: string | null; revision: number };
    io.out(`${String(body['from'])} ${version} -> ${tenant(flags, io)} (active: ${active.version ?? 'none'})`);
    const marks = { added: '+', removed: '-', changed: '~', same: '=' } as const;
    for (const m of body['modules'] as { file: string; change: keyof typeof marks; diff?: string }[]) {
      io.out(`${marks[m.change]} ${m.file} (${m.change})`);
      if (m.change === 'changed') for (const line of (m.diff ?? '').split('\n')) io.out(`    ${line}`);
    }
    if (body['data_changed'] === true) io.out('~ data.json (changed)');
    const catalog = body['attribute_catalog'] as { added: string[]; removed: string[]; changed: string[] };
    for (const [mark, names] of [
      ['+', catalog.added],
      ['-', catalog.removed],
      ['~', catalog.changed],
    ] as const) {
      for (const name of names) io.out(`${mark} attribute ${name} (the sandbox's attribute catalog; not promoted)`);
    }
    interface Decided {
      readonly decision: string;
      readonly reasons: readonly string[];
    }
    const dryRun = body['dry_run'] as {
      decisions: number;
      changed: number;
      skipped: number;
      examples: { decisionId: string; recorded: Decided; candidate: Decided }[];
    };
    io.out(
      `dry-run: ${dryRun.changed} of ${dryRun.decisions} recorded decisions change (${dryRun.skipped} without an input)`,
    );
    const decided = (d: Decided): string => `${d.decision} ${d.reasons.join(',')}`;
    for (const e of dryRun.examples) {
      io.out(`  ~ ${e.decisionId}: ${decided(e.recorded)} -> ${decided(e.candidate)}`);
    }
    io.out(`review ${String(body['review'])} (until ${new Date(Number(body['expires_at'])).toISOString()})`);
    io.out(`promote with: ipsie-sidecar policy promote ${version} --review ${String(body['review'])}`);
  });
}

async function explain(decisionId: string | undefined, flags: Flags, io: CliIo): Promise<number> {
  const requestFile = flags['request'];
  if ((decisionId === undefined) === (requestFile === undefined)) {
    throw new UsageError('explain needs a <decision-id> or --request <file>, not both');
  }
  const r =
    requestFile === undefined
      ? await call(flags, io, 'GET', `/decisions/${segment(decisionId ?? '')}/explanation`, undefined, '')
      : await call(
          flags,
          io,
          'POST',
          '/explanations',
          {
            request: JSON.parse(await readFile(requestFile, 'utf8')) as unknown,
            ...(flags['version'] === undefined ? {} : { version: flags['version'] }),
          },
          '',
        );
  return report(r, io, (body) => {
    if (flags['json'] === 'true') {
      io.out(JSON.stringify(body, null, 2));
      return;
    }
    const e = body as unknown as Explanation;
    const when = e.decided_at === null ? 'decided again now' : `decided ${new Date(e.decided_at).toISOString()}`;
    io.out(`${e.decision} (${when}; policy ${e.policy_version}; stream sequence ${String(e.sequence)})`);
    if (e.decided_by === 'sidecar') io.out('decided by the sidecar: the policy was not consulted');
    for (const reason of e.reasons) {
      io.out(`${reason.code}${reason.message === '' ? '' : `: ${reason.message}`}`);
      if (reason.note !== undefined) io.out(`  ${reason.note}`);
      for (const rule of reason.rules) {
        const value = rule.value === undefined ? '' : ` = ${JSON.stringify(rule.value)}`;
        io.out(`  ${rule.origin.padEnd(8)} ${rule.file}:${String(rule.row)}  ${rule.rule}${value}`);
      }
    }
    if (e.evaluation?.agrees === false) {
      io.out(`note: evaluated again, the policy answers ${e.evaluation.decision}: the explanation may not match`);
    }
    if (e.evaluation?.platform_changed === true) {
      io.out('note: the platform rules have changed since this version was compiled');
    }
  });
}

type Flags = Readonly<Record<string, string>>;

function parseArgs(argv: readonly string[]): { positional: string[]; flags: Flags } {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--activate' || arg === '--json') flags[arg.slice(2)] = 'true';
    else if (arg.startsWith('--')) {
      const value = argv[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      flags[arg.slice(2)] = value;
    } else positional.push(arg);
  }
  return { positional, flags };
}

function tenant(flags: Flags, io: CliIo): string {
  const t = flags['tenant'] ?? io.env['IPSIE_TENANT'];
  if (t === undefined || t === '') throw new UsageError('the tenant is required (--tenant or IPSIE_TENANT)');
  return t;
}

function tenantOf(env: CliIo['env'], dir: string): string {
  return env['IPSIE_TENANT'] ?? dir.replace(/\/+$/, '').split('/').pop() ?? '';
}

interface Reply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** @param area under the tenant's admin API: its policies unless said otherwise */
async function call(
  flags: Flags,
  io: CliIo,
  method: string,
  path: string,
  body?: unknown,
  area = '/policies',
): Promise<Reply> {
  const gateway = flags['gateway'] ?? io.env['IPSIE_GATEWAY_URL'];
  if (gateway === undefined) throw new UsageError('the gateway URL is required (--gateway or IPSIE_GATEWAY_URL)');
  const tokenFile = flags['token-file'];
  const token = tokenFile === undefined ? io.env['IPSIE_ADMIN_TOKEN'] : (await readFile(tokenFile, 'utf8')).trim();
  if (token === undefined || token === '') {
    throw new UsageError('the admin token is required (--token-file or IPSIE_ADMIN_TOKEN)');
  }
  const response = await fetch(`${gateway.replace(/\/+$/, '')}/admin/v1/${segment(tenant(flags, io))}${area}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: replyBody(response.status, text) };
}

/** A path segment from an argument: `/`, `?` and `..` inside it cannot reach another tenant's path. */
function segment(value: string): string {
  // URL parsing resolves "." and ".." (encoded or not) as path steps: no encoding keeps them one segment.
  if (value === '' || value === '.' || value === '..') throw new UsageError(`"${value}" is not a tenant or version`);
  return encodeURIComponent(value);
}

/** The gateway answers JSON; anything else (a proxy's error page) is reported as it came. */
function replyBody(status: number, text: string): Record<string, unknown> {
  if (text === '') return {};
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // not JSON: fall through
  }
  return { code: status, detail: text.slice(0, 500) };
}

function report(reply: Reply, io: CliIo, ok: (body: Record<string, unknown>) => void): number {
  if (reply.status < 300) {
    ok(reply.body);
    return 0;
  }
  const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));
  io.err(`${text(reply.body['code'] ?? reply.status)}: ${text(reply.body['detail'] ?? '')}`);
  for (const p of (reply.body['problems'] as CompileProblem[] | undefined) ?? []) io.err(formatProblem(p));
  return 1;
}

function formatProblem(p: CompileProblem): string {
  const where = p.file === undefined ? '' : `${p.file}:${p.row ?? 0}:${p.col ?? 0}: `;
  return `  ${where}${p.code}: ${p.message}`;
}
