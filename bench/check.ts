/**
 * Check latency and throughput (`npm run bench -- check`).
 *
 * Store: 10k users, 1k groups, 100k memberships in tenant "acme" (the
 * example RBAC policy), and BENCH_SESSIONS_PER_USER (default 1) live sessions
 * per user, so that reads are measured over a store that holds sessions. Prints:
 *   - in-process cost: Wasm evaluation alone, and a whole Decider.check
 *     (store read + input build + evaluation);
 *   - gRPC Check p50/p99 and checks/s over a Unix socket and TCP loopback at
 *     concurrency 1 and 64, against a real `ipsie-sidecar sidecar` process;
 *   - BatchCheck of 50 items at concurrency 1.
 */
import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createAuthorizationClient, Decider } from '../src/check/index.js';
import type { AuthorizationClient, BatchCheckRequestMessage, CheckRequestMessage } from '../src/check/index.js';
import { loadTenantPolicySources, PolicyCompiler, PolicyRegistry } from '../src/policy/index.js';
import type { PolicyInput } from '../src/policy/index.js';
import { EntitlementStore } from '../src/store/index.js';
import { summarize, formatRow } from './stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const USERS = 10_000;
const GROUPS = 1_000;
const MEMBERSHIPS_PER_USER = 10;
const SESSIONS_PER_USER = Number(process.env['BENCH_SESSIONS_PER_USER'] ?? 1);
const GROUP_NAMES = ['Engineering', 'Engineering Leads', 'Finance', 'Acme Admins'];

const userId = (i: number): string => `00000000-0000-4000-8000-${i.toString().padStart(12, '0')}`;

function populate(store: EntitlementStore): void {
  const now = Math.floor(Date.now() / 1000);
  store.transaction(() => {
    store.upsertTenant({ id: 'acme', displayName: 'Acme' });
    for (let g = 0; g < GROUPS; g++) {
      const displayName = g < GROUP_NAMES.length ? (GROUP_NAMES[g] ?? '') : `Team ${g}`;
      store.upsertGroup({ tenantId: 'acme', id: `g${g}`, displayName, externalId: undefined });
    }
    for (let i = 0; i < USERS; i++) {
      store.upsertUser({
        tenantId: 'acme',
        id: userId(i),
        userName: `user${i}@acme.example`,
        externalId: `e${i}`,
        active: true,
        attributes: { department: i % 2 === 0 ? 'R&D' : 'Sales', title: 'Engineer', costCenter: `cc-${i % 50}` },
        roles: [],
      });
      // Everyone is in one of the role-bearing groups plus nine teams.
      store.addMember('acme', `g${i % GROUP_NAMES.length}`, userId(i));
      for (let k = 0; k < SESSIONS_PER_USER; k++) {
        store.upsertSession({
          tenantId: 'acme',
          id: `${userId(i)}-s${k}`,
          userId: userId(i),
          issuer: 'https://idp.acme.example',
          acr: 'phr',
          amr: ['pwd', 'hwk'],
          authTime: now - 60,
          expiresAt: now + 86_400,
          createdAt: now - 60,
          revokedAt: undefined,
          revokeReason: undefined,
          ip: undefined,
          deviceId: `device-${i}-${k}`,
        });
      }
      for (let k = 1; k < MEMBERSHIPS_PER_USER; k++) {
        store.addMember(
          'acme',
          `g${GROUP_NAMES.length + ((i * 7 + k * 131) % (GROUPS - GROUP_NAMES.length))}`,
          userId(i),
        );
      }
    }
  });
}

const randomUser = (): string => userId(Math.floor(Math.random() * USERS));

function checkRequest(): CheckRequestMessage {
  return {
    tenant: 'acme',
    subject: { user_id: randomUser() },
    action: { name: 'write' },
    resource: { type: 'repository', id: 'api' },
  };
}

function batchRequest(items: number): BatchCheckRequestMessage {
  const actions = ['read', 'write', 'delete', 'pay', 'approve'];
  return {
    tenant: 'acme',
    subject: { user_id: randomUser() },
    items: Array.from({ length: items }, (_, i) => ({
      action: { name: actions[i % actions.length] ?? 'read' },
      resource: { type: 'repository', id: `r${i}` },
    })),
  };
}

function call(
  client: AuthorizationClient,
  method: 'check' | 'batchCheck',
  request: CheckRequestMessage | BatchCheckRequestMessage,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error: Error | null): void => {
      if (error === null) resolve();
      else reject(error);
    };
    if (method === 'check') client.check(request, done);
    else client.batchCheck(request, done);
  });
}

/** Runs `total` calls with `concurrency` in flight; returns per-call latencies (ms) and calls/s. */
async function load(
  concurrency: number,
  total: number,
  once: () => Promise<void>,
): Promise<{ latencies: number[]; rate: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      const t0 = performance.now();
      await once();
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { latencies, rate: total / ((performance.now() - started) / 1000) };
}

function waitForReady(client: AuthorizationClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + 60_000, (error) => {
      if (error === undefined) resolve();
      else reject(error);
    });
  });
}

async function inProcess(storePath: string): Promise<void> {
  const store = EntitlementStore.open(storePath, { subjectCacheSize: 0 });
  const compiler = new PolicyCompiler({
    opaPath: `${ROOT}.tools/bin/opa`,
    platformDir: `${ROOT}policies/ipsie`,
    timeoutMs: 60_000,
  });
  const source = (await loadTenantPolicySources(`${ROOT}policies/examples`)).find((s) => s.tenantId === 'acme');
  if (source === undefined) throw new Error('no acme example policy');
  const registry = new PolicyRegistry();
  const policy = await registry.install(await compiler.compile(source));
  const decider = new Decider({ reader: store, policies: registry, logger: pino({ level: 'silent' }) });

  const { slice } = store.readSubject('acme', { kind: 'user', userId: userId(1) });
  if (slice === undefined) throw new Error('bench user missing');
  const input: PolicyInput = {
    tenant: 'acme',
    now: Math.floor(Date.now() / 1000),
    subject: {
      id: slice.user.id,
      user_name: slice.user.userName,
      external_id: null,
      active: true,
      attributes: slice.user.attributes,
      roles: [],
      groups: slice.groups.map((g) => ({ id: g.id, display_name: g.displayName, external_id: null })),
    },
    session: null,
    posture: {},
    action: { name: 'write', properties: {} },
    resource: { type: 'repository', id: 'api', properties: {} },
    context: {},
  };
  const measure = async (n: number, fn: () => Promise<unknown>): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await fn();
      out.push(performance.now() - t0);
    }
    return out;
  };
  // Evaluation happens on a worker thread: this is the round trip, Wasm included.
  await measure(2_000, async () => await policy.evaluate(input)); // warm-up
  console.log(
    formatRow(
      'Wasm evaluation on a worker (10 groups)',
      summarize(await measure(20_000, async () => await policy.evaluate(input))),
    ),
  );
  const ctx = { ip: undefined, userAgent: undefined, deviceId: undefined, attributes: {} };
  const decide = async (on: Decider, user: string): Promise<void> => {
    await on.decide({
      tenantId: 'acme',
      subject: { kind: 'user', userId: user },
      action: { name: 'write', properties: {} },
      resource: { type: 'repository', id: 'api', properties: {} },
      context: ctx,
      minSequence: 0,
    });
  };
  await measure(2_000, async () => {
    await decide(decider, randomUser());
  });
  const uncached = await measure(20_000, async () => {
    await decide(decider, randomUser());
  });
  console.log(formatRow('Decider.check, subject read from SQLite', summarize(uncached)));

  // The same with the subject cache warm (a user's repeated requests).
  const cachedStore = EntitlementStore.open(storePath);
  const cachedDecider = new Decider({ reader: cachedStore, policies: registry, logger: pino({ level: 'silent' }) });
  const hot = Array.from({ length: 1_000 }, randomUser);
  let n = 0;
  await measure(5_000, async () => {
    await decide(cachedDecider, hot[n++ % hot.length] ?? '');
  });
  const cached = await measure(20_000, async () => {
    await decide(cachedDecider, hot[n++ % hot.length] ?? '');
  });
  console.log(formatRow('Decider.check, subject read cached', summarize(cached)));
  cachedStore.close();
  store.close();
  await registry.close();
}

/** grpc-js with a handler that does nothing: the transport's own latency on this machine. */
async function floor(socket: string): Promise<void> {
  const server = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/grpc_floor_server.ts'), socket], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    const client = createAuthorizationClient(`unix:${socket}`);
    await waitForReady(client);
    const once = (): Promise<void> => call(client, 'check', checkRequest());
    await load(1, 2_000, once);
    const { latencies, rate } = await load(1, 10_000, once);
    console.log('\ngRPC floor: the same service with a handler that does nothing');
    console.log(formatRow('no-op Check UDS concurrency 1', summarize(latencies), rate));
    client.close();
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ipsie-bench-'));
  const storePath = join(dir, 'bench.db');
  const socket = join(dir, 'check.sock');
  try {
    const t0 = performance.now();
    const store = EntitlementStore.open(storePath);
    populate(store);
    store.close();
    console.log(
      `store: ${USERS} users, ${GROUPS} groups, ${USERS * MEMBERSHIPS_PER_USER} memberships, ${USERS * SESSIONS_PER_USER} sessions (built in ${Math.round(performance.now() - t0)} ms)`,
    );
    console.log(`node ${process.version}, ${(await import('node:os')).cpus().length} cores\n`);

    console.log('in-process (no gRPC)');
    await inProcess(storePath);

    await floor(join(dir, 'floor.sock'));

    const callerToken = randomUUID();
    const server = spawn(process.execPath, [join(ROOT, 'dist/main.js'), 'sidecar'], {
      env: {
        ...process.env,
        IPSIE_STORE_PATH: storePath,
        IPSIE_GRPC_ADDRESS: '127.0.0.1:50551',
        IPSIE_GRPC_SOCKET: socket,
        // With a TCP listener, every caller presents a token.
        IPSIE_GRPC_CALLER_TOKEN_SHA256: createHash('sha256').update(callerToken).digest('hex'),
        IPSIE_TENANT_POLICY_DIR: join(ROOT, 'policies/examples'),
        IPSIE_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    try {
      const targets = { UDS: `unix:${socket}`, TCP: '127.0.0.1:50551' };
      console.log('\ngRPC Check, server in its own process');
      for (const [name, target] of Object.entries(targets)) {
        for (const concurrency of [1, 64]) {
          const clients = Array.from({ length: concurrency === 1 ? 1 : 4 }, () =>
            createAuthorizationClient(target, { callerToken }),
          );
          await Promise.all(clients.map(waitForReady));
          let i = 0;
          const once = (): Promise<void> => call(clients[i++ % clients.length]!, 'check', checkRequest());
          await load(concurrency, 2_000, once); // warm-up
          const { latencies, rate } = await load(concurrency, concurrency === 1 ? 10_000 : 30_000, once);
          console.log(formatRow(`Check ${name} concurrency ${concurrency}`, summarize(latencies), rate));
          for (const c of clients) c.close();
        }
      }
      const client = createAuthorizationClient(targets.UDS, { callerToken });
      await waitForReady(client);
      const batch = (): Promise<void> => call(client, 'batchCheck', batchRequest(50));
      await load(1, 200, batch);
      const { latencies, rate } = await load(1, 3_000, batch);
      console.log(formatRow('BatchCheck 50 items UDS concurrency 1', summarize(latencies), rate));
      console.log(`  = ${Math.round(rate * 50)} item decisions/s`);
      client.close();
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
