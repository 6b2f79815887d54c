/**
 * Shared Signals through the gateway (`npm run bench -- signals`).
 *
 * A real nats-server, `ipsie-sidecar gateway` and `ipsie-sidecar sidecar`
 * processes over a store of 100k users (BENCH_USERS), and an in-process fake
 * transmitter whose SETs are signed (RS256) before timing starts. Prints:
 *   - SETs accepted per second by one gateway over RFC 8935 push, at
 *     concurrency 1 and 16 (each answered 202 after its changes are stored);
 *   - push accepted (the 202) -> first DENY from the sidecar, polling Check
 *     without min_sequence, for RISC account-disabled (target p99 <= 100 ms);
 *   - the same measured from the moment the push was sent.
 */
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Change } from '../src/changes/index.js';
import { createAuthorizationClient } from '../src/check/index.js';
import type { AuthorizationClient, CheckResponseMessage } from '../src/check/index.js';
import { CAEP, FakeTransmitter, RISC } from '../test/harness/fake_transmitter.js';
import { freePort, NatsServer } from '../test/harness/nats_server.js';
import { TestProducer } from '../test/harness/stream.js';
import { makeTempDir } from '../test/harness/temp_dir.js';
import { ROOT, startRole, stopRole, until } from './processes.js';
import { formatRow, summarize } from './stats.js';

const USERS = Number(process.env['BENCH_USERS'] ?? 100_000);
const PUSH_TOKEN = 'bench-push-token';

const envelope = (): Pick<Change, 'v' | 'id' | 'tenant' | 'at'> => ({
  v: 1,
  id: randomUUID(),
  tenant: 'acme',
  at: Date.now(),
});
const userId = (i: number): string => `u${i}`;
const email = (i: number): string => `user${i}@acme.example`;

/** 100k developers: every one may write repositories until a signal says otherwise. */
function* directory(): Generator<Change> {
  yield { ...envelope(), kind: 'tenant.upsert', data: { display_name: 'Acme' } };
  yield { ...envelope(), kind: 'group.upsert', data: { id: 'eng', display_name: 'Engineering', external_id: null } };
  for (let i = 0; i < USERS; i++) {
    yield {
      ...envelope(),
      kind: 'user.upsert',
      data: { id: userId(i), user_name: email(i), external_id: null, active: true, attributes: {}, roles: [] },
    };
    yield { ...envelope(), kind: 'member.add', data: { group_id: 'eng', user_id: userId(i) } };
  }
}

async function publishDirectory(producer: TestProducer): Promise<number> {
  let window: Promise<unknown>[] = [];
  for (const c of directory()) {
    window.push(producer.publish(c));
    if (window.length === 2_000) {
      await Promise.all(window);
      window = [];
    }
  }
  await Promise.all(window);
  return await producer.lastSequence();
}

function check(client: AuthorizationClient, user: string, minSequence = 0): Promise<CheckResponseMessage> {
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

async function push(origin: string, set: string): Promise<number> {
  const response = await fetch(`${origin}/ssf/v1/acme/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/secevent+jwt', authorization: `Bearer ${PUSH_TOKEN}` },
    body: set,
  });
  await response.arrayBuffer();
  if (response.status !== 202) throw new Error(`push answered ${response.status}`);
  return response.status;
}

async function throughput(
  origin: string,
  sets: readonly string[],
  concurrency: number,
): Promise<{ latencies: number[]; rate: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < sets.length) {
        const set = sets[next++] ?? '';
        const t0 = performance.now();
        await push(origin, set);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, rate: (sets.length * 1000) / (performance.now() - started) };
}

async function main(): Promise<void> {
  const dir = makeTempDir('ipsie-bench-signals-');
  const nats = await NatsServer.start();
  const tx = await FakeTransmitter.start();
  const producer = await TestProducer.connect(nats.url);
  const published = performance.now();
  const last = await publishDirectory(producer);
  console.log(
    `node ${process.version}; ${USERS.toLocaleString('en-US')} users (${last.toLocaleString('en-US')} changes) published in ${((performance.now() - published) / 1000).toFixed(1)} s`,
  );
  const tenantsFile = join(dir.path, 'tenants.json');
  writeFileSync(
    tenantsFile,
    JSON.stringify({
      tenants: {
        acme: {
          ssf: {
            transmitters: [
              {
                issuer: tx.issuer,
                jwks_uri: tx.jwksUri,
                audience: tx.audience,
                max_set_age_s: 3_600,
                push: { bearer_token_sha256: [createHash('sha256').update(PUSH_TOKEN).digest('hex')] },
              },
            ],
          },
        },
      },
    }),
  );
  const gatewayPort = await freePort();
  const socket = join(dir.path, 'check.sock');
  const gateway = startRole('gateway', {
    IPSIE_NATS_URL: nats.url,
    IPSIE_STORE_PATH: join(dir.path, 'gateway.db'),
    IPSIE_GATEWAY_ADDRESS: `127.0.0.1:${gatewayPort}`,
    IPSIE_TENANTS_FILE: tenantsFile,
  });
  const sidecar = startRole('sidecar', {
    IPSIE_NATS_URL: nats.url,
    IPSIE_STORE_PATH: join(dir.path, 'sidecar.db'),
    IPSIE_GRPC_ADDRESS: '',
    IPSIE_GRPC_SOCKET: socket,
    IPSIE_TENANT_POLICY_DIR: join(ROOT, 'policies/examples'),
  });
  const client = createAuthorizationClient(`unix:${socket}`);
  try {
    const origin = `http://127.0.0.1:${gatewayPort}`;
    await until(async () => (await fetch(`${origin}/readyz`)).ok, 300_000);
    await until(async () => (await check(client, userId(USERS - 1), last)).decision === 'DECISION_ALLOW', 300_000);
    console.log('gateway and sidecar caught up; signing SETs (not timed)');

    // Risk changes for distinct users: each stores one posture change.
    const risk = async (i: number, level: string): Promise<string> =>
      await tx.set(
        `${CAEP}risk-level-change`,
        { format: 'email', email: email(i) },
        {
          principal: 'USER',
          current_level: level,
        },
      );
    const warm = await Promise.all(Array.from({ length: 200 }, async (_, i) => await risk(i, 'LOW')));
    await throughput(origin, warm, 4);
    console.log('\nSETs accepted by one gateway (RFC 8935 push; 202 after the changes are stored):');
    for (const concurrency of [1, 16]) {
      const count = concurrency === 1 ? 1_000 : 3_000;
      const offset = concurrency === 1 ? 1_000 : 5_000;
      const sets = await Promise.all(
        Array.from({ length: count }, async (_, i) => await risk((offset + i * 7) % USERS, 'MEDIUM')),
      );
      const { latencies, rate } = await throughput(origin, sets, concurrency);
      console.log(formatRow(`push risk-level-change, concurrency ${concurrency}`, summarize(latencies), rate));
    }

    const fromAccepted: number[] = [];
    const fromSent: number[] = [];
    for (let n = 0; n < 300; n++) {
      const user = (20_000 + n * 13) % USERS;
      const set = await tx.set(`${RISC}account-disabled`, { format: 'email', email: email(user) }, {});
      const sent = performance.now();
      await push(origin, set);
      const accepted = performance.now();
      for (;;) {
        if ((await check(client, userId(user))).decision === 'DECISION_DENY') break;
      }
      const denied = performance.now();
      fromAccepted.push(denied - accepted);
      fromSent.push(denied - sent);
    }
    console.log(
      `\nRISC account-disabled -> first DENY from the sidecar (${USERS.toLocaleString('en-US')} users; Check polled without min_sequence):`,
    );
    console.log(formatRow('push accepted (202) -> DENY', summarize(fromAccepted)));
    console.log(formatRow('push sent -> DENY', summarize(fromSent)));
    const p99 = summarize(fromAccepted).p99;
    console.log(`  target p99 <= 100 ms: ${p99 <= 100 ? 'met' : 'NOT met'} (${p99.toFixed(2)} ms)`);
  } finally {
    client.close();
    await stopRole(sidecar);
    await stopRole(gateway);
    await tx.stop();
    await producer.close();
    await nats.dispose();
    dir.remove();
  }
}

await main();
