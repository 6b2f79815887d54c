/**
 * IPSIE_SIDECAR_PROCESSES=2: the real CLI as a cluster primary with two
 * sidecar processes sharing the Unix socket and the TCP listener, fed by a
 * real nats-server. Which process answered is read from the primary's
 * /metrics (`process` label): connections are dealt round-robin, so each
 * test opens one connection per Check.
 */
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { ensureAuditStream } from '../../src/audit/index.js';
import { errorReasonOf } from '../../src/check/index.js';
import { bundleOf, PolicyCatalog } from '../../src/distribution/index.js';
import { PolicyCompiler } from '../../src/policy/index.js';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { change, session, user } from '../harness/changes.js';
import { FakeIdp } from '../harness/fake_idp.js';
import { TestClient } from '../harness/grpc_client.js';
import { freePort, NatsServer } from '../harness/nats_server.js';
import { examplePolicy, opaPath, PLATFORM_POLICY_DIR } from '../harness/opa.js';
import { SidecarProcess } from '../harness/sidecar_process.js';
import type { LogLine } from '../harness/sidecar_process.js';
import { spawnRole } from '../harness/role_process.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const TOKEN = 'processes-test-caller-token';
const CONNECTIONS = 4;
/** Changes published while a process is down, ahead of the one that matters. */
const FILLER = 5_000;
const ALLOW = 'DECISION_ALLOW POLICY_ALLOWED';
const bob = ACME.people['bob']!;

let nats: NatsServer;
let producer: TestProducer;
let sidecar: SidecarProcess;
let idp: FakeIdp;
let tenantsDir: ReturnType<typeof makeTempDir>;
let tcp: string;
/** The acme policy version activated through the catalog. */
let activated: string;

const writeAs = (sessionId: string, minSequence = 0): CheckRequestMessage => ({
  tenant: 'acme',
  subject: { session_id: sessionId },
  action: { name: 'write' },
  resource: { type: 'repository' },
  min_sequence: minSequence,
});

const revoke = (sessionId: string): ReturnType<typeof change> => {
  const start = session('acme', sessionId, bob.id);
  return change('acme', 'session.revoke', {
    ...start.data,
    revoked_at: Math.floor(Date.now() / 1000),
    revoke_reason: 'revoked by a tenant administrator',
  });
};

/** One Check over a connection of its own: `DECISION first-reason`, or the error's reason. */
async function askOnce(target: string, request: CheckRequestMessage): Promise<string> {
  const client = new TestClient(target, { callerToken: TOKEN, ownConnection: true });
  try {
    const response = await client.check(request);
    return `${response.decision} ${response.reasons[0]?.code ?? ''}`;
  } catch (error) {
    return `ERROR ${errorReasonOf(error as ServiceError) ?? String(error)}`;
  } finally {
    client.close();
  }
}

/** The sum of a metric's series by `process` label, from the primary's /metrics. */
async function byProcess(metric: string): Promise<Map<string, number>> {
  const sums = new Map<string, number>();
  for (const line of (await sidecar.metrics()).split('\n')) {
    const match = new RegExp(`^${metric}\\{([^}]*)\\} (\\S+)$`).exec(line);
    const process = match === null ? undefined : /process="(\d+)"/.exec(match[1]!)?.[1];
    if (match === null || process === undefined) continue;
    sums.set(process, (sums.get(process) ?? 0) + Number(match[2]));
  }
  return sums;
}

const decisions = async (): Promise<Map<string, number>> => await byProcess('ipsie_decisions_total');

/** How many more decisions each process made than in `before`. */
function added(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  return Object.fromEntries(['1', '2'].map((p) => [p, (after.get(p) ?? 0) - (before.get(p) ?? 0)]));
}

/** Each process's active policy version of acme, from `ipsie_policy_info`. */
async function acmeVersions(): Promise<Record<string, string>> {
  const versions: Record<string, string> = {};
  for (const m of (await sidecar.metrics()).matchAll(/^ipsie_policy_info\{([^}]*)\} 1$/gm)) {
    const labels = m[1]!;
    const process = /process="(\d+)"/.exec(labels)?.[1];
    const version = /version="([^"]*)"/.exec(labels)?.[1];
    if (labels.includes('tenant="acme"') && process !== undefined && version !== undefined) versions[process] = version;
  }
  return versions;
}

const servingLines = (slot: number): LogLine[] =>
  sidecar.lines.filter((l) => l['msg'] === 'sidecar process serving' && l['process'] === slot);
const pidOf = (slot: number): number => servingLines(slot).at(-1)!['pid'] as number;

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  idp = await FakeIdp.start();
  await ensureAuditStream(producer.jsm);
  await producer.publishAll([
    ...exampleDirectoryChanges().filter((c) => c.tenant === 'acme'),
    session('acme', 's-bob', bob.id),
    change('acme', 'binding.upsert', { issuer: idp.issuer, subject: 'sub-bob', user_id: bob.id }),
  ]);
  tenantsDir = makeTempDir();
  const tenantsFile = join(tenantsDir.path, 'tenants.json');
  writeFileSync(
    tenantsFile,
    JSON.stringify({
      tenants: { acme: { idps: [{ issuer: idp.issuer, client_id: 'acme-app', jwks_uri: idp.jwksUri }] } },
    }),
  );
  tcp = `127.0.0.1:${String(await freePort())}`;
  sidecar = await SidecarProcess.spawn({
    natsUrl: nats.url,
    env: {
      IPSIE_SIDECAR_PROCESSES: '2',
      IPSIE_GRPC_ADDRESS: tcp,
      IPSIE_GRPC_CALLER_TOKEN_SHA256: createHash('sha256').update(TOKEN).digest('hex'),
      IPSIE_POLICY_WORKERS: '1',
      IPSIE_TENANTS_FILE: tenantsFile,
      // A process listens before it has caught up: until then it must answer STALE_DATA, never a stale ALLOW.
      IPSIE_SYNC_WAIT_MS: '0',
    },
  });
}, 120_000);

afterAll(async () => {
  await sidecar.stop();
  await producer.close();
  await nats.dispose();
  await idp.stop();
  tenantsDir.remove();
});

describe('the sidecar as two processes (IPSIE_SIDECAR_PROCESSES=2)', () => {
  it('answers Check from both processes over the Unix socket and over TCP; /readyz reports each process', async () => {
    const last = await producer.lastSequence();
    for (const target of [`unix:${sidecar.socketPath}`, tcp]) {
      const before = await decisions();
      for (let i = 0; i < CONNECTIONS; i++) expect(await askOnce(target, writeAs('s-bob', last))).toBe(ALLOW);
      expect(added(before, await decisions())).toEqual({ '1': CONNECTIONS / 2, '2': CONNECTIONS / 2 });
    }
    const { status, body } = await sidecar.readyz();
    expect(status).toBe(200);
    const components = body['components'] as Record<string, { ok: boolean; components: Record<string, unknown> }>;
    expect(Object.keys(components).sort()).toEqual(['process_1', 'process_2']);
    for (const p of Object.values(components)) {
      expect(p.ok).toBe(true);
      expect(Object.keys(p.components).sort()).toEqual(['policies', 'store', 'stream', 'tenant_keys']);
    }
    // A tenant is ready when it is on every process.
    expect(body['tenants']).toMatchObject({ acme: { ready: true } });
  });

  it('shows a change published on the stream in the next Check of every process (min_sequence), and WatchSessions delivers it', async () => {
    const watcher = new TestClient(`unix:${sidecar.socketPath}`, { callerToken: TOKEN, ownConnection: true });
    const watch = watcher.watch({ tenant: 'acme', user_ids: [bob.id] });
    await watch.ready;
    const { sequence } = await producer.publish(revoke('s-bob'));
    expect((await watch.next()).session_id).toBe('s-bob');
    watch.cancel();
    watcher.close();
    const before = await decisions();
    for (let i = 0; i < CONNECTIONS; i++) {
      expect(await askOnce(`unix:${sidecar.socketPath}`, writeAs('s-bob', sequence))).toBe(
        'DECISION_DENY SESSION_REVOKED',
      );
    }
    expect(added(before, await decisions())).toEqual({ '1': CONNECTIONS / 2, '2': CONNECTIONS / 2 });
  });

  it('starts sessions on both processes through the stream, and the other process allows each (min_sequence)', async () => {
    const before = await decisions();
    const started: string[] = [];
    for (let i = 0; i < CONNECTIONS; i++) {
      const client = new TestClient(`unix:${sidecar.socketPath}`, { callerToken: TOKEN, ownConnection: true });
      const nonce = randomUUID();
      const { session_id: sessionId, sequence } = await client
        .startSession({ tenant: 'acme', id_token: await idp.idToken('sub-bob', 'acme-app', { nonce }), nonce })
        .finally(() => {
          client.close();
        });
      started.push(sessionId);
      // Connections alternate between the processes: one of these two Checks is on the other process.
      for (let j = 0; j < 2; j++) {
        expect(await askOnce(`unix:${sidecar.socketPath}`, writeAs(sessionId, Number(sequence)))).toBe(ALLOW);
      }
    }
    // Both processes answered these Checks (the primary hands connections in turn, but a loaded machine may
    // let another connection in between: the exact split is not what this test is about).
    const answered = added(before, await decisions());
    expect((answered['1'] ?? 0) + (answered['2'] ?? 0)).toBe(2 * CONNECTIONS);
    expect(answered['1']).toBeGreaterThan(0);
    expect(answered['2']).toBeGreaterThan(0);
    const startedBy = new Set(
      started.map((id) => sidecar.lines.find((l) => l['session_id'] === id && l['process'] !== undefined)?.['process']),
    );
    expect([...startedBy].sort()).toEqual([1, 2]);
  });

  it('installs an activated policy version in every process', async () => {
    const source = await examplePolicy('acme');
    const data = { marker: 'sidecar-processes-test' };
    const compiled = await new PolicyCompiler({
      opaPath: opaPath(),
      platformDir: PLATFORM_POLICY_DIR,
      timeoutMs: 60_000,
    }).compile({ ...source, data });
    const catalog = await PolicyCatalog.create(producer.nc);
    await catalog.put(bundleOf(compiled, Object.fromEntries(source.modules), data, 0));
    await catalog.activate('acme', compiled.version);
    activated = compiled.version;
    expect(
      await until(async () => {
        const versions = await acmeVersions();
        return versions['1'] === activated && versions['2'] === activated ? versions : undefined;
      }),
    ).toEqual({ '1': activated, '2': activated });
  });

  it('replaces a killed process, and no process answers ALLOW from a view older than the stream', async () => {
    const started = await producer.publish(session('acme', 's-bob-2', bob.id));
    for (let i = 0; i < CONNECTIONS; i++) {
      expect(await askOnce(`unix:${sidecar.socketPath}`, writeAs('s-bob-2', started.sequence))).toBe(ALLOW);
    }
    const killed = pidOf(2);
    process.kill(killed, 'SIGKILL');
    await sidecar.waitForLog((l) => l['msg'] === 'sidecar process exited; starting another' && l['pid'] === killed);
    // Revoked while process 2 is down, behind changes its replacement replays first: its store file
    // still holds the session as active.
    for (let i = 0; i < FILLER; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, async (_, j) => await producer.publish(user('acme', `filler-${String(i + j)}`))),
      );
    }
    const { sequence } = await producer.publish(revoke('s-bob-2'));
    await until(async () =>
      (await byProcess('ipsie_store_applied_sequence')).get('1')! >= sequence ? true : undefined,
    );
    const answers: string[] = [];
    await until(async () => {
      answers.push(await askOnce(`unix:${sidecar.socketPath}`, writeAs('s-bob-2')));
      const replaced = servingLines(2).some((l) => l['pid'] !== killed);
      return replaced && ((await decisions()).get('2') ?? 0) >= 3 ? true : undefined;
    });
    expect(answers).not.toContain(ALLOW);
    // Revoked, or failing closed (STALE_DATA until caught up; a cold start on a busy machine may POLICY_TIMEOUT).
    expect(answers.filter((a) => !a.startsWith('DECISION_DENY '))).toEqual([]);
    const before = await decisions();
    for (let i = 0; i < CONNECTIONS; i++) {
      expect(await askOnce(tcp, writeAs('s-bob-2', sequence))).toBe('DECISION_DENY SESSION_REVOKED');
    }
    expect(added(before, await decisions())).toEqual({ '1': CONNECTIONS / 2, '2': CONNECTIONS / 2 });
    expect((await byProcess('ipsie_sidecar_processes_replaced_total')).get('2')).toBe(1);
    expect(await until(async () => ((await sidecar.readyz()).status === 200 ? true : undefined))).toBe(true);
    // The replacement runs the tenant's active version, not the one in its policy folder.
    expect(await acmeVersions()).toEqual({ '1': activated, '2': activated });
  });

  it('stops every process on SIGTERM to the primary, and exits 0', async () => {
    const pids = [pidOf(1), pidOf(2)];
    expect(await sidecar.stop()).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
  });
});

describe('a sidecar process that cannot start', () => {
  it('fails the start of the primary, which exits 1 instead of waiting for it', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    const dir = makeTempDir();
    try {
      const role = spawnRole('sidecar', {
        IPSIE_SIDECAR_PROCESSES: '2',
        IPSIE_STORE_PATH: join(dir.path, 'sidecar.db'),
        IPSIE_GRPC_SOCKET: '',
        IPSIE_GRPC_ADDRESS: `127.0.0.1:${String(port)}`,
        IPSIE_GRPC_CALLER_TOKEN_SHA256: createHash('sha256').update(TOKEN).digest('hex'),
        IPSIE_POLICY_WORKERS: '1',
      });
      expect(await role.exited).toBe(1);
    } finally {
      taken.close();
      dir.remove();
    }
  });
});
