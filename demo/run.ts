/**
 * The demo (`npm run demo`): provisions the example tenants into a fresh
 * store, starts the real `ipsie-sidecar sidecar` process (which compiles each
 * tenant's Rego to Wasm with opa), then runs a scripted series of Checks over
 * the Unix socket and prints each decision with its reasons.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServiceError } from '@grpc/grpc-js';
import { createAuthorizationClient, errorReasonOf, structFromJson } from '../src/check/index.js';
import type {
  AuthorizationClient,
  BatchCheckRequestMessage,
  BatchCheckResponseMessage,
  CheckRequestMessage,
  CheckResponseMessage,
} from '../src/check/index.js';
import { EntitlementStore } from '../src/store/index.js';
import { ACME, GLOBEX, provisionExampleTenants } from './example_directory.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const now = (): number => Math.floor(Date.now() / 1000);

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

function waitForReady(client: AuthorizationClient, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + ms, (error) => {
      if (error === undefined) resolve();
      else reject(error);
    });
  });
}

const pad = (s: string, n: number): string => (s.length >= n ? s : s + ' '.repeat(n - s.length));

function show(what: string, response: Pick<CheckResponseMessage, 'decision' | 'reasons' | 'step_up'>): void {
  const decision = response.decision.replace('DECISION_', '');
  const reasons = response.reasons.map((r) => r.code).join(', ');
  const stepUp =
    response.step_up === null
      ? ''
      : `  step-up: acr_values=[${response.step_up.acr_values.join(' ')}]` +
        (response.step_up.max_age === undefined ? '' : ` max_age=${response.step_up.max_age}`);
  console.log(`  ${pad(what, 62)} ${pad(decision, 8)} ${reasons}${stepUp}`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'ipsie-demo-'));
  const storePath = join(dir, 'sidecar.db');
  const socket = join(dir, 'check.sock');
  const t = now();

  console.log('1. Provisioning the example tenants (as their IdPs would: users, groups, memberships)');
  const store = EntitlementStore.open(storePath);
  provisionExampleTenants(store);
  const alice = ACME.people['alice']!;
  const bob = ACME.people['bob']!;
  const carol = ACME.people['carol']!;
  const erin = GLOBEX.people['erin']!;
  const frank = GLOBEX.people['frank']!;
  const grace = GLOBEX.people['grace']!;
  const session = (
    tenantId: string,
    id: string,
    userId: string,
    acr: string,
    amr: string[],
    deviceId?: string,
  ): void => {
    store.upsertSession({
      tenantId,
      id,
      userId,
      issuer: 'https://idp.example',
      acr,
      amr,
      authTime: t - 120,
      expiresAt: t + 3600,
      createdAt: t - 120,
      revokedAt: undefined,
      revokeReason: undefined,
      ip: '198.51.100.7',
      deviceId,
    });
  };
  session('acme', 'sess-alice-pwd', alice.id, 'urn:okta:loa:1fa:pwd', ['pwd']);
  session('acme', 'sess-alice-phr', alice.id, 'phr', ['hwk', 'mfa']);
  session('acme', 'sess-carol', carol.id, 'urn:okta:loa:2fa:any', ['pwd', 'otp']);
  session('globex', 'sess-erin', erin.id, 'phr', ['hwk'], 'laptop-erin');
  for (const tenant of [ACME, GLOBEX]) {
    console.log(
      `   ${tenant.id}: ${Object.values(tenant.people)
        .map((p) => `${p.userName} [${p.groups.join(', ')}]`)
        .join('; ')}`,
    );
  }

  console.log("\n2. Starting `ipsie-sidecar sidecar` (compiles each tenant's Rego to Wasm with opa build -t wasm)");
  const child = spawn(process.execPath, [join(ROOT, 'dist/main.js'), 'sidecar'], {
    env: {
      ...process.env,
      IPSIE_STORE_PATH: storePath,
      IPSIE_GRPC_ADDRESS: '',
      IPSIE_GRPC_SOCKET: socket,
      IPSIE_TENANT_POLICY_DIR: join(ROOT, 'policies/examples'),
      IPSIE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const client = createAuthorizationClient(`unix:${socket}`);
  try {
    await waitForReady(client, 30_000);
    // The socket opens once every tenant's policy is compiled and loaded.
    console.log(`   listening on unix:${socket}`);

    const doc = (properties: Record<string, unknown>): NonNullable<CheckRequestMessage['resource']> => ({
      type: 'document',
      id: 'doc-42',
      properties: structFromJson(properties),
    });

    console.log('\n3. Checks');
    console.log('   acme — RBAC: roles from Entra groups; irreversible actions need phishing-resistant MFA');
    show(
      'bob (Engineering) write repository',
      await check(client, {
        tenant: 'acme',
        subject: { user_id: bob.id },
        action: { name: 'write' },
        resource: { type: 'repository', id: 'api' },
      }),
    );
    show(
      'bob (Engineering) pay invoice',
      await check(client, {
        tenant: 'acme',
        subject: { user_id: bob.id },
        action: { name: 'pay' },
        resource: { type: 'invoice', id: 'inv-1' },
      }),
    );
    show(
      'alice (Eng Leads) approve deployment, password session',
      await check(client, {
        tenant: 'acme',
        subject: { session_id: 'sess-alice-pwd' },
        action: { name: 'approve' },
        resource: { type: 'deployment', id: 'd-9' },
      }),
    );
    show(
      'alice (Eng Leads) approve deployment, phishing-resistant',
      await check(client, {
        tenant: 'acme',
        subject: { session_id: 'sess-alice-phr' },
        action: { name: 'approve' },
        resource: { type: 'deployment', id: 'd-9' },
      }),
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
    const confidential = {
      tenant: 'globex',
      subject: { session_id: 'sess-erin' },
      action: { name: 'read' },
      resource: doc({ department: 'R&D', classification: 'confidential' }),
    };
    show('erin read confidential, device posture unknown', await check(client, confidential));
    store.setPosture({
      tenantId: 'globex',
      kind: 'device',
      subjectId: 'laptop-erin',
      state: { compliant: true },
      updatedAt: now(),
    });
    show('   ...after MDM reports laptop-erin compliant', await check(client, confidential));
    show(
      'alice of acme asking globex (tenant isolation)',
      await check(client, { tenant: 'globex', subject: { user_id: alice.id }, ...sameRequest }),
    );

    const batch = await batchCheck(client, {
      tenant: 'globex',
      subject: { user_id: frank.id },
      items: ['read', 'write', 'export', 'delete'].map((name) => ({
        action: { name },
        resource: doc({ department: 'R&D' }),
      })),
    });
    console.log(`   BatchCheck frank (R&D Manager), one snapshot, policy ${batch.policy_version}:`);
    ['read', 'write', 'export', 'delete'].forEach((name, i) => {
      const result = batch.results[i];
      if (result !== undefined) show(`   ${name} R&D document`, result);
    });

    console.log('\n4. Lifecycle: the IdP deactivates bob');
    store.upsertUser({
      tenantId: 'acme',
      id: bob.id,
      userName: bob.userName,
      externalId: 'bob',
      active: false,
      attributes: bob.attributes,
      roles: [],
    });
    show(
      'bob write repository',
      await check(client, {
        tenant: 'acme',
        subject: { user_id: bob.id },
        action: { name: 'write' },
        resource: { type: 'repository', id: 'api' },
      }),
    );

    console.log('\n5. A bad request gets a gRPC status with a stable reason');
    try {
      await check(client, {
        tenant: '',
        subject: { user_id: bob.id },
        action: { name: 'read' },
        resource: { type: 'repository' },
      });
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
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
