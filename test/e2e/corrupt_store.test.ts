/**
 * A sidecar whose store file was damaged while it was stopped: it does not
 * serve from the damaged file, keeps it aside for an operator, rebuilds its
 * store from the stream without ever allowing from a partial store, and ends
 * with the store of a sidecar that never faulted.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import type { CheckRequestMessage, CheckResponseMessage } from '../../src/check/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { change, directory, session } from '../harness/changes.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import { TestClient } from '../harness/grpc_client.js';
import { freePort, NatsServer } from '../harness/nats_server.js';
import { PROJECT_ROOT } from '../harness/opa.js';
import { referenceStore } from '../harness/reference_store.js';
import { ScimClient } from '../harness/scim_client.js';
import { spawnRole } from '../harness/role_process.js';
import type { RoleProcess } from '../harness/role_process.js';
import { sha256OfFile, writeGarbageOverTable } from '../harness/store_file.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const TENANTS = ['acme', 'globex', 'initech'];
const bob = ACME.people['bob']!;

let nats: NatsServer;
let producer: TestProducer;
let dir: ReturnType<typeof makeTempDir>;
let last: number;
const running: RoleProcess[] = [];

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  dir = makeTempDir('ipsie-corrupt-');
  await producer.publishAll(exampleDirectoryChanges());
  await producer.publish(session('acme', 'sess-bob-1', bob.id));
  // Enough changes that a rebuild takes a while, then a sign-out only the end of the stream knows.
  const bulk = directory('initech', 3_000, 20);
  for (let i = 0; i < bulk.length; i += 500) {
    await Promise.all(bulk.slice(i, i + 500).map(async (c) => await producer.publish(c)));
  }
  last = (
    await producer.publish(
      change('acme', 'user.sessions_revoke', {
        user_id: bob.id,
        before: Math.floor(Date.now() / 1000),
        reason: 'credential-change',
      }),
    )
  ).sequence;
}, 120_000);

afterAll(async () => {
  for (const role of running) role.child.kill('SIGKILL');
  await producer.close();
  await nats.dispose();
  dir.remove();
});

const bobWrites: CheckRequestMessage = {
  tenant: 'acme',
  subject: { user_id: bob.id },
  action: { name: 'write' },
  resource: { type: 'repository' },
};
const bobsSignedOutSession: CheckRequestMessage = {
  ...bobWrites,
  subject: { session_id: 'sess-bob-1' },
};

async function startSidecar(name: string, storePath: string): Promise<{ process: RoleProcess; health: string }> {
  const healthPort = await freePort();
  const sidecar = spawnRole('sidecar', {
    IPSIE_STORE_PATH: storePath,
    IPSIE_NATS_URL: nats.url,
    IPSIE_GRPC_ADDRESS: '',
    IPSIE_GRPC_SOCKET: join(dir.path, `${name}.sock`),
    IPSIE_TENANT_POLICY_DIR: join(PROJECT_ROOT, 'policies/examples'),
    IPSIE_HEALTH_ADDRESS: `127.0.0.1:${healthPort}`,
  });
  running.push(sidecar);
  return { process: sidecar, health: `http://127.0.0.1:${healthPort}` };
}

describe('a sidecar started on a damaged store', () => {
  it('moves the file aside, rebuilds from the stream without allowing from a partial store, and converges', async () => {
    const storePath = join(dir.path, 'sidecar.db');
    const first = await startSidecar('first', storePath);
    await first.process.waitFor((l) => l['msg'] === 'caught up with the state stream');
    expect(await first.process.stop()).toBe(0);

    // 4 KiB of random bytes over the users table while the sidecar is stopped.
    writeGarbageOverTable(storePath, 'users');
    const damaged = sha256OfFile(storePath);

    const second = await startSidecar('second', storePath);
    // Checks from the moment the sidecar starts until it has converged: none may allow from a partial store.
    const client = new TestClient(`unix:${join(dir.path, 'second.sock')}`);
    const answers: { request: 'bob' | 'session'; response: CheckResponseMessage }[] = [];
    const polling = { on: true };
    const poller = (async () => {
      while (polling.on) {
        for (const [name, request] of [
          ['bob', bobWrites],
          ['session', bobsSignedOutSession],
        ] as const) {
          try {
            answers.push({ request: name, response: await client.check(request) });
          } catch {
            // not listening yet, or UNAVAILABLE: closed, as it should be
          }
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    try {
      const setAside = await second.process.waitFor(
        (l) => l['msg'] === 'entitlement store unreadable: moved aside; rebuilding it from the state stream',
      );
      expect(setAside).toMatchObject({ level: 50, reason: 'corrupt', path: storePath });
      const movedTo = setAside['moved_to'] as string;
      expect(movedTo).toMatch(/sidecar\.db\.bad-\d{8}T\d{9}Z$/);
      expect(sha256OfFile(movedTo)).toBe(damaged); // never deleted, never changed
      expect(await second.process.waitFor((l) => l['msg'] === 'consuming the state stream')).toMatchObject({
        from_sequence: 1,
      });
      await second.process.waitFor((l) => l['msg'] === 'caught up with the state stream');
      expect(await metricsOnceListening(second.health)).toContain('ipsie_store_set_aside_total{reason="corrupt"} 1');

      // Serving the whole stream's state: bob may write; his signed-out session may not.
      const deadline = Date.now() + 20_000;
      while (!answers.some((a) => a.request === 'bob' && Number(a.response.sequence) === last)) {
        if (Date.now() > deadline) throw new Error('no Check answered from the rebuilt store in time');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    } finally {
      polling.on = false;
      await poller;
      client.close();
    }
    for (const { request, response } of answers) {
      if (request === 'session') expect(response.decision).toBe('DECISION_DENY');
      // An allow is only ever decided on the complete stream.
      if (response.decision === 'DECISION_ALLOW') expect(Number(response.sequence)).toBe(last);
    }
    expect(answers.filter((a) => a.request === 'bob').at(-1)?.response.decision).toBe('DECISION_ALLOW');
    expect(await second.process.stop()).toBe(0);

    // The rebuilt store is the store of a sidecar that never faulted.
    const rebuilt = EntitlementStore.open(storePath);
    const reference = await referenceStore(nats.url, join(dir.path, 'reference.db'), last);
    try {
      expect(rebuilt.appliedSequence()).toBe(last);
      for (const tenant of TENANTS) expect(rebuilt.digest(tenant), tenant).toBe(reference.digest(tenant));
    } finally {
      rebuilt.close();
      reference.close();
    }
    expect(existsSync(movedToOf(second.process))).toBe(true);
  }, 180_000);
});

describe('a gateway started on a replica file that is not SQLite', () => {
  it('moves it aside and rebuilds its replica before serving SCIM', async () => {
    const storePath = join(dir.path, 'gateway.db');
    writeFileSync(storePath, 'this is where the gateway replica was\n'.repeat(100));
    const gw = await startTestGateway(
      nats.url,
      { acme: { scim: { bearer_token_sha256: [sha256('t')] } } },
      {
        IPSIE_STORE_PATH: storePath,
        IPSIE_HEALTH_ADDRESS: '127.0.0.1:0',
      },
    );
    try {
      const aside = readdirSync(dir.path).filter((n) => n.startsWith('gateway.db.bad-') && !n.endsWith('-shm'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir.path, aside[0]!), 'utf8')).toMatch(/^this is where the gateway replica was/);
      expect(await metricsOnceListening(`http://127.0.0.1:${String(gw.gateway.healthPort)}`)).toContain(
        'ipsie_store_set_aside_total{reason="not_a_database"} 1',
      );
      const bobByName = await new ScimClient(gw.origin, 'acme', 't').get(
        `/Users?filter=${encodeURIComponent(`userName eq "${bob.userName}"`)}`,
      );
      expect(bobByName.status).toBe(200);
      expect(bobByName.body).toMatchObject({ totalResults: 1 });
      expect(gw.gateway.store.digest('acme')).toBe(
        (
          await referenceStore(nats.url, join(dir.path, 'gateway-reference.db'), gw.gateway.store.appliedSequence())
        ).digest('acme'),
      );
    } finally {
      await gw.stop();
    }
  });
});

/** `/metrics`, once the listener (opened after start-up) answers. */
async function metricsOnceListening(health: string): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await (await fetch(`${health}/metrics`)).text();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function movedToOf(process: RoleProcess): string {
  const line = process.lines.find((l) => typeof l['moved_to'] === 'string');
  return line?.['moved_to'] as string;
}
