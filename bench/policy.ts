/**
 * Tenant policy roll-out (`npm run bench -- policy`).
 *
 * A real nats-server, an `ipsie-sidecar gateway` and two `ipsie-sidecar
 * sidecar` processes. While Checks run continuously against both sidecars
 * (Unix sockets, 2 callers each), the acme policy is uploaded and activated
 * again and again, alternating two versions. Prints:
 *   - upload (compile + the tenant's tests with the real opa) time;
 *   - activation answered -> both sidecars answering with the new version;
 *   - Check latency before and during the swaps, and the errors seen
 *     (target: none, and p99 during swaps within 2x the p99 before).
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ACME, exampleDirectoryChanges } from '../demo/example_directory.js';
import { createAuthorizationClient } from '../src/check/index.js';
import type { AuthorizationClient, CheckResponseMessage } from '../src/check/index.js';
import { freePort, NatsServer } from '../test/harness/nats_server.js';
import { TestProducer } from '../test/harness/stream.js';
import { makeTempDir } from '../test/harness/temp_dir.js';
import { ROOT, startRole, stopRole, until } from './processes.js';
import { formatRow, summarize } from './stats.js';

const TOKEN = 'bench-admin';
const SWAPS = Number(process.env['BENCH_SWAPS'] ?? 20);
const bob = ACME.people['bob']?.id ?? '';

function check(client: AuthorizationClient): Promise<CheckResponseMessage> {
  return new Promise((resolve, reject) => {
    client.check(
      { tenant: 'acme', subject: { user_id: bob }, action: { name: 'write' }, resource: { type: 'repository' } },
      { deadline: Date.now() + 5_000 },
      (error, response) => {
        if (error !== null || response === undefined) reject(error ?? new Error('no response'));
        else resolve(response);
      },
    );
  });
}

function modules(variant: number): Record<string, string> {
  const dir = join(ROOT, 'policies/examples/acme');
  const files = Object.fromEntries(readdirSync(dir).map((n) => [n, readFileSync(join(dir, n), 'utf8')]));
  // Two versions that differ only in a comment: same answers, a real swap each time.
  return { ...files, 'authz.rego': `${files['authz.rego'] ?? ''}\n# variant ${variant}\n` };
}

async function admin(origin: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const response = await fetch(`${origin}/admin/v1/acme/policies${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  const json = (await response.json()) as Record<string, unknown>;
  if (response.status >= 300) throw new Error(`${path}: ${response.status} ${JSON.stringify(json)}`);
  return json;
}

async function main(): Promise<void> {
  const dir = makeTempDir('ipsie-bench-policy-');
  const nats = await NatsServer.start();
  const producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges());
  const tenantsFile = join(dir.path, 'tenants.json');
  writeFileSync(
    tenantsFile,
    JSON.stringify({
      tenants: { acme: { admin: { bearer_token_sha256: [createHash('sha256').update(TOKEN).digest('hex')] } } },
    }),
  );
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const gateway = startRole('gateway', {
    IPSIE_NATS_URL: nats.url,
    IPSIE_STORE_PATH: join(dir.path, 'gateway.db'),
    IPSIE_GATEWAY_ADDRESS: `127.0.0.1:${port}`,
    IPSIE_TENANTS_FILE: tenantsFile,
  });
  await until(async () => (await fetch(`${origin}/readyz`)).ok, 30_000);
  // Version 0 active before the sidecars start: they load it before serving.
  const first = await admin(origin, '', { modules: modules(0) });
  await admin(origin, `/${String(first['version'])}/activate`);
  const sidecars = [0, 1].map((i) =>
    startRole('sidecar', {
      IPSIE_NATS_URL: nats.url,
      IPSIE_STORE_PATH: join(dir.path, `sidecar-${i}.db`),
      IPSIE_GRPC_ADDRESS: '',
      IPSIE_GRPC_SOCKET: join(dir.path, `check-${i}.sock`),
    }),
  );
  const clients = [0, 1].map((i) => createAuthorizationClient(`unix:${join(dir.path, `check-${i}.sock`)}`));
  try {
    await Promise.all(
      clients.map(async (c) => {
        await new Promise<void>((resolve, reject) => {
          c.waitForReady(Date.now() + 60_000, (error) => {
            if (error === undefined) resolve();
            else reject(error);
          });
        });
      }),
    );
    console.log(`node ${process.version}; nats-server, gateway and 2 sidecars in their own processes`);

    // Continuous load: 2 callers per sidecar, recording latency and the version that answered.
    let phase: 'warm' | 'before' | 'during' | 'done' = 'warm';
    const latencies = { before: [] as number[], during: [] as number[] };
    let errors = 0;
    const seen = [new Map<string, number>(), new Map<string, number>()];
    const callers = clients.flatMap((client, i) =>
      [0, 1].map(async () => {
        while (phase !== 'done') {
          const t0 = performance.now();
          try {
            const r = await check(client);
            const t1 = performance.now();
            if (phase === 'before' || phase === 'during') latencies[phase].push(t1 - t0);
            if (!seen[i]?.has(r.policy_version)) seen[i]?.set(r.policy_version, t1);
            if (r.decision !== 'DECISION_ALLOW') errors++;
          } catch {
            errors++;
          }
        }
      }),
    );
    // Warm-up: JIT, caches and connections settle before the baseline is taken.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    phase = 'before';
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    phase = 'during';
    const uploads: number[] = [];
    const rollouts: number[] = [];
    const uploadToActive: number[] = [];
    for (let n = 1; n <= SWAPS; n++) {
      const t0 = performance.now();
      const uploaded = await admin(origin, '', { modules: modules(n) });
      const t1 = performance.now();
      const version = String(uploaded['version']);
      await admin(origin, `/${version}/activate`);
      const t2 = performance.now();
      for (;;) {
        const times = seen.map((m) => m.get(version)).filter((t): t is number => t !== undefined);
        if (times.length === seen.length) {
          const everywhere = Math.max(...times);
          uploads.push(t1 - t0);
          rollouts.push(everywhere - t2);
          uploadToActive.push(everywhere - t0);
          break;
        }
        if (performance.now() - t2 > 30_000) throw new Error(`${version} not active everywhere in 30 s`);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
    phase = 'done';
    await Promise.all(callers);

    console.log(`\npolicy roll-out, ${SWAPS} versions (acme example + its tests):`);
    console.log(formatRow('upload (compile with opa + opa test)', summarize(uploads)));
    console.log(formatRow('activate answered -> both sidecars on it', summarize(rollouts)));
    console.log(formatRow('upload started -> both sidecars on it', summarize(uploadToActive)));
    const before = summarize(latencies.before);
    const during = summarize(latencies.during);
    console.log('\nCheck over UDS, 2 callers per sidecar:');
    console.log(formatRow('before the swaps', before));
    console.log(formatRow('during the swaps', during));
    console.log(
      `  errors or non-ALLOW answers: ${errors}; p99 during / before = ${(during.p99 / before.p99).toFixed(2)} (target: 0 errors, <= 2)`,
    );
  } finally {
    for (const c of clients) c.close();
    for (const s of sidecars) await stopRole(s);
    await stopRole(gateway);
    await producer.close();
    await nats.dispose();
    dir.remove();
  }
}

await main();
