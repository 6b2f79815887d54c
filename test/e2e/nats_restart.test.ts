/**
 * NATS restarted under a running gateway and sidecar (real processes): while
 * it is away SCIM answers 503 and nothing is acknowledged; within 2 s of
 * nats-server accepting connections again SCIM serves every tenant, reads and
 * writes; and both replicas end with the store of one that never faulted.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EntitlementStore } from '../../src/store/index.js';
import { sha256 } from '../harness/gateway.js';
import { freePort, NatsServer } from '../harness/nats_server.js';
import { referenceStore } from '../harness/reference_store.js';
import { spawnRole } from '../harness/role_process.js';
import type { RoleProcess } from '../harness/role_process.js';
import { ScimClient } from '../harness/scim_client.js';
import type { ScimResponse } from '../harness/scim_client.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const TENANTS = ['acme', 'globex'] as const;
/** The target of issue 13: SCIM serves within this long of NATS accepting connections again. */
const RECOVERY_MS = 2_000;

let nats: NatsServer;
let dir: ReturnType<typeof makeTempDir>;
const running: RoleProcess[] = [];

beforeEach(async () => {
  nats = await NatsServer.start();
  dir = makeTempDir('ipsie-nats-restart-');
});

afterEach(async () => {
  for (const role of running.splice(0)) role.child.kill('SIGKILL');
  await nats.dispose();
  dir.remove();
});

const newUser = (userName: string): Record<string, unknown> => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  userName,
});

/** A SCIM call that gives up at `deadline` (status 0), so a poll never outlives it. */
async function before(deadline: number, call: (signal: AbortSignal) => Promise<ScimResponse>): Promise<number> {
  const left = deadline - Date.now();
  if (left <= 0) return 0;
  try {
    return (await call(AbortSignal.timeout(left))).status;
  } catch {
    return 0;
  }
}

async function startRoles(): Promise<{ gateway: RoleProcess; sidecar: RoleProcess; scim: Map<string, ScimClient> }> {
  const tenantsFile = join(dir.path, 'tenants.json');
  writeFileSync(
    tenantsFile,
    JSON.stringify({
      tenants: Object.fromEntries(TENANTS.map((t) => [t, { scim: { bearer_token_sha256: [sha256(`${t}-token`)] } }])),
    }),
  );
  const port = await freePort();
  const gateway = spawnRole('gateway', {
    IPSIE_STORE_PATH: join(dir.path, 'gateway.db'),
    IPSIE_NATS_URL: nats.url,
    IPSIE_GATEWAY_ADDRESS: `127.0.0.1:${port}`,
    IPSIE_TENANTS_FILE: tenantsFile,
    IPSIE_LOG_LEVEL: 'debug',
  });
  running.push(gateway);
  const sidecar = spawnRole('sidecar', {
    IPSIE_STORE_PATH: join(dir.path, 'sidecar.db'),
    IPSIE_NATS_URL: nats.url,
    IPSIE_GRPC_ADDRESS: '',
    IPSIE_GRPC_SOCKET: join(dir.path, 'check.sock'),
    IPSIE_LOG_LEVEL: 'debug',
  });
  running.push(sidecar);
  await gateway.waitFor((l) => l['msg'] === 'gateway listening');
  await sidecar.waitFor((l) => l['msg'] === 'caught up with the state stream');
  const origin = `http://127.0.0.1:${port}`;
  return {
    gateway,
    sidecar,
    scim: new Map(TENANTS.map((t) => [t, new ScimClient(origin, t, `${t}-token`)])),
  };
}

/** Resolves once the process logs having applied `sequence`. */
async function applied(role: RoleProcess, sequence: number): Promise<void> {
  await role.waitFor((l) => l['msg'] === 'applied' && (l['last_sequence'] as number) >= sequence, 20_000);
}

describe('gateway and sidecar across a NATS restart', () => {
  for (const crash of [true, false]) {
    it(`${crash ? 'SIGKILL' : 'SIGTERM'}: SCIM is 503 while NATS is away, serves every tenant within 2 s of NATS accepting connections, and every replica converges`, async () => {
      const { gateway, sidecar, scim } = await startRoles();
      for (const [tenant, client] of scim) {
        expect((await client.post('/Users', newUser(`before@${tenant}.example`))).status).toBe(201);
      }

      await nats.stop(crash);
      // Fail closed while NATS is away: a read cannot prove its replica current, a write cannot be stored.
      const acme = scim.get('acme')!;
      const [read, write] = await Promise.all([
        acme.get('/Users?count=1'),
        acme.post('/Users', newUser('during@acme.example')),
      ]);
      expect(read.status).toBe(503);
      expect(write.status).toBe(503);

      await nats.restart();
      const accepting = Date.now();
      const deadline = accepting + RECOVERY_MS;
      // Poll every tenant with a write and a read of it until both answer, each call cut off at the deadline.
      const served = new Set<string>();
      for (let round = 0; served.size < TENANTS.length && Date.now() < deadline; round++) {
        for (const [tenant, client] of scim) {
          if (served.has(tenant)) continue;
          const userName = `after-${round}@${tenant}.example`;
          const created = await before(
            deadline,
            async (signal) => await client.request('POST', '/Users', newUser(userName), {}, signal),
          );
          if (created !== 201) continue;
          const filter = encodeURIComponent(`userName eq "${userName}"`);
          const found = await before(
            deadline,
            async (signal) => await client.request('GET', `/Users?filter=${filter}`, undefined, {}, signal),
          );
          if (found === 200) served.add(tenant);
        }
      }
      expect([...served].sort(), `served within ${RECOVERY_MS} ms of NATS accepting connections`).toEqual([...TENANTS]);
      expect(Date.now() - accepting).toBeLessThanOrEqual(RECOVERY_MS + 50);

      // Convergence: the gateway's replica and the sidecar hold what a replica that never faulted holds.
      const producer = await TestProducer.connect(nats.url);
      const last = await producer.lastSequence();
      await producer.close();
      await Promise.all([applied(gateway, last), applied(sidecar, last)]);
      expect(await gateway.stop()).toBe(0);
      expect(await sidecar.stop()).toBe(0);
      const reference = await referenceStore(nats.url, join(dir.path, 'reference.db'), last);
      try {
        for (const file of ['gateway.db', 'sidecar.db']) {
          const store = EntitlementStore.open(join(dir.path, file));
          try {
            expect(store.appliedSequence(), file).toBe(last);
            for (const tenant of TENANTS)
              expect(store.digest(tenant), `${file} ${tenant}`).toBe(reference.digest(tenant));
          } finally {
            store.close();
          }
        }
      } finally {
        reference.close();
      }
    }, 120_000);
  }
});
