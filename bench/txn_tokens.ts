/**
 * Transaction tokens (`npm run bench -- txn-tokens`).
 *
 * In process, against a real nats-server for the tenant's keys (read once, then held in memory) and the example
 * acme policy compiled to Wasm, 1,000 users with a session each. Prints p50/p99 of:
 *   - Decider.check by session id (baseline), and the same asking for a transaction token (Check + mint);
 *   - Decider.check by `subject.txn_token` (verify + store read + Wasm);
 *   - mint and verify alone.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { pino } from 'pino';
import { Decider } from '../src/check/index.js';
import type { CheckRequest, CheckSubject } from '../src/check/index.js';
import { loadTenantPolicySources, PolicyCompiler, PolicyRegistry } from '../src/policy/index.js';
import { EntitlementStore } from '../src/store/index.js';
import { connectNats, KvRegister } from '../src/stream/index.js';
import { TXN_KEYS_BUCKET_OPTIONS, TxnKeyRing, TxnTokenService } from '../src/txn_tokens/index.js';
import { NatsServer } from '../test/harness/nats_server.js';
import { makeTempDir } from '../test/harness/temp_dir.js';
import { formatRow, measure, summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const USERS = 1_000;
const N = 5_000;

async function main(): Promise<void> {
  const dir = makeTempDir('ipsie-bench-txn-');
  const nats = await NatsServer.start();
  const logger = pino({ level: 'silent' });
  const nc = await connectNats({ servers: [nats.url], name: 'bench-txn' }, logger);
  const store = EntitlementStore.open(join(dir.path, 'bench.db'));
  const now = Math.floor(Date.now() / 1000);
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
      store.upsertSession({
        tenantId: 'acme',
        id: `s-${i}`,
        userId: id,
        issuer: 'https://idp.example',
        acr: 'phr',
        amr: ['hwk'],
        authTime: now - 60,
        expiresAt: now + 86_400,
        createdAt: now - 60,
        revokedAt: undefined,
        revokeReason: undefined,
        ip: undefined,
        deviceId: undefined,
      });
    }
  });
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
  const txnTokens = new TxnTokenService({
    keys: new TxnKeyRing({
      store: await KvRegister.open(nc, TXN_KEYS_BUCKET_OPTIONS(1)),
      rotationS: 86_400,
      retainS: 360,
    }),
    trustDomain: 'urn:ipsie-sidecar:txn',
    lifetimeS: 300,
    clockToleranceS: 60,
  });
  const decider = new Decider({ reader: store, policies, logger, txnTokens });
  const request = (subject: CheckSubject, mint = false): CheckRequest => ({
    tenantId: 'acme',
    subject,
    action: { name: 'write', properties: {} },
    resource: { type: 'repository', id: 'r', properties: {} },
    context: { ip: undefined, userAgent: undefined, deviceId: undefined, attributes: {} },
    minSequence: 0,
    ...(mint ? { txnToken: { purpose: undefined } } : {}),
  });
  const session = (i: number): CheckSubject => ({ kind: 'session', sessionId: `s-${i % USERS}` });

  const first = await decider.check(request(session(0), true));
  if (first.decision.kind !== 'allow' || first.txnToken === undefined) throw new Error('expected an allow and a token');
  console.log(`node ${process.version}; ${USERS} users with a session; ES256 keys read once from the KV bucket`);
  console.log('\nin process (Decider.check)');
  await measure(500, async (i) => await decider.check(request(session(i))));
  const baseline = await measure(N, async (i) => await decider.check(request(session(i))));
  console.log(formatRow('by session (baseline)', summarize(baseline)));
  const tokens: string[] = [];
  const minting = await measure(N, async (i) => {
    const result = await decider.check(request(session(i), true));
    tokens.push(result.txnToken ?? '');
  });
  console.log(formatRow('by session, asking for a txn token (+mint)', summarize(minting)));
  const verifying = await measure(
    N,
    async (i) => await decider.check(request({ kind: 'txn_token', token: tokens[i] ?? '' })),
  );
  console.log(formatRow('by txn_token (verify + decide)', summarize(verifying)));
  const checked = await decider.check(request({ kind: 'txn_token', token: tokens[0] ?? '' }));
  if (checked.decision.kind !== 'allow') throw new Error(`expected allow, got ${JSON.stringify(checked.decision)}`);

  console.log('\nalone');
  const grant = {
    tenantId: 'acme',
    userId: 'user-1',
    sessionId: 's-1',
    idp: undefined,
    scope: { action: 'write', resource: { type: 'repository', id: 'r' } },
    decisionId: 'd',
    policyVersion: 'v',
    purpose: undefined,
    requestIp: undefined,
  };
  console.log(formatRow('mint', summarize(await measure(N, async () => await txnTokens.mint(grant)))));
  console.log(
    formatRow('verify', summarize(await measure(N, async (i) => await txnTokens.verify('acme', tokens[i] ?? '')))),
  );
  store.close();
  await nc.close();
  await nats.dispose();
  dir.remove();
}

await main();
