/**
 * SCIM through the gateway (`npm run bench -- scim`).
 *
 * A real nats-server, `ipsie-sidecar gateway` and `ipsie-sidecar sidecar`
 * processes. Prints:
 *   - SCIM writes/s (POST /Users, then PATCH /Users) at concurrency 1 and 16,
 *     each answered after the gateway's replica applied it;
 *   - time from the response to a SCIM deactivation to the first DENY the
 *     sidecar gives, polling Check without min_sequence (how fast the change
 *     really propagates).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAuthorizationClient } from '../src/check/index.js';
import type { AuthorizationClient, CheckResponseMessage } from '../src/check/index.js';
import { freePort, NatsServer } from '../test/harness/nats_server.js';
import { ScimClient } from '../test/harness/scim_client.js';
import { makeTempDir } from '../test/harness/temp_dir.js';
import { ROOT, startRole, stopRole, until } from './processes.js';
import { formatRow, summarize } from './stats.js';

const TOKEN = 'bench-token';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';

function check(client: AuthorizationClient, userId: string): Promise<CheckResponseMessage> {
  return new Promise((resolve, reject) => {
    client.check(
      { tenant: 'acme', subject: { user_id: userId }, action: { name: 'write' }, resource: { type: 'repository' } },
      (error, response) => {
        if (error !== null || response === undefined) reject(error ?? new Error('no response'));
        else resolve(response);
      },
    );
  });
}

async function writes(
  scim: ScimClient,
  concurrency: number,
  total: number,
  prefix: string,
): Promise<{ latencies: number[]; rate: number }> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        const created = await scim.post('/Users', {
          schemas: [USER_SCHEMA],
          userName: `${prefix}${i}@acme.example`,
          name: { givenName: 'U', familyName: String(i) },
          emails: [{ value: `${prefix}${i}@acme.example`, type: 'work', primary: true }],
          active: true,
        });
        if (created.status !== 201) throw new Error(`POST ${created.status}`);
        latencies.push(performance.now() - t0);
        const t1 = performance.now();
        const patched = await scim.patch(`/Users/${created.body?.['id'] as string}`, [
          { op: 'replace', path: 'title', value: 'Engineer' },
        ]);
        if (patched.status !== 200) throw new Error(`PATCH ${patched.status}`);
        latencies.push(performance.now() - t1);
      }
    }),
  );
  return { latencies, rate: (total * 2) / ((performance.now() - started) / 1000) };
}

async function main(): Promise<void> {
  const dir = makeTempDir('ipsie-bench-scim-');
  const nats = await NatsServer.start();
  const tenantsFile = join(dir.path, 'tenants.json');
  writeFileSync(
    tenantsFile,
    JSON.stringify({
      tenants: {
        acme: {
          scim: {
            bearer_token_sha256: [createHash('sha256').update(TOKEN).digest('hex')],
            rate_limit: { requests_per_second: 100_000, burst: 100_000 },
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
    await until(async () => (await fetch(`${origin}/readyz`)).ok, 60_000);
    const scim = new ScimClient(origin, 'acme', TOKEN);
    await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + 60_000, (error) => {
        if (error === undefined) resolve();
        else reject(error);
      });
    });
    console.log(`node ${process.version}; nats-server, gateway and sidecar in their own processes`);

    console.log(
      '\nSCIM writes through the gateway (POST /Users + PATCH /Users; each answered after its replica applied it):',
    );
    await writes(scim, 4, 100, 'warm');
    for (const concurrency of [1, 16]) {
      const { latencies, rate } = await writes(scim, concurrency, concurrency === 1 ? 500 : 2_000, `c${concurrency}-`);
      console.log(formatRow(`SCIM write, concurrency ${concurrency}`, summarize(latencies), rate));
    }

    // A group granting the developer role, and users in it to deactivate.
    const group = await scim.post('/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Engineering',
    });
    const groupId = group.body?.['id'] as string;
    const samples: number[] = [];
    for (let n = 0; n < 200; n++) {
      const created = await scim.post('/Users', {
        schemas: [USER_SCHEMA],
        userName: `deact${n}@acme.example`,
        active: true,
      });
      const id = created.body?.['id'] as string;
      await scim.patch(`/Groups/${groupId}`, [{ op: 'add', path: 'members', value: [{ value: id }] }]);
      await until(async () => (await check(client, id)).decision === 'DECISION_ALLOW', 10_000);
      const deactivated = await scim.patch(`/Users/${id}`, [{ op: 'replace', path: 'active', value: false }]);
      const answered = performance.now();
      if (deactivated.status !== 200) throw new Error(`deactivation ${deactivated.status}`);
      for (;;) {
        if ((await check(client, id)).decision === 'DECISION_DENY') break;
      }
      samples.push(performance.now() - answered);
    }
    console.log('\nSCIM deactivation answered -> first DENY from the sidecar (Check polled without min_sequence):');
    console.log(formatRow('deactivate response -> DENY', summarize(samples)));
  } finally {
    client.close();
    await stopRole(sidecar);
    await stopRole(gateway);
    await nats.dispose();
    dir.remove();
  }
}

await main();
