/**
 * The demo (`npm run demo`): the whole flow on a local NATS.
 *
 *   1. starts nats-server with JetStream and creates the IPSIE_STATE stream;
 *   2. publishes the example tenants' directory as normalized changes (what
 *      the SCIM gateway will publish), plus sessions and device posture;
 *   3. starts the real `ipsie-sidecar sidecar` process, which compiles each
 *      tenant's Rego to Wasm and replays the stream into its SQLite store;
 *   4. runs a scripted series of Checks over the Unix socket, printing each
 *      decision with its reasons;
 *   5. lifecycle over the stream: deactivation and session revocation reach
 *      the app through WatchSessions and Check (read-after-write with
 *      min_sequence), and a sidecar cut off from NATS fails closed.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceError } from '@grpc/grpc-js';
import type { Change, ChangeKind, ChangeOf, SessionData } from '../src/changes/index.js';
import { createAuthorizationClient, errorReasonOf, structFromJson } from '../src/check/index.js';
import type {
  AuthorizationClient,
  BatchCheckRequestMessage,
  BatchCheckResponseMessage,
  CheckRequestMessage,
  CheckResponseMessage,
  SessionEventMessage,
} from '../src/check/index.js';
import { NatsServer } from '../test/harness/nats_server.js';
import { TestProducer } from '../test/harness/stream.js';
import { makeTempDir } from '../test/harness/temp_dir.js';
import { ACME, exampleDirectoryChanges, GLOBEX } from './example_directory.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const STALE_AFTER_MS = 1_500;
const now = (): number => Math.floor(Date.now() / 1000);

function change<K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data']): Change {
  return { v: 1, id: randomUUID(), tenant, at: Date.now(), kind, data } as unknown as Change;
}

function check(client: AuthorizationClient, request: CheckRequestMessage): Promise<CheckResponseMessage> {
  return new Promise((resolve, reject) => {
    client.check(request, (error, response) => {
      if (error !== null || response === undefined) reject(error ?? new Error('no response'));
      else resolve(response);
    });
  });
}

function batchCheck(
  client: AuthorizationClient,
  request: BatchCheckRequestMessage,
): Promise<BatchCheckResponseMessage> {
  return new Promise((resolve, reject) => {
    client.batchCheck(request, (error, response) => {
      if (error !== null || response === undefined) reject(error ?? new Error('no response'));
      else resolve(response);
    });
  });
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));

function show(what: string, response: Pick<CheckResponseMessage, 'decision' | 'reasons' | 'step_up'>, note = ''): void {
  const decision = response.decision.replace('DECISION_', '');
  const reasons = response.reasons.map((r) => r.code).join(', ');
  const stepUp =
    response.step_up === null
      ? ''
      : `  step-up: acr_values=[${response.step_up.acr_values.join(' ')}]` +
        (response.step_up.max_age === undefined ? '' : ` max_age=${response.step_up.max_age}`);
  console.log(`  ${pad(what, 62)} ${pad(decision, 8)} ${reasons}${stepUp}${note}`);
}

async function main(): Promise<void> {
  const dir = makeTempDir('ipsie-demo-');
  const socket = join(dir.path, 'check.sock');

  console.log('1. Starting nats-server with JetStream');
  const nats = await NatsServer.start();
  const producer = await TestProducer.connect(nats.url);
  console.log(`   ${nats.url}, stream IPSIE_STATE (one subject per entity, latest message kept)`);

  console.log('\n2. Publishing the example tenants as normalized changes (users, groups, memberships, IdP bindings)');
  const alice = ACME.people['alice']!;
  const bob = ACME.people['bob']!;
  const carol = ACME.people['carol']!;
  const erin = GLOBEX.people['erin']!;
  const frank = GLOBEX.people['frank']!;
  const grace = GLOBEX.people['grace']!;
  const t = now();
  const sessionData = (
    id: string,
    userId: string,
    acr: string,
    amr: string[],
    deviceId: string | null,
  ): SessionData => ({
    id,
    user_id: userId,
    issuer: 'https://idp.example',
    acr,
    amr,
    auth_time: t - 120,
    expires_at: t + 3600,
    created_at: t - 120,
    revoked_at: null,
    revoke_reason: null,
    ip: '198.51.100.7',
    device_id: deviceId,
  });
  const aliceWeak = sessionData('sess-alice-pwd', alice.id, 'urn:okta:loa:1fa:pwd', ['pwd'], null);
  const setup: Change[] = [
    ...exampleDirectoryChanges(),
    change('acme', 'session.start', aliceWeak),
    change('acme', 'session.start', sessionData('sess-alice-phr', alice.id, 'phr', ['hwk', 'mfa'], null)),
    change('acme', 'session.start', sessionData('sess-carol', carol.id, 'urn:okta:loa:2fa:any', ['pwd', 'otp'], null)),
    change('globex', 'session.start', sessionData('sess-erin', erin.id, 'phr', ['hwk'], 'laptop-erin')),
  ];
  const setupSequence = await producer.publishAll(setup);
  for (const tenant of [ACME, GLOBEX]) {
    console.log(
      `   ${tenant.id}: ${Object.values(tenant.people)
        .map((p) => `${p.userName} [${p.groups.join(', ')}]`)
        .join('; ')}`,
    );
  }
  console.log(`   ${setup.length} changes stored, stream sequence ${setupSequence}`);

  console.log(
    "\n3. Starting `ipsie-sidecar sidecar`: compiles each tenant's Rego to Wasm, replays the stream into SQLite",
  );
  const child = spawn(process.execPath, [join(ROOT, 'dist/main.js'), 'sidecar'], {
    env: {
      ...process.env,
      IPSIE_STORE_PATH: join(dir.path, 'sidecar.db'),
      IPSIE_NATS_URL: nats.url,
      IPSIE_STALE_AFTER_MS: String(STALE_AFTER_MS),
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
    console.log(`   listening on unix:${socket} (it opens once caught up with the stream)`);

    const doc = (properties: Record<string, unknown>): NonNullable<CheckRequestMessage['resource']> => ({
      type: 'document',
      id: 'doc-42',
      properties: structFromJson(properties),
    });

    console.log('\n4. Checks');
    console.log('   acme — RBAC: roles from Entra groups; irreversible actions need phishing-resistant MFA');
    const writeRepo: CheckRequestMessage = {
      tenant: 'acme',
      subject: { user_id: bob.id },
      action: { name: 'write' },
      resource: { type: 'repository', id: 'api' },
    };
    const first = await check(client, writeRepo);
    show('bob (Engineering) write repository', first, `  (decided at sequence ${first.sequence})`);
    show(
      'bob (Engineering) pay invoice',
      await check(client, { ...writeRepo, action: { name: 'pay' }, resource: { type: 'invoice', id: 'inv-1' } }),
    );
    const approve = { action: { name: 'approve' }, resource: { type: 'deployment', id: 'd-9' } };
    show(
      'alice (Eng Leads) approve deployment, password session',
      await check(client, { tenant: 'acme', subject: { session_id: 'sess-alice-pwd' }, ...approve }),
    );
    show(
      'alice (Eng Leads) approve deployment, phishing-resistant',
      await check(client, { tenant: 'acme', subject: { session_id: 'sess-alice-phr' }, ...approve }),
    );
    show(
      'carol (Finance) pay invoice, OTP session',
      await check(client, {
        tenant: 'acme',
        subject: { session_id: 'sess-carol' },
        action: { name: 'pay' },
        resource: { type: 'invoice', id: 'inv-1' },
      }),
    );

    console.log('   globex — ABAC: department, title and userType from Okta; confidential needs a compliant device');
    const sameRequest = { action: { name: 'read' }, resource: doc({ department: 'R&D' }) };
    show(
      'erin (R&D) read an R&D document',
      await check(client, { tenant: 'globex', subject: { user_id: erin.id }, ...sameRequest }),
    );
    show(
      '   same request in acme for bob (R&D): different tenant policy',
      await check(client, { tenant: 'acme', subject: { user_id: bob.id }, ...sameRequest }),
    );
    show(
      'grace (Contractor manager) export an R&D document',
      await check(client, {
        tenant: 'globex',
        subject: { user_id: grace.id },
        action: { name: 'export' },
        resource: doc({ department: 'R&D' }),
      }),
    );
    const confidential: CheckRequestMessage = {
      tenant: 'globex',
      subject: { session_id: 'sess-erin' },
      action: { name: 'read' },
      resource: doc({ department: 'R&D', classification: 'confidential' }),
    };
    show('erin read confidential, device posture unknown', await check(client, confidential));
    const compliant = await producer.publish(
      change('globex', 'posture.set', { kind: 'device', subject_id: 'laptop-erin', state: { compliant: true } }),
    );
    show(
      '   ...after MDM reports laptop-erin compliant',
      await check(client, { ...confidential, min_sequence: compliant.sequence }),
    );
    show(
      'alice of acme asking globex (tenant isolation)',
      await check(client, { tenant: 'globex', subject: { user_id: alice.id }, ...sameRequest }),
    );
    const actions = ['read', 'write', 'export', 'delete'];
    const batch = await batchCheck(client, {
      tenant: 'globex',
      subject: { user_id: frank.id },
      items: actions.map((name) => ({ action: { name }, resource: doc({ department: 'R&D' }) })),
    });
    console.log(`   BatchCheck frank (R&D Manager), one snapshot, policy ${batch.policy_version}:`);
    actions.forEach((name, i) => {
      show(`   ${name} R&D document`, batch.results[i]!);
    });

    console.log('\n5. Lifecycle over the stream, seen by the app through WatchSessions');
    const watch = client.watchSessions({ tenant: 'acme' });
    const events: SessionEventMessage[] = [];
    watch.on('data', (e: SessionEventMessage) => events.push(e));
    watch.on('error', () => undefined);
    await new Promise((resolve) => watch.once('metadata', resolve));
    const nextEvent = async (): Promise<SessionEventMessage> => {
      while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      return events.shift()!;
    };

    const deactivated = await producer.publish(
      change('acme', 'user.deactivate', {
        id: bob.id,
        user_name: bob.userName,
        external_id: 'bob',
        active: false,
        attributes: bob.attributes,
        roles: [],
      }),
    );
    const e1 = await nextEvent();
    console.log(
      `   the IdP deactivates bob (sequence ${deactivated.sequence}) -> WatchSessions: ${e1.kind.replace('SESSION_EVENT_KIND_', '')} ${e1.user_id}`,
    );
    show(
      'bob write repository, min_sequence = that sequence',
      await check(client, { ...writeRepo, min_sequence: deactivated.sequence }),
    );

    const revoked = await producer.publish(
      change('acme', 'session.revoke', { ...aliceWeak, revoked_at: now(), revoke_reason: 'CAEP session-revoked' }),
    );
    const e2 = await nextEvent();
    console.log(
      `   the IdP revokes alice's session -> WatchSessions: ${e2.kind.replace('SESSION_EVENT_KIND_', '')} ${e2.session_id} (${e2.reason})`,
    );
    show(
      'alice read repository with that session',
      await check(client, {
        tenant: 'acme',
        subject: { session_id: 'sess-alice-pwd' },
        action: { name: 'read' },
        resource: { type: 'repository' },
        min_sequence: revoked.sequence,
      }),
    );
    watch.cancel();

    console.log(
      `\n6. Cut off from NATS for longer than the staleness bound (${STALE_AFTER_MS} ms), decisions fail closed`,
    );
    const aliceRead: CheckRequestMessage = {
      tenant: 'acme',
      subject: { session_id: 'sess-alice-phr' },
      action: { name: 'read' },
      resource: { type: 'repository' },
    };
    await nats.stop();
    await new Promise((resolve) => setTimeout(resolve, STALE_AFTER_MS + 500));
    show('alice read repository, NATS down', await check(client, aliceRead));
    await nats.restart();
    for (let i = 0; i < 200; i++) {
      if ((await check(client, aliceRead)).decision === 'DECISION_ALLOW') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    show('alice read repository, NATS back', await check(client, aliceRead));

    console.log('\n7. A bad request gets a gRPC status with a stable reason');
    try {
      await check(client, { ...writeRepo, tenant: '' });
    } catch (error) {
      const e = error as ServiceError;
      console.log(
        `  ${pad('Check without a tenant', 62)} status=${e.code} reason=${errorReasonOf(e) ?? '?'} "${e.details}"`,
      );
    }
    console.log('\nDone.');
  } finally {
    client.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await producer.close();
    await nats.dispose();
    dir.remove();
  }
}

await main();
