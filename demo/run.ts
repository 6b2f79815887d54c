/**
 * The demo (`npm run demo`): the whole flow on a local NATS.
 *
 *   1. starts nats-server with JetStream and the `ipsie-sidecar gateway`
 *      process (which creates the IPSIE_STATE stream);
 *   2. provisions the example tenants over SCIM 2.0, as Entra ID (acme) and
 *      Okta (globex) would: users with enterprise attributes, groups with
 *      members; then sessions and device posture as changes (sign-in and
 *      device signals do not go through the gateway yet);
 *   3. starts the real `ipsie-sidecar sidecar` process, which compiles each
 *      tenant's Rego to Wasm and replays the stream into its SQLite store;
 *   4. runs a scripted series of Checks over the Unix socket, printing each
 *      decision with its reasons; then the example app (examples/koa_app)
 *      answers HTTP requests through @ipsie/sidecar-client's Koa middleware
 *      (200, 403, 401 with the RFC 9470 challenge);
 *   5. lifecycle over the stream: a SCIM deactivation, and CAEP events that
 *      acme's IdP pushes as signed SETs (session revoked, assurance lowered),
 *      reach the app through WatchSessions and Check (read-after-write with
 *      min_sequence), and the example app's session terminator ends the
 *      revoked app session; a session presented from a new IP is reported to the
 *      IdP as a signed CAEP session-presented SET (IPSIE SL3); a sidecar cut
 *      off from NATS fails closed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import { CAEP, FakeTransmitter } from '../test/harness/fake_transmitter.js';
import { freePort, NatsServer } from '../test/harness/nats_server.js';
import { ScimClient, sequenceOf } from '../test/harness/scim_client.js';
import { TestProducer } from '../test/harness/stream.js';
import { makeTempDir } from '../test/harness/temp_dir.js';
import { createExampleApp, SESSION_COOKIE } from '../examples/koa_app/app.js';
import type { ExampleApp } from '../examples/koa_app/app.js';
import { ACME, GLOBEX } from './example_directory.js';
import type { ExampleTenant } from './example_directory.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const TOKENS = { acme: 'demo-entra-token-for-acme', globex: 'demo-okta-token-for-globex' };
const SSF_PUSH_TOKEN = 'demo-ssf-push-token-for-acme';
const ACME_ADMIN_TOKEN = 'demo-admin-token-for-acme';

/** Provisions a tenant over SCIM; returns the ids the gateway assigned, by handle. */
async function provision(scim: ScimClient, tenant: ExampleTenant): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const [handle, person] of Object.entries(tenant.people)) {
    const { department, ...profile } = person.attributes as { department?: string } & Record<string, unknown>;
    const created = await scim.post('/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
      userName: person.userName,
      externalId: handle,
      active: true,
      emails: [{ value: person.userName, type: 'work', primary: true }],
      ...profile,
      ...(department === undefined ? {} : { [ENTERPRISE]: { department } }),
    });
    if (created.status !== 201) throw new Error(`SCIM POST /Users: ${created.status} ${JSON.stringify(created.body)}`);
    ids.set(handle, created.body?.['id'] as string);
  }
  const groups = [...new Set(Object.values(tenant.people).flatMap((p) => p.groups))];
  for (const name of groups) {
    const members = Object.entries(tenant.people)
      .filter(([, p]) => p.groups.includes(name))
      .map(([handle]) => ({ value: ids.get(handle) }));
    const created = await scim.post('/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: name,
      members,
    });
    if (created.status !== 201) throw new Error(`SCIM POST /Groups: ${created.status}`);
  }
  return ids;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

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

  console.log('1. Starting nats-server with JetStream, and `ipsie-sidecar gateway` (the IdP-facing edge)');
  const nats = await NatsServer.start();
  // acme's IdP as an SSF transmitter (it signs real SETs) and receiver (of what we transmit).
  const idp = await FakeTransmitter.start();
  const receiverTokenFile = join(dir.path, 'ssf-receiver-token');
  writeFileSync(receiverTokenFile, idp.receiverToken);
  const keysFile = join(dir.path, 'ssf-signing-keys.json');
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  writeFileSync(
    keysFile,
    JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'demo-1', alg: 'ES256' }] }),
  );
  const tenantsFile = join(dir.path, 'tenants.json');
  const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');
  writeFileSync(
    tenantsFile,
    JSON.stringify({
      tenants: {
        acme: {
          display_name: ACME.displayName,
          scim: { bearer_token_sha256: [sha256(TOKENS.acme)] },
          admin: { bearer_token_sha256: [sha256(ACME_ADMIN_TOKEN)] },
          ssf: {
            transmitters: [
              {
                issuer: idp.issuer,
                jwks_uri: idp.jwksUri,
                audience: idp.audience,
                push: { bearer_token_sha256: [sha256(SSF_PUSH_TOKEN)] },
              },
            ],
            receiver: { endpoint_url: idp.receiverUrl, bearer_token_file: receiverTokenFile, audience: idp.issuer },
          },
        },
        globex: { display_name: GLOBEX.displayName, scim: { bearer_token_sha256: [sha256(TOKENS.globex)] } },
      },
    }),
  );
  const gatewayPort = await freePort();
  const gateway = spawn(process.execPath, [join(ROOT, 'dist/main.js'), 'gateway'], {
    env: {
      ...process.env,
      IPSIE_STORE_PATH: join(dir.path, 'gateway.db'),
      IPSIE_NATS_URL: nats.url,
      IPSIE_GATEWAY_ADDRESS: `127.0.0.1:${gatewayPort}`,
      IPSIE_TENANTS_FILE: tenantsFile,
      IPSIE_SSF_SIGNING_KEYS_FILE: keysFile,
      IPSIE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const origin = `http://127.0.0.1:${gatewayPort}`;
  for (let i = 0; ; i++) {
    const ready = await fetch(`${origin}/readyz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ready) break;
    if (i > 600) throw new Error('the gateway did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const producer = await TestProducer.connect(nats.url);
  console.log(`   ${nats.url}; SCIM at ${origin}/scim/v2/<tenant>; SSF push at ${origin}/ssf/v1/<tenant>/events`);

  console.log('\n2. Provisioning over SCIM 2.0: acme as Entra ID would, globex as Okta would');
  const acmeScim = new ScimClient(origin, 'acme', TOKENS.acme);
  const acmeIds = await provision(acmeScim, ACME);
  const globexIds = await provision(new ScimClient(origin, 'globex', TOKENS.globex), GLOBEX);
  const person = (
    tenant: ExampleTenant,
    ids: Map<string, string>,
    handle: string,
  ): { id: string; userName: string } => ({
    id: ids.get(handle) ?? '',
    userName: tenant.people[handle]?.userName ?? '',
  });
  const alice = person(ACME, acmeIds, 'alice');
  const bob = person(ACME, acmeIds, 'bob');
  const carol = person(ACME, acmeIds, 'carol');
  const erin = person(GLOBEX, globexIds, 'erin');
  const frank = person(GLOBEX, globexIds, 'frank');
  const grace = person(GLOBEX, globexIds, 'grace');
  for (const tenant of [ACME, GLOBEX]) {
    console.log(
      `   ${tenant.id}: ${Object.values(tenant.people)
        .map((p) => `${p.userName} [${p.groups.join(', ')}]`)
        .join('; ')}`,
    );
  }
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
  const setupSequence = await producer.publishAll([
    change('acme', 'session.start', aliceWeak),
    change('acme', 'session.start', sessionData('sess-alice-phr', alice.id, 'phr', ['hwk', 'mfa'], null)),
    change('acme', 'session.start', sessionData('sess-carol', carol.id, 'urn:okta:loa:2fa:any', ['pwd', 'otp'], null)),
    change('globex', 'session.start', sessionData('sess-erin', erin.id, 'phr', ['hwk'], 'laptop-erin')),
  ]);
  console.log(
    `   sessions published as changes (sign-in is not wired to the gateway yet); stream sequence ${setupSequence}`,
  );

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
      // Every decision sampled to the tenant's audit trail, so any of them can be explained by its id.
      IPSIE_DECISION_AUDIT_RATE: '1',
      IPSIE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const client = createAuthorizationClient(`unix:${socket}`);
  let example: ExampleApp | undefined;
  let appServer: Server | undefined;
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

    console.log("\n   acme's administrators change their policy through the gateway (compiled and tested with opa)");
    const policyApi = async (path: string, body?: unknown): Promise<Record<string, unknown>> => {
      const response = await fetch(`${origin}/admin/v1/acme/policies${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ACME_ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body ?? {}),
      });
      return (await response.json()) as Record<string, unknown>;
    };
    const acmeDir = join(ROOT, 'policies/examples/acme');
    const acmeModules = Object.fromEntries(
      readdirSync(acmeDir).map((name) => [name, readFileSync(join(acmeDir, name), 'utf8')]),
    );
    const current = await policyApi('', { modules: acmeModules });
    await policyApi(`/${String(current['version'])}/activate`);
    const tests = current['tests'] as { passed: number } | null;
    console.log(
      `     the example policy with its tests -> version ${String(current['version'])} (${tests?.passed ?? 0} tests pass), activated`,
    );
    // Repositories become read-only for developers (the example's tests would now fail, so they stay out).
    const readOnly = (acmeModules['authz.rego'] ?? '').replace('{"type": "repository", "action": "write"},\n', '');
    const uploaded = await policyApi('', { modules: { 'authz.rego': readOnly } });
    console.log(`     upload -> version ${String(uploaded['version'])}`);
    const aliceWrite: CheckRequestMessage = { ...writeRepo, subject: { user_id: alice.id } };
    const dry = await policyApi(`/${String(uploaded['version'])}/dry-run`, {
      requests: [{ subject: { user_id: alice.id }, action: writeRepo.action, resource: writeRepo.resource }],
    });
    console.log(`     dry-run: ${String(dry['changed'])} of 1 decisions would change`);
    const broken = await policyApi('', { modules: { 'authz.rego': 'package tenants.globex\n\nallow := true\n' } });
    console.log(
      `     an upload into globex's package is refused: ${String(broken['code'])} "${String(broken['detail'])}"`,
    );
    await policyApi(`/${String(uploaded['version'])}/activate`);
    for (let i = 0; (await check(client, aliceWrite)).policy_version !== uploaded['version']; i++) {
      if (i > 500) throw new Error('the new policy version did not reach the sidecar');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const afterActivate = await check(client, aliceWrite);
    show('alice write repository, new version active', afterActivate, `  (${afterActivate.policy_version})`);
    // Why? The gateway evaluates the recorded input again with `opa eval --explain` on that version.
    let explanation: Record<string, unknown> | undefined;
    for (let i = 0; explanation === undefined; i++) {
      const response = await fetch(`${origin}/admin/v1/acme/decisions/${afterActivate.decision_id}/explanation`, {
        headers: { authorization: `Bearer ${ACME_ADMIN_TOKEN}` },
      });
      if (response.status === 200) explanation = (await response.json()) as Record<string, unknown>;
      else if (i > 200) throw new Error(`no explanation of ${afterActivate.decision_id}: ${response.status}`);
      else await new Promise((resolve) => setTimeout(resolve, 25));
    }
    console.log(`     why (GET /admin/v1/acme/decisions/${afterActivate.decision_id}/explanation):`);
    for (const reason of explanation['reasons'] as {
      code: string;
      note?: string;
      rules: { origin: string; rule: string; file: string; row: number }[];
    }[]) {
      console.log(`       ${reason.code}${reason.note === undefined ? '' : `: ${reason.note}`}`);
      for (const rule of reason.rules)
        console.log(`         ${rule.origin} rule ${rule.rule} at ${rule.file}:${String(rule.row)}`);
    }
    const rolledBack = await policyApi('/rollback');
    for (let i = 0; (await check(client, aliceWrite)).policy_version === uploaded['version']; i++) {
      if (i > 500) throw new Error('the rollback did not reach the sidecar');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    show(
      'alice write repository, after rollback',
      await check(client, aliceWrite),
      `  (${String(rolledBack['version'])})`,
    );

    const aliceReadPhr: CheckRequestMessage = {
      tenant: 'acme',
      subject: { session_id: 'sess-alice-phr' },
      action: { name: 'read' },
      resource: { type: 'repository' },
    };
    console.log('\n   The example app (examples/koa_app): Koa routes guarded through @ipsie/sidecar-client');
    example = createExampleApp({ sidecar: { socketPath: socket }, tenant: 'acme' });
    const server = example.app.listen(0, '127.0.0.1');
    appServer = server;
    await new Promise<void>((resolve) => server.once('listening', resolve));
    const appOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await example.watching;
    const appCookies = {
      alicePwd: example.adoptSession('sess-alice-pwd', alice.id),
      alicePhr: example.adoptSession('sess-alice-phr', alice.id),
      carol: example.adoptSession('sess-carol', carol.id),
    };
    const appRequest = async (who: string, method: string, path: string, cookie?: string): Promise<void> => {
      const response = await fetch(`${appOrigin}${path}`, {
        method,
        headers: cookie === undefined ? {} : { cookie: `${SESSION_COOKIE}=${cookie}` },
      });
      const body = (await response.json()) as Record<string, unknown>;
      const reason = typeof body['reason'] === 'string' ? body['reason'] : '';
      const outcome = typeof body['error'] === 'string' ? `${body['error']} ${reason}` : 'served';
      console.log(`  ${pad(`${method} ${path} (${who})`, 62)} ${response.status} ${outcome}`);
      const challenge = response.headers.get('www-authenticate');
      if (response.status === 401 && challenge !== null && challenge !== 'Bearer') {
        console.log(`     WWW-Authenticate: ${challenge}`);
        const params = body['authorization_params'] as Record<string, string>;
        const listed = Object.entries(params).map(([name, value]) => `${name}=${value}`);
        console.log(`     next authorization request adds: ${listed.join(' ')}`);
      }
    };
    await appRequest('alice, password session', 'POST', '/deployments/api/approve', appCookies.alicePwd);
    await appRequest('alice, phishing-resistant MFA', 'POST', '/deployments/api/approve', appCookies.alicePhr);
    await appRequest('alice', 'POST', '/invoices/inv-1/pay', appCookies.alicePhr);
    await appRequest('no app session', 'GET', '/repositories/api');

    console.log('\n5. Lifecycle over the stream and Shared Signals, seen by the app through WatchSessions');
    const watch = client.watchSessions({ tenant: 'acme' });
    const events: SessionEventMessage[] = [];
    watch.on('data', (e: SessionEventMessage) => events.push(e));
    watch.on('error', () => undefined);
    await new Promise((resolve) => watch.once('metadata', resolve));
    const nextEvent = async (): Promise<SessionEventMessage> => {
      while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      return events.shift()!;
    };

    const deactivated = await acmeScim.patch(`/Users/${bob.id}`, [{ op: 'Replace', path: 'active', value: 'False' }]);
    console.log(
      `   Entra ID deactivates bob: SCIM PATCH -> ${deactivated.status}, X-Ipsie-Sequence ${sequenceOf(deactivated)}`,
    );
    for (let n = 0; n < 2; n++) {
      const e = await nextEvent();
      console.log(`     WatchSessions: ${e.kind.replace('SESSION_EVENT_KIND_', '')} (${e.reason})`);
    }
    show(
      'bob write repository, min_sequence = that sequence',
      await check(client, { ...writeRepo, min_sequence: sequenceOf(deactivated) }),
    );

    const pushSet = async (set: string): Promise<number> => {
      const response = await fetch(`${origin}/ssf/v1/acme/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/secevent+jwt', authorization: `Bearer ${SSF_PUSH_TOKEN}` },
        body: set,
      });
      const sequence = Number(response.headers.get('x-ipsie-sequence'));
      console.log(`     RFC 8935 push -> ${response.status}${await response.text()}, X-Ipsie-Sequence ${sequence}`);
      return sequence;
    };
    console.log("   acme's IdP pushes a signed CAEP session-revoked SET for alice's password session");
    const revoked = await pushSet(
      await idp.set(
        `${CAEP}session-revoked`,
        {
          format: 'complex',
          user: { format: 'email', email: alice.userName },
          session: { format: 'opaque', id: 'sess-alice-pwd' },
        },
        { initiating_entity: 'policy', reason_admin: { en: 'Sign-in from an unmanaged device' } },
      ),
    );
    const e2 = await nextEvent();
    console.log(`     WatchSessions: ${e2.kind.replace('SESSION_EVENT_KIND_', '')} ${e2.session_id} (${e2.reason})`);
    for (let i = 0; !example.ended.some((e) => e.sessionId === 'sess-alice-pwd'); i++) {
      if (i > 1000) throw new Error("the example app did not end alice's password session");
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    console.log("     the example app's session terminator ended alice's password app session:");
    await appRequest('alice, that app session', 'GET', '/repositories/api', appCookies.alicePwd);
    show(
      'alice read repository with that session',
      await check(client, {
        tenant: 'acme',
        subject: { session_id: 'sess-alice-pwd' },
        action: { name: 'read' },
        resource: { type: 'repository' },
        min_sequence: revoked,
      }),
    );
    watch.cancel();

    console.log("   acme's IdP lowers carol's assurance (CAEP assurance-level-change, NIST-AAL 2 -> 1)");
    const carolRead: CheckRequestMessage = {
      tenant: 'acme',
      subject: { session_id: 'sess-carol' },
      action: { name: 'read' },
      resource: { type: 'invoice', id: 'inv-1' },
    };
    show('carol read invoice, before', await check(client, carolRead));
    const lowered = await pushSet(
      await idp.set(
        `${CAEP}assurance-level-change`,
        { format: 'email', email: carol.userName },
        {
          namespace: 'NIST-AAL',
          current_level: 'nist-aal1',
          previous_level: 'nist-aal2',
          change_direction: 'decrease',
        },
      ),
    );
    show('carol read invoice, after', await check(client, { ...carolRead, min_sequence: lowered }));

    console.log('   IPSIE SL3: alice presents her session from a new IP; the gateway tells the IdP');
    await check(client, { ...aliceReadPhr, context: { ip: '203.0.113.50', user_agent: 'demo-browser' } });
    for (let i = 0; idp.received.length === 0; i++) {
      if (i > 200) throw new Error('the IdP received no SET');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const { payload, protectedHeader } = await jwtVerify(
      idp.received[0] ?? '',
      createRemoteJWKSet(new URL(`${origin}/ssf/v1/jwks`)),
      { issuer: origin, audience: idp.issuer, typ: 'secevent+jwt' },
    );
    const [eventType, event] = Object.entries(payload['events'] as Record<string, unknown>)[0] ?? [];
    console.log(
      `     the IdP received ${String(eventType).replace(CAEP, 'CAEP ')} ${JSON.stringify(event)}, signed ${protectedHeader.alg} kid ${protectedHeader.kid ?? '?'}, verified with ${origin}/ssf/v1/jwks`,
    );

    console.log(
      `\n6. Cut off from NATS for longer than the staleness bound (${STALE_AFTER_MS} ms), decisions fail closed`,
    );
    const aliceRead = aliceReadPhr;
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
    appServer?.close();
    await example?.close();
    client.close();
    await stopProcess(child);
    await stopProcess(gateway);
    await producer.close();
    await nats.dispose();
    await idp.stop();
    dir.remove();
  }
}

await main();
