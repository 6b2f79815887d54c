/**
 * Check against OPA, side by side (`npm run bench -- side-by-side`).
 *
 * One Rego policy (the platform rules + the acme example) and one directory
 * (BENCH_USERS users, default 10,000, one session each, ten groups each out
 * of 1,000) are given to both servers:
 *   - `opa run --server` (the pinned .tools/bin/opa) gets the Rego and the
 *     directory as data.json, plus a small module that looks the session and
 *     its user up in `data` and evaluates `data.ipsie.authz.decision` on them;
 *   - an `ipsie-sidecar sidecar` process gets the same directory in its
 *     SQLite store (written as bench/check.ts does) and the policy compiled
 *     to Wasm.
 * Go load generators drive both, so that the client is not the bottleneck:
 * ghz against gRPC Check (Unix socket, and TCP loopback with a caller token),
 * hey against OPA's REST API, at concurrency 1, 8 and 64 for BENCH_SECONDS
 * each (default 10). Then the noisy-tenant row: tenant acme's throughput
 * while a second tenant's Checks run a policy that always exceeds the
 * evaluation budget, against acme's throughput just before.
 *
 * IPSIE_SIDECAR_PROCESSES (and any other IPSIE_* setting) passes through to
 * the sidecar; its CPU use counts its processes.
 *
 * BENCH_PROFILE=1 instead runs only Check UDS at concurrency 64 with the
 * sidecar under `node --cpu-prof`, and prints the top 15 functions by self
 * time of each thread's profile.
 *
 * ghz and hey are installed, pinned, by scripts/bench.sh (scripts/lib.sh).
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAuthorizationClient } from '../src/check/index.js';
import type { AuthorizationClient, CheckRequestMessage, CheckResponseMessage } from '../src/check/index.js';
import { EntitlementStore } from '../src/store/index.js';
import { ROOT, startRole, stopRole, until } from './processes.js';
import { formatMs } from './stats.js';

const USERS = positiveEnv('BENCH_USERS', 10_000);
const SECONDS = positiveEnv('BENCH_SECONDS', 10);
const PROFILE = process.env['BENCH_PROFILE'] === '1';
/** Only the noisy-tenant row (issue 20's isolation figure), without the concurrency table. */
const NOISY_ONLY = process.env['BENCH_NOISY_ONLY'] === '1';
const GROUPS = 1_000;
const MEMBERSHIPS_PER_USER = 10;
const GROUP_NAMES = ['Engineering', 'Engineering Leads', 'Finance', 'Acme Admins'];
const CONCURRENCIES = [1, 8, 64] as const;
const CALLER_TOKEN = 'side-by-side-bench-caller-token';
const GHZ = join(ROOT, '.tools/bin/ghz');
const HEY = join(ROOT, '.tools/bin/hey');
const OPA = join(ROOT, '.tools/bin/opa');

/** The tenant whose policy never finishes within the budget (issue 20's example). */
const NOISY_POLICY = `package tenants.noisy

allow if {
	input.action.name == "heavy"
	xs := numbers.range(1, 12000)
	xs[_] == 0 - xs[_]
}
`;

/**
 * What OPA evaluates: the sidecar's input, built from data instead of the
 * store, then the platform's decision over it. `now` is read per query, as
 * the sidecar reads its clock per Check.
 */
const OPA_ENTRY = `package bench

import data.ipsie.authz

session := data.directory.sessions[input.session_id]

user := data.directory.users[session.user_id]

subject := object.union(object.remove(user, ["group_ids"]), {"groups": [g | some id in user.group_ids; g := data.directory.groups[id]]})

request := {
	"tenant": "acme",
	"now": floor(time.now_ns() / 1000000000),
	"subject": subject,
	"session": object.remove(session, ["user_id"]),
	"posture": {},
	"action": input.action,
	"resource": input.resource,
	"context": {},
}

decision := d if {
	d := authz.decision with input as request
}
`;

const ACTION = { name: 'write', properties: {} };
const RESOURCE = { type: 'repository', id: 'api', properties: {} };

function positiveEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, got "${raw}"`);
  return value;
}

const userId = (i: number): string => `00000000-0000-4000-8000-${i.toString().padStart(12, '0')}`;
const sessionId = (i: number): string => `s${i}`;
const groupOf = (i: number, k: number): number =>
  k === 0 ? i % GROUP_NAMES.length : GROUP_NAMES.length + ((i * 7 + k * 131) % (GROUPS - GROUP_NAMES.length));
const groupName = (g: number): string => (g < GROUP_NAMES.length ? (GROUP_NAMES[g] ?? '') : `Team ${g}`);

interface Directory {
  readonly store: string;
  readonly opaData: string;
}

/** The same directory twice: the sidecar's store and OPA's data.json. */
function buildDirectory(dir: string): Directory {
  const now = Math.floor(Date.now() / 1000);
  const users: Record<string, unknown> = {};
  const sessions: Record<string, unknown> = {};
  const groups: Record<string, unknown> = {};
  const storePath = join(dir, 'sidecar.db');
  const store = EntitlementStore.open(storePath);
  store.transaction(() => {
    store.upsertTenant({ id: 'acme', displayName: 'Acme' });
    store.upsertTenant({ id: 'noisy', displayName: 'Noisy' });
    for (let g = 0; g < GROUPS; g++) {
      store.upsertGroup({ tenantId: 'acme', id: `g${g}`, displayName: groupName(g), externalId: undefined });
      groups[`g${g}`] = { id: `g${g}`, display_name: groupName(g), external_id: null };
    }
    const add = (tenantId: string, i: number, groupIds: string[]): void => {
      const attributes = { department: i % 2 === 0 ? 'R&D' : 'Sales', title: 'Engineer', costCenter: `cc-${i % 50}` };
      store.upsertUser({
        tenantId,
        id: userId(i),
        userName: `user${i}@${tenantId}.example`,
        externalId: undefined,
        active: true,
        attributes,
        roles: [],
      });
      for (const g of groupIds) store.addMember(tenantId, g, userId(i));
      const session = {
        issuer: `https://idp.${tenantId}.example`,
        acr: 'urn:okta:loa:1fa:pwd',
        amr: ['pwd'],
        authTime: now - 60,
        expiresAt: now + 86_400,
      };
      store.upsertSession({
        tenantId,
        id: sessionId(i),
        userId: userId(i),
        ...session,
        createdAt: now - 60,
        revokedAt: undefined,
        revokeReason: undefined,
        ip: undefined,
        deviceId: undefined,
      });
      if (tenantId !== 'acme') return;
      users[userId(i)] = {
        id: userId(i),
        user_name: `user${i}@acme.example`,
        external_id: null,
        active: true,
        attributes,
        roles: [],
        group_ids: groupIds,
      };
      sessions[sessionId(i)] = {
        user_id: userId(i),
        id: sessionId(i),
        issuer: session.issuer,
        acr: session.acr,
        amr: session.amr,
        auth_time: session.authTime,
        expires_at: session.expiresAt,
        revoked: false,
        ip: null,
        device_id: null,
      };
    };
    for (let i = 0; i < USERS; i++) {
      add(
        'acme',
        i,
        Array.from({ length: MEMBERSHIPS_PER_USER }, (_, k) => `g${groupOf(i, k)}`),
      );
    }
    add('noisy', 0, []);
  });
  store.close();
  const opaData = join(dir, 'data.json');
  writeFileSync(opaData, JSON.stringify({ directory: { users, sessions, groups } }));
  return { store: storePath, opaData };
}

/** The sidecar's tenant policy folder (acme's example + the noisy tenant) and OPA's modules. */
function writePolicies(dir: string): { tenants: string; opaModules: string[] } {
  const tenants = join(dir, 'tenants');
  cpSync(join(ROOT, 'policies/examples/acme'), join(tenants, 'acme'), { recursive: true });
  mkdirSync(join(tenants, 'noisy'));
  writeFileSync(join(tenants, 'noisy/authz.rego'), NOISY_POLICY);
  const entry = join(dir, 'bench.rego');
  writeFileSync(entry, OPA_ENTRY);
  return {
    tenants,
    opaModules: [
      join(ROOT, 'policies/ipsie/authz.rego'),
      join(ROOT, 'policies/ipsie/tenant.rego'),
      join(ROOT, 'policies/examples/acme/authz.rego'),
      entry,
    ],
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address === null || typeof address === 'string') reject(new Error('no port'));
        else resolve(address.port);
      });
    });
  });
}

function check(client: AuthorizationClient, request: CheckRequestMessage): Promise<CheckResponseMessage> {
  return new Promise((resolve, reject) => {
    client.check(request, (error, response) => {
      if (error !== null) reject(error);
      else if (response === undefined) reject(new Error('no response'));
      else resolve(response);
    });
  });
}

async function opaDecision(url: string, session: string): Promise<{ decision: string; reasons: { code: string }[] }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ input: { session_id: session, action: ACTION, resource: RESOURCE } }),
  });
  const body = (await response.json()) as { result?: { decision: string; reasons: { code: string }[] } };
  if (body.result === undefined) throw new Error(`OPA answered no decision: ${JSON.stringify(body)}`);
  return body.result;
}

/** Both servers give the same answer (allow for developers, deny for the rest) before anything is timed. */
async function sameAnswers(client: AuthorizationClient, opaUrl: string): Promise<void> {
  for (const i of [0, 1, 2, 3, USERS - 1]) {
    const ours = await check(client, {
      tenant: 'acme',
      subject: { session_id: sessionId(i) },
      action: { name: ACTION.name },
      resource: { type: RESOURCE.type, id: RESOURCE.id },
    });
    const theirs = await opaDecision(opaUrl, sessionId(i));
    const oursText = `${ours.decision.replace('DECISION_', '').toLowerCase()} ${ours.reasons.map((r) => r.code).join(',')}`;
    const theirsText = `${theirs.decision} ${theirs.reasons.map((r) => r.code).join(',')}`;
    if (oursText !== theirsText) throw new Error(`session ${sessionId(i)}: sidecar "${oursText}", OPA "${theirsText}"`);
  }
}

interface LoadResult {
  readonly rate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly calls: number;
  readonly errors: number;
}

const exec = promisify(execFile);

function ghzArgs(target: string, tenant: string, concurrency: number, seconds: number): string[] {
  const subject = tenant === 'acme' ? `{"session_id":"s{{randomInt 0 ${USERS}}}"}` : `{"session_id":"${sessionId(0)}"}`;
  const action = tenant === 'acme' ? ACTION.name : 'heavy';
  return [
    '--proto',
    join(ROOT, 'proto/ipsie/sidecar/v1/authz.proto'),
    '--import-paths',
    join(ROOT, 'proto'),
    '--call',
    'ipsie.sidecar.v1.Authorization.Check',
    '--insecure',
    '--format',
    'json',
    '-z',
    `${seconds}s`,
    '-c',
    String(concurrency),
    '--connections',
    String(concurrency >= 8 ? 4 : 1),
    '-d',
    `{"tenant":"${tenant}","subject":${subject},"action":{"name":"${action}"},"resource":{"type":"repository","id":"api"}}`,
    '-m',
    JSON.stringify({ authorization: `Bearer ${CALLER_TOKEN}` }),
    target,
  ];
}

interface GhzReport {
  count: number;
  rps: number;
  latencyDistribution: { percentage: number; latency: number }[] | null;
  errorDistribution?: Record<string, number> | null;
}

/**
 * ghz cuts the calls still in flight when its duration ends (cancels them,
 * closes its connections) and counts them as errors: they are not.
 */
const CUT_AT_END = /code = Canceled|client connection is closing|context canceled|use of closed network connection/;

function ghzResult(stdout: string): LoadResult {
  const report = JSON.parse(stdout) as GhzReport;
  const at = (p: number): number =>
    (report.latencyDistribution?.find((d) => d.percentage === p)?.latency ?? Number.NaN) / 1e6;
  let errors = 0;
  for (const [message, n] of Object.entries(report.errorDistribution ?? {})) {
    if (CUT_AT_END.test(message)) continue;
    errors += n;
    console.error(`  ghz: ${n} x ${message}`);
  }
  return { rate: report.rps, p50Ms: at(50), p99Ms: at(99), calls: report.count, errors };
}

async function ghz(target: string, concurrency: number, seconds = SECONDS, tenant = 'acme'): Promise<LoadResult> {
  const { stdout } = await exec(GHZ, ghzArgs(target, tenant, concurrency, seconds), { maxBuffer: 64 * 1024 * 1024 });
  return ghzResult(stdout);
}

/** hey sends one body: the same session on every call (OPA has no cache, so which one does not matter to it). */
async function hey(url: string, concurrency: number, seconds = SECONDS): Promise<LoadResult> {
  const body = JSON.stringify({ input: { session_id: sessionId(1), action: ACTION, resource: RESOURCE } });
  const { stdout } = await exec(
    HEY,
    ['-z', `${seconds}s`, '-c', String(concurrency), '-m', 'POST', '-T', 'application/json', '-d', body, url],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const number = (pattern: RegExp): number => {
    const match = pattern.exec(stdout);
    if (match?.[1] === undefined) throw new Error(`hey output without ${String(pattern)}:\n${stdout}`);
    return Number(match[1]);
  };
  const [, statuses = '', failures = ''] =
    /Status code distribution:([\s\S]*?)(?:Error distribution:([\s\S]*))?$/.exec(stdout) ?? [];
  // Status lines are "[200] 1234 responses"; error lines "[12] Post ...: <error>".
  const responses = [...statuses.matchAll(/\[(\d+)\]\s+(\d+) responses/g)];
  const answered = responses.reduce((n, m) => n + Number(m[2]), 0);
  const ok = responses.filter((m) => m[1] === '200').reduce((n, m) => n + Number(m[2]), 0);
  const failed = [...failures.matchAll(/\[(\d+)\]/g)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    rate: number(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: number(/50%+ in ([\d.]+) secs/) * 1000,
    p99Ms: number(/99%+ in ([\d.]+) secs/) * 1000,
    calls: answered + failed,
    errors: answered - ok + failed,
  };
}

interface Servers {
  readonly sidecar: ChildProcess;
  readonly opa: ChildProcess | undefined;
  readonly uds: string;
  readonly tcp: string;
  readonly opaUrl: string;
  readonly metricsUrl: string;
  readonly client: AuthorizationClient;
  /** The kernel's clock ticks per second, the unit of /proc/<pid>/stat's CPU times. */
  readonly ticksPerSecond: number;
}

async function startServers(
  dir: string,
  directory: Directory,
  withOpa: boolean,
  profileDir?: string,
): Promise<Servers> {
  const { tenants, opaModules } = writePolicies(mkdtempSync(join(dir, 'policies-')));
  const ticksPerSecond = Number((await exec('getconf', ['CLK_TCK'])).stdout.trim());
  const tcpPort = await freePort();
  const healthPort = await freePort();
  const socket = join(dir, 'check.sock');
  const sidecar = startRole(
    'sidecar',
    {
      IPSIE_STORE_PATH: directory.store,
      IPSIE_GRPC_SOCKET: socket,
      IPSIE_GRPC_ADDRESS: `127.0.0.1:${tcpPort}`,
      IPSIE_GRPC_CALLER_TOKEN_SHA256: createHash('sha256').update(CALLER_TOKEN).digest('hex'),
      IPSIE_TENANT_POLICY_DIR: tenants,
      IPSIE_HEALTH_ADDRESS: `127.0.0.1:${healthPort}`,
      // Over-budget evaluations are counted from /metrics instead of logged one by one.
      IPSIE_LOG_LEVEL: 'error',
    },
    profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`],
  );
  let opa: ChildProcess | undefined;
  const opaPort = await freePort();
  if (withOpa) {
    opa = spawn(
      OPA,
      [
        'run',
        '--server',
        '--skip-version-check',
        '--log-level=error',
        `--addr=127.0.0.1:${opaPort}`,
        ...opaModules,
        directory.opaData,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  }
  // With caller tokens configured, the socket asks for one too.
  const client = createAuthorizationClient(`unix:${socket}`, { callerToken: CALLER_TOKEN });
  const servers = {
    sidecar,
    opa,
    uds: `unix://${socket}`,
    tcp: `127.0.0.1:${tcpPort}`,
    opaUrl: `http://127.0.0.1:${opaPort}/v1/data/bench/decision`,
    metricsUrl: `http://127.0.0.1:${healthPort}/metrics`,
    client,
    ticksPerSecond,
  };
  try {
    await readyUnlessExited(sidecar, 'the sidecar', async () => {
      const answer = await check(client, {
        tenant: 'acme',
        subject: { session_id: sessionId(0) },
        action: { name: ACTION.name },
        resource: { type: RESOURCE.type, id: RESOURCE.id },
      });
      return answer.policy_version !== '';
    });
    if (opa !== undefined) {
      await readyUnlessExited(opa, 'OPA', async () => (await fetch(`http://127.0.0.1:${opaPort}/health`)).ok);
    }
  } catch (error) {
    await stopServers(servers);
    throw error;
  }
  return servers;
}

/** `until(probe)`, failing at once if `child` exits first. */
async function readyUnlessExited(child: ChildProcess, name: string, probe: () => Promise<boolean>): Promise<void> {
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`${name} exited (${String(code)}) before it was ready`));
    });
  });
  await Promise.race([until(probe, 120_000), exited]);
}

async function stopServers(servers: Servers): Promise<void> {
  servers.client.close();
  await stopRole(servers.sidecar);
  if (servers.opa !== undefined) await stopRole(servers.opa);
}

/** acme's decisions by first reason code, from the sidecar's `ipsie_decisions_total`. */
async function acmeReasons(servers: Servers): Promise<Map<string, number>> {
  const text = await (await fetch(servers.metricsUrl)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^ipsie_decisions_total\{([^}]*)\} (\d+)$/gm)) {
    const labels = m[1] ?? '';
    if (!labels.includes('tenant="acme"')) continue;
    const reason = /reason="([^"]*)"/.exec(labels)?.[1] ?? '';
    out.set(reason, (out.get(reason) ?? 0) + Number(m[2]));
  }
  return out;
}

/**
 * CPU time (user + system, every thread) a process has used so far, in
 * seconds, from /proc, with its children's (the sidecar's processes under
 * IPSIE_SIDECAR_PROCESSES; OPA compiles): the living ones' and the reaped.
 */
function cpuSeconds(child: ChildProcess, ticksPerSecond: number): number {
  if (child.pid === undefined) return Number.NaN;
  return treeTicks(child.pid, true) / ticksPerSecond;
}

function treeTicks(pid: number, withReaped: boolean): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  } catch {
    return 0; // exited in between
  }
  // Fields after "(comm)": state is field 3, utime 14, stime 15, cutime 16, cstime 17.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  let ticks = Number(fields[11]) + Number(fields[12]);
  if (withReaped) ticks += Number(fields[13]) + Number(fields[14]);
  let children: string[] = [];
  try {
    children = readdirSync(`/proc/${String(pid)}/task`).flatMap((task) =>
      readFileSync(`/proc/${String(pid)}/task/${task}/children`, 'utf8')
        .split(' ')
        .filter(Boolean),
    );
  } catch {
    // exited in between
  }
  for (const c of children) ticks += treeTicks(Number(c), false);
  return ticks;
}

interface Observed extends LoadResult {
  /** The server's CPU use during the load, in cores. */
  readonly cores: number;
  /** acme's answers that did not come from its policy, e.g. "3 POLICY_TIMEOUT". */
  readonly failClosed: string;
}

/**
 * Runs `load` against `server` and adds what the server side shows: its CPU
 * use, and the answers acme got that did not come from its policy (an
 * evaluation over budget answers POLICY_TIMEOUT): fast answers that fail
 * closed are not throughput.
 */
async function observed(servers: Servers, server: ChildProcess, load: () => Promise<LoadResult>): Promise<Observed> {
  const before = await acmeReasons(servers);
  const cpuBefore = cpuSeconds(server, servers.ticksPerSecond);
  const started = performance.now();
  const result = await load();
  const cores = (cpuSeconds(server, servers.ticksPerSecond) - cpuBefore) / ((performance.now() - started) / 1000);
  const after = await acmeReasons(servers);
  const failClosed = [...after]
    .filter(([reason]) => reason !== 'POLICY_ALLOWED' && reason !== 'POLICY_DENIED')
    .map(([reason, n]) => [reason, n - (before.get(reason) ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${n} ${reason}`)
    .join(', ');
  return { ...result, cores, failClosed };
}

const perSecond = (n: number): string => `${Math.round(n).toLocaleString('en-US')}/s`;
const ratio = (ours: number, theirs: number): string => `${(ours / theirs).toFixed(2)}x`;

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function machine(): string {
  const cores = cpus();
  const load = loadavg().map((l) => l.toFixed(2));
  const processes = process.env['IPSIE_SIDECAR_PROCESSES'] ?? '1';
  return `node ${process.version}, ${cores.length} cores (${cores[0]?.model ?? 'unknown'}), load average ${load.join(' ')}, IPSIE_SIDECAR_PROCESSES=${processes}`;
}

async function sideBySide(dir: string, directory: Directory): Promise<void> {
  const servers = await startServers(dir, directory, true);
  try {
    const opaProcess = servers.opa;
    if (opaProcess === undefined) throw new Error('OPA is not running');
    await sameAnswers(servers.client, servers.opaUrl);
    console.log('same answers from both for sample sessions (allow and deny)\n');
    // Warm-up: Wasm and JIT on ours, OPA's prepared query on theirs.
    await ghz(servers.uds, 8, 2);
    await ghz(servers.tcp, 8, 2);
    await hey(servers.opaUrl, 8, 2);

    console.log(
      `${SECONDS} s per cell, one run; p50/p99 as each load generator reports them; cores: the server process's CPU use\n`,
    );
    console.log(row(['Concurrency', 'Check UDS (ghz)', 'Check TCP (ghz)', 'OPA REST (hey)', 'UDS / OPA', 'TCP / OPA']));
    console.log(row(['---', '---', '---', '---', '---', '---']));
    const cell = (r: Observed): string =>
      `${perSecond(r.rate)}, p50 ${formatMs(r.p50Ms)}, p99 ${formatMs(r.p99Ms)}, ${r.cores.toFixed(2)} cores${r.errors > 0 ? `, ${r.errors} errors` : ''}${r.failClosed === '' ? '' : ` (fail-closed: ${r.failClosed})`}`;
    const ratios = (ours: LoadResult, theirs: LoadResult): string =>
      `${ratio(ours.rate, theirs.rate)} req/s, ${ratio(ours.p99Ms, theirs.p99Ms)} p99`;
    for (const concurrency of NOISY_ONLY ? [] : CONCURRENCIES) {
      const uds = await observed(servers, servers.sidecar, () => ghz(servers.uds, concurrency));
      const tcp = await observed(servers, servers.sidecar, () => ghz(servers.tcp, concurrency));
      const opa = await observed(servers, opaProcess, () => hey(servers.opaUrl, concurrency));
      console.log(row([`c=${concurrency}`, cell(uds), cell(tcp), cell(opa), ratios(uds, opa), ratios(tcp, opa)]));
    }

    // Noisy tenant: acme at c=8 over UDS just before, and while tenant noisy's Checks all time out.
    const quiet = await observed(servers, servers.sidecar, () => ghz(servers.uds, 8));
    const noisyRun = ghz(servers.uds, 4, SECONDS + 2, 'noisy');
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // let the noisy load reach its steady state
    const noisy = await observed(servers, servers.sidecar, () => ghz(servers.uds, 8));
    const hostile = await noisyRun;
    console.log('\nNoisy tenant: acme, Check UDS c=8, alone and while tenant noisy runs its heavy policy (ghz c=4)\n');
    console.log(row(['', 'acme alone', 'acme next to noisy', 'noisy (its own calls)', 'acme noisy / alone']));
    console.log(row(['---', '---', '---', '---', '---']));
    console.log(
      row([
        'c=8',
        cell(quiet),
        cell(noisy),
        `${perSecond(hostile.rate)}, p50 ${formatMs(hostile.p50Ms)}`,
        ratio(noisy.rate, quiet.rate),
      ]),
    );
  } finally {
    await stopServers(servers);
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Top functions by self time of one `--cpu-prof` profile, counting only the
 * samples taken between `window.from` and `window.to` (the profiles' clock,
 * microseconds, the same for every thread of the process): the measured run,
 * without start-up, warm-up and shutdown.
 */
function topSelfTime(
  profile: CpuProfile,
  window: { from: number; to: number },
  top: number,
): { total: number; rows: [string, number][] } {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < window.from || at > window.to) return;
    const frame = frames.get(id);
    total += delta;
    if (frame === undefined) return;
    const file = frame.url.replace(`file://${ROOT}`, '').replace(/^file:\/\//, '');
    const name = `${frame.functionName === '' ? '(anonymous)' : frame.functionName}${file === '' ? '' : ` ${file}:${frame.lineNumber + 1}`}`;
    self.set(name, (self.get(name) ?? 0) + delta);
  });
  return { total, rows: [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top) };
}

async function profile(dir: string, directory: Directory): Promise<void> {
  const profileDir = join(dir, 'profile');
  const servers = await startServers(dir, directory, false, profileDir);
  let result: LoadResult;
  let stopMs: number;
  try {
    await ghz(servers.uds, 8, 2);
    result = await ghz(servers.uds, 64);
  } finally {
    const stopping = performance.now();
    await stopServers(servers);
    stopMs = performance.now() - stopping;
  }
  console.log(
    `Check UDS c=64 under --cpu-prof: ${perSecond(result.rate)}, p50 ${formatMs(result.p50Ms)}, p99 ${formatMs(result.p99Ms)} (profiling slows it)\n`,
  );
  // Node names them CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile; thread 0 is the main thread.
  const files = existsSync(profileDir) ? readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (files.length === 0) throw new Error('the sidecar wrote no CPU profile');
  const threadOf = (file: string): string => file.split('.')[4] ?? '?';
  const profiles = files.sort().map((file) => ({
    thread: threadOf(file) === '0' ? 'main thread' : `worker thread ${threadOf(file)}`,
    data: JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile,
  }));
  const main = profiles.find((p) => p.thread === 'main thread');
  if (main === undefined) throw new Error('no profile of the main thread');
  // The run: the last SECONDS s before the sidecar was told to stop (the main thread's profile ends at its exit).
  const end = main.data.endTime - stopMs * 1000;
  const window = { from: end - SECONDS * 1e6, to: end };
  for (const { thread, data } of profiles) {
    const { total, rows } = topSelfTime(data, window, 15);
    if (total === 0) {
      console.log(`${thread}: not running during the run (replaced before it, or started after)\n`);
      continue;
    }
    console.log(`${thread}: ${(total / 1e6).toFixed(1)} s sampled during the run; top 15 by self time`);
    for (const [name, micros] of rows) {
      console.log(`  ${((100 * micros) / total).toFixed(1).padStart(5)}%  ${name}`);
    }
    console.log('');
  }
}

async function main(): Promise<void> {
  for (const tool of [GHZ, HEY, OPA]) {
    if (!existsSync(tool))
      throw new Error(`${tool} is missing: run \`npm run bench -- side-by-side\` (it installs ghz and hey)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ipsie-side-by-side-'));
  try {
    const t0 = performance.now();
    const directory = buildDirectory(dir);
    console.log(
      `directory: ${USERS} users with one session each, ${GROUPS} groups, ${USERS * MEMBERSHIPS_PER_USER} memberships (built in ${Math.round(performance.now() - t0)} ms)`,
    );
    const { stdout } = await exec(OPA, ['version']);
    console.log(`${machine()}; OPA ${/^Version: (.*)$/m.exec(stdout)?.[1] ?? '?'}\n`);
    if (PROFILE) await profile(dir, directory);
    else await sideBySide(dir, directory);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
