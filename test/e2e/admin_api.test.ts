import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { FakeIdp } from '../harness/fake_idp.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { ScimClient } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';

let nats: NatsServer;
let idp: FakeIdp;
let gateway: TestGateway;
let sidecar: TestSidecar;
let userId: string;
let sessionId: string;

const admin = async (
  tenant: string,
  token: string,
  path: string,
): Promise<{ status: number; body: Record<string, unknown> }> => {
  const response = await fetch(`${gateway.origin}/admin/v1/${tenant}/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  idp = await FakeIdp.start();
  nats = await NatsServer.start();
  const tenants = {
    acme: {
      scim: { bearer_token_sha256: [sha256('scim')] },
      admin: { bearer_token_sha256: [sha256('acme-admin')] },
      idps: [{ issuer: idp.issuer, client_id: 'app', jwks_uri: idp.jwksUri, link: { claim: 'oid', to: 'externalId' } }],
    },
    globex: { admin: { bearer_token_sha256: [sha256('globex-admin')] } },
  };
  gateway = await startTestGateway(nats.url, tenants);
  sidecar = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url }, tenants });
  await sidecar.sidecar.deployPolicy(await examplePolicy('acme'));
  const scim = new ScimClient(gateway.origin, 'acme', 'scim');
  const user = await scim.post('/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: 'bob@acme.example',
    externalId: 'oid-bob',
  });
  userId = user.body?.['id'] as string;
  await scim.post('/Groups', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
    displayName: 'Engineering',
    members: [{ value: userId }],
  });
  const signIn = await sidecar.tcp.startSession({
    tenant: 'acme',
    id_token: await idp.idToken('sub-bob', 'app', {
      oid: 'oid-bob',
      auth_time: Math.floor(Date.now() / 1000) - 5,
      nonce: 'n-first',
    }),
    nonce: 'n-first',
  });
  sessionId = signIn.session_id;
});

afterAll(async () => {
  await sidecar.stop();
  await gateway.stop();
  await nats.dispose();
  await idp.stop();
});

const check = (minSequence: number | string): CheckRequestMessage => ({
  tenant: 'acme',
  subject: { session_id: sessionId },
  action: { name: 'write' },
  resource: { type: 'repository' },
  min_sequence: minSequence,
});

describe('admin API', () => {
  it('forces re-authentication (IPSIE SL2): the session steps up until a fresh sign-in', async () => {
    expect((await sidecar.tcp.check(check(0))).decision).toBe('DECISION_ALLOW');
    const forced = await admin('acme', 'acme-admin', `users/${userId}/reauthenticate`);
    expect(forced.status).toBe(202);
    const response = await sidecar.tcp.check(check(forced.body['sequence'] as number));
    expect(response.decision).toBe('DECISION_STEP_UP');
    expect(response.reasons.map((r) => r.code)).toEqual(['REAUTHENTICATION_REQUIRED']);
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // auth_time has 1 s resolution
    const fresh = await sidecar.tcp.startSession({
      tenant: 'acme',
      id_token: await idp.idToken('sub-bob', 'app', { auth_time: Math.floor(Date.now() / 1000), nonce: 'n-fresh' }),
      nonce: 'n-fresh',
    });
    sessionId = fresh.session_id;
    expect((await sidecar.tcp.check(check(fresh.sequence))).decision).toBe('DECISION_ALLOW');
  });

  it('revokes every session of the user at once', async () => {
    const revoked = await admin('acme', 'acme-admin', `users/${userId}/sessions/revoke`);
    expect(revoked.status).toBe(202);
    const response = await sidecar.tcp.check(check(revoked.body['sequence'] as number));
    expect(response.reasons.map((r) => r.code)).toEqual(['SESSION_REVOKED']);
  });

  it("refuses other tenants' and missing credentials, and unknown users, as problem details", async () => {
    expect(await admin('acme', 'globex-admin', `users/${userId}/reauthenticate`)).toMatchObject({
      status: 401,
      body: { code: 'ERR_ADMIN_UNAUTHORIZED', status: 401 },
    });
    expect((await admin('acme', 'scim', `users/${userId}/reauthenticate`)).status).toBe(401);
    expect(await admin('acme', 'acme-admin', 'users/nobody/reauthenticate')).toMatchObject({
      status: 404,
      body: { code: 'ERR_ADMIN_NOT_FOUND' },
    });
    // A tenant's admin cannot act on another tenant's user.
    expect((await admin('globex', 'globex-admin', `users/${userId}/reauthenticate`)).status).toBe(404);
  });
});
