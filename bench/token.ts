/**
 * Check with token verification (`npm run bench -- token`).
 *
 * A fake IdP (real PS256 and ES256 keys) serves its JWKS; 1,000 users are
 * bound to it. Prints p50/p99 of:
 *   - in process: Decider.check with the ID token as subject (verification
 *     with a cached JWKS + store read + Wasm), next to the same by user id;
 *   - gRPC Check over a Unix socket at concurrency 1, server in its own
 *     process, same two subject forms.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createAuthorizationClient, Decider } from '../src/check/index.js';
import type { AuthorizationClient, CheckRequest, CheckRequestMessage } from '../src/check/index.js';
import { parseConfig } from '../src/config/index.js';
import { loadTenantPolicySources, PolicyCompiler, PolicyRegistry } from '../src/policy/index.js';
import { SessionAuthority } from '../src/session/index.js';
import { EntitlementStore } from '../src/store/index.js';
import { TokenVerifier } from '../src/tokens/index.js';
import { FakeIdp } from '../test/harness/fake_idp.js';
import { makeTempDir } from '../test/harness/temp_dir.js';
import { formatRow, measure, summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const USERS = 1_000;

async function main(): Promise<void> {
  const dir = makeTempDir('ipsie-bench-token-');
  const idp = await FakeIdp.start();
  const esKid = await idp.addKey('ES256');
  const storePath = join(dir.path, 'bench.db');
  const store = EntitlementStore.open(storePath);
  store.transaction(() => {
    store.upsertTenant({ id: 'acme', displayName: 'Acme' });
    store.upsertGroup({ tenantId: 'acme', id: 'eng', displayName: 'Engineering', externalId: undefined });
    for (let i = 0; i < USERS; i++) {
      const id = `user-${i}`;
      store.upsertUser({
        tenantId: 'acme',
        id,
        userName: `${id}@acme.example`,
        externalId: undefined,
        active: true,
        attributes: {},
        roles: [],
      });
      store.addMember('acme', 'eng', id);
      store.bindIdentity({ tenantId: 'acme', issuer: idp.issuer, subject: `sub-${i}`, userId: id });
    }
  });
  const tenants = { acme: { idps: [{ issuer: idp.issuer, client_id: 'app', jwks_uri: idp.jwksUri }] } };
  const tenantsFile = join(dir.path, 'tenants.json');
  writeFileSync(tenantsFile, JSON.stringify({ tenants }));
  const config = parseConfig({ IPSIE_TENANTS_FILE: tenantsFile });

  // Tokens signed ahead: the bench measures verification, not signing. Each is
  // used once in the "first sight" rows (full verification), then again (cached).
  const sign = async (count: number, kid?: string): Promise<string[]> =>
    await Promise.all(
      Array.from({ length: count }, async (_, i) => await idp.idToken(`sub-${i % USERS}`, 'app', {}, { kid })),
    );
  const ps = await sign(3_000);
  const es = await sign(3_000, esKid);
  const psGrpc = await sign(3_000);

  console.log(`node ${process.version}; ${USERS} users bound to a fake IdP; JWKS fetched once and cached`);
  const policies = new PolicyRegistry();
  const source = (await loadTenantPolicySources(`${ROOT}policies/examples`)).find((s) => s.tenantId === 'acme');
  if (source === undefined) throw new Error('no acme example');
  await policies.install(
    await new PolicyCompiler({
      opaPath: `${ROOT}.tools/bin/opa`,
      platformDir: `${ROOT}policies/ipsie`,
      timeoutMs: 60_000,
    }).compile(source),
  );
  const logger = pino({ level: 'silent' });
  const decider = new Decider({
    reader: store,
    policies,
    logger,
    tokens: new SessionAuthority({
      tenants: config.tenants,
      verifier: new TokenVerifier({ tenants: config.tenants }),
      reader: store,
      logger,
    }),
  });
  const request = (subject: { token: string } | { userId: string }): CheckRequest => ({
    tenantId: 'acme',
    subject:
      'token' in subject
        ? ({ kind: 'token', token: subject.token } as const)
        : ({ kind: 'user', userId: subject.userId } as const),
    action: { name: 'write', properties: {} },
    resource: { type: 'repository', id: 'r', properties: {} },
    context: { ip: undefined, userAgent: undefined, deviceId: undefined, attributes: {} },
    minSequence: 0,
  });
  const first = await decider.check(request({ token: ps[0] ?? '' }));
  if (first.decision.kind !== 'allow') throw new Error(`expected allow, got ${JSON.stringify(first.decision)}`);
  console.log('\nin process (Decider.check)');
  for (const [label, tokens] of [
    ['ID token PS256', ps],
    ['ID token ES256', es],
  ] as const) {
    await measure(200, async (i) => await decider.check(request({ token: tokens[i] ?? '' })));
    const cold = await measure(2_800, async (i) => await decider.check(request({ token: tokens[200 + i] ?? '' })));
    console.log(formatRow(`by ${label}, first sight`, summarize(cold)));
    const warm = await measure(
      5_000,
      async (i) => await decider.check(request({ token: tokens[i % tokens.length] ?? '' })),
    );
    console.log(formatRow(`by ${label}, seen before (cached)`, summarize(warm)));
  }
  console.log(
    formatRow(
      'by user id (no token)',
      summarize(await measure(5_000, async (i) => await decider.check(request({ userId: `user-${i % USERS}` })))),
    ),
  );
  store.close();

  const socket = join(dir.path, 'check.sock');
  const server = spawn(process.execPath, [join(ROOT, 'dist/main.js'), 'sidecar'], {
    env: {
      ...process.env,
      IPSIE_STORE_PATH: storePath,
      IPSIE_GRPC_ADDRESS: '',
      IPSIE_GRPC_SOCKET: socket,
      IPSIE_TENANT_POLICY_DIR: join(ROOT, 'policies/examples'),
      IPSIE_TENANTS_FILE: tenantsFile,
      IPSIE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const client: AuthorizationClient = createAuthorizationClient(`unix:${socket}`);
  try {
    await new Promise<void>((resolve, reject) => {
      client.waitForReady(Date.now() + 60_000, (error) => {
        if (error === undefined) resolve();
        else reject(error);
      });
    });
    const call = (subject: NonNullable<CheckRequestMessage['subject']>): Promise<void> =>
      new Promise((resolve, reject) => {
        client.check(
          { tenant: 'acme', subject, action: { name: 'write' }, resource: { type: 'repository' } },
          (error, response) => {
            if (error !== null) reject(error);
            else if (response?.decision !== 'DECISION_ALLOW')
              reject(new Error(`not allowed: ${JSON.stringify(response)}`));
            else resolve();
          },
        );
      });
    console.log('\ngRPC Check over UDS, concurrency 1, server in its own process');
    await measure(200, async (i) => {
      await call({ token: psGrpc[i] ?? '' });
    });
    const cold = await measure(2_800, async (i) => {
      await call({ token: psGrpc[200 + i] ?? '' });
    });
    console.log(formatRow('by ID token PS256, first sight', summarize(cold)));
    const warm = await measure(5_000, async (i) => {
      await call({ token: psGrpc[i % psGrpc.length] ?? '' });
    });
    console.log(formatRow('by ID token PS256, seen before (cached)', summarize(warm)));
    console.log(
      formatRow(
        'by user id (no token)',
        summarize(
          await measure(5_000, async (i) => {
            await call({ user_id: `user-${i % USERS}` });
          }),
        ),
      ),
    );
  } finally {
    client.close();
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    await idp.stop();
    dir.remove();
  }
}

await main();
