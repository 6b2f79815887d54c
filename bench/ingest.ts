/**
 * Ingest throughput and freshness (`npm run bench -- ingest`).
 *
 *   1. Publishes 100k users + 1M memberships (+ 1k groups) to a real
 *      nats-server's IPSIE_STATE stream.
 *   2. Cold rebuild: a fresh store replays the whole stream (one StateIngestor,
 *      in process); prints the time and the changes/s applied.
 *   3. Publish-to-decision: a real `ipsie-sidecar sidecar` process on that
 *      store; for random users, publish a deactivation, and on its JetStream
 *      ack send a Check with `min_sequence` = the ack's sequence; prints
 *      p50/p99 from ack to the DENY.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Change } from '../src/changes/index.js';
import { createAuthorizationClient } from '../src/check/index.js';
import type { AuthorizationClient, CheckResponseMessage } from '../src/check/index.js';
import { StateIngestor } from '../src/ingest/index.js';
import { createLogger } from '../src/logging/index.js';
import { EntitlementStore } from '../src/store/index.js';
import { connectNats } from '../src/stream/index.js';
import { NatsServer } from '../test/harness/nats_server.js';
import { TestProducer } from '../test/harness/stream.js';
import { makeTempDir } from '../test/harness/temp_dir.js';
import { formatRow, summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const USERS = Number(process.env['BENCH_USERS'] ?? 100_000);
const MEMBERSHIPS_PER_USER = 10;
const GROUPS = 1_000;
const GROUP_NAMES = ['Engineering', 'Engineering Leads', 'Finance', 'Acme Admins'];
const LATENCY_SAMPLES = 1_000;

const userId = (i: number): string => `00000000-0000-4000-8000-${i.toString().padStart(12, '0')}`;
const envelope = (): { v: 1; id: string; tenant: string; at: number } => ({
  v: 1,
  id: randomUUID(),
  tenant: 'acme',
  at: Date.now(),
});

function userChange(i: number, active: boolean): Change {
  const data = {
    id: userId(i),
    user_name: `user${i}@acme.example`,
    external_id: `e${i}`,
    attributes: { department: i % 2 === 0 ? 'R&D' : 'Sales', costCenter: `cc-${i % 50}` },
    roles: [],
  };
  return active
    ? { ...envelope(), kind: 'user.upsert', data: { ...data, active } }
    : { ...envelope(), kind: 'user.deactivate', data: { ...data, active: false } };
}

/** Every change of the directory, generated lazily. */
function* directory(): Generator<Change> {
  yield { ...envelope(), kind: 'tenant.upsert', data: { display_name: 'Acme' } };
  for (let g = 0; g < GROUPS; g++) {
    const name = g < GROUP_NAMES.length ? (GROUP_NAMES[g] ?? '') : `Team ${g}`;
    yield { ...envelope(), kind: 'group.upsert', data: { id: `g${g}`, display_name: name, external_id: null } };
  }
  for (let i = 0; i < USERS; i++) {
    yield userChange(i, true);
    yield { ...envelope(), kind: 'member.add', data: { group_id: `g${i % GROUP_NAMES.length}`, user_id: userId(i) } };
    for (let k = 1; k < MEMBERSHIPS_PER_USER; k++) {
      const group = GROUP_NAMES.length + ((i * 7 + k * 131) % (GROUPS - GROUP_NAMES.length));
      yield { ...envelope(), kind: 'member.add', data: { group_id: `g${group}`, user_id: userId(i) } };
    }
  }
}

async function publishDirectory(producer: TestProducer): Promise<number> {
  const started = performance.now();
  let window: Promise<unknown>[] = [];
  let count = 0;
  for (const c of directory()) {
    window.push(producer.publish(c));
    count++;
    if (window.length === 2_000) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `published ${count.toLocaleString('en-US')} changes in ${seconds.toFixed(1)} s (${Math.round(count / seconds).toLocaleString('en-US')}/s)`,
  );
  return count;
}

async function rebuild(url: string, storePath: string, last: number): Promise<void> {
  const store = EntitlementStore.open(storePath);
  const logger = createLogger('warn');
  const ingestor = new StateIngestor({
    store,
    logger,
    staleAfterMs: 60_000,
    connect: async () => await connectNats({ servers: [url], name: 'bench-rebuild' }, logger),
  });
  const started = performance.now();
  ingestor.start();
  if (!(await ingestor.waitForSequence(last, 600_000))) throw new Error('rebuild did not finish');
  const seconds = (performance.now() - started) / 1000;
  await ingestor.stop();
  const rss = process.memoryUsage().rss;
  store.close();
  console.log(`\ncold rebuild from the stream into an empty store (one StateIngestor):`);
  console.log(
    `  ${last.toLocaleString('en-US')} changes in ${seconds.toFixed(1)} s = ${Math.round(last / seconds).toLocaleString('en-US')} changes/s applied (target >= 20,000/s; rebuild target <= 30 s)`,
  );
  console.log(`  process RSS after rebuild: ${Math.round(rss / 1024 / 1024)} MB`);
}

function check(client: AuthorizationClient, user: string, minSequence: number): Promise<CheckResponseMessage> {
  return new Promise((resolve, reject) => {
    client.check(
      {
        tenant: 'acme',
        subject: { user_id: user },
        action: { name: 'write' },
        resource: { type: 'repository', id: 'api' },
        min_sequence: minSequence,
      },
      { deadline: Date.now() + 5_000 },
      (error, response) => {
        if (error !== null || response === undefined) reject(error ?? new Error('no response'));
        else resolve(response);
      },
    );
  });
}

async function publishToDecision(url: string, storePath: string, producer: TestProducer, dir: string): Promise<void> {
  const socket = join(dir, 'check.sock');
  const server = spawn(process.execPath, [join(ROOT, 'dist/main.js'), 'sidecar'], {
    env: {
      ...process.env,
      IPSIE_STORE_PATH: storePath,
      IPSIE_NATS_URL: url,
      IPSIE_GRPC_ADDRESS: '',
      IPSIE_GRPC_SOCKET: socket,
      IPSIE_TENANT_POLICY_DIR: join(ROOT, 'policies/examples'),
      IPSIE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const client = createAuthorizationClient(`unix:${socket}`);
  try {
    await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + 60_000, (error) => {
        if (error === undefined) resolve();
        else reject(error);
      });
    });
    // Developers (group g0 = Engineering) may write repositories until deactivated.
    const developers = Array.from({ length: USERS / GROUP_NAMES.length }, (_, k) => k * GROUP_NAMES.length);
    const latencies: number[] = [];
    for (let n = 0; n < LATENCY_SAMPLES; n++) {
      const i = developers[(n * 7919) % developers.length] ?? 0;
      const before = await check(client, userId(i), 0);
      if (before.decision !== 'DECISION_ALLOW') throw new Error(`user ${i} is not allowed before: ${before.decision}`);
      const ack = await producer.publish(userChange(i, false));
      const acked = performance.now();
      const after = await check(client, userId(i), ack.sequence);
      latencies.push(performance.now() - acked);
      if (after.decision !== 'DECISION_DENY') throw new Error(`user ${i} still ${after.decision}`);
      await producer.publish(userChange(i, true)); // restore for later samples
    }
    console.log('\npublish-to-decision, sidecar process on the 100k-user store, Check over UDS with min_sequence:');
    console.log(formatRow('JetStream ack of a deactivation -> DENY', summarize(latencies)));
    console.log('  (target p99 <= 50 ms)');
  } finally {
    client.close();
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
}

async function main(): Promise<void> {
  const dir = makeTempDir('ipsie-bench-ingest-');
  const nats = await NatsServer.start();
  const producer = await TestProducer.connect(nats.url);
  try {
    console.log(
      `node ${process.version}; nats-server at ${nats.url}; ${USERS.toLocaleString('en-US')} users, ${GROUPS} groups, ${(USERS * MEMBERSHIPS_PER_USER).toLocaleString('en-US')} memberships`,
    );
    const count = await publishDirectory(producer);
    const last = await producer.lastSequence();
    if (last !== count) throw new Error(`stream holds ${last} messages, ${count} were published`);
    const storePath = join(dir.path, 'bench.db');
    await rebuild(nats.url, storePath, last);
    await publishToDecision(nats.url, storePath, producer, dir.path);
  } finally {
    await producer.close();
    await nats.dispose();
    dir.remove();
  }
}

await main();
