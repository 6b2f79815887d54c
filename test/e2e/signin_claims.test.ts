/**
 * What the IdP owns, taken from its tokens at every sign-in: roles from its
 * group claim (IPSIE AL2), and the profile of a user provisioned at sign-in
 * (IPSIE IL1) - while a SCIM-provisioned user's profile stays SCIM's.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAuditStream } from '../../src/audit/index.js';
import { jitUserId } from '../../src/session/index.js';
import { change, user } from '../harness/changes.js';
import { FakeIdp } from '../harness/fake_idp.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const CLIENT_ID = 'acme-app';
let nats: NatsServer;
let producer: TestProducer;
let idp: FakeIdp;
let t: TestSidecar;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await ensureAuditStream(producer.jsm);
  idp = await FakeIdp.start();
  await producer.publishAll([
    change('acme', 'tenant.upsert', { display_name: 'Acme' }),
    user('acme', 'scim-dee', { user_name: 'dee@acme.example', attributes: { displayName: 'Dee (HR)' } }),
  ]);
  t = await startTestSidecar({
    env: { IPSIE_NATS_URL: nats.url },
    tenants: {
      acme: {
        jit_provisioning: true,
        idps: [
          {
            issuer: idp.issuer,
            client_id: CLIENT_ID,
            jwks_uri: idp.jwksUri,
            link: { claim: 'email', to: 'userName' },
            roles: { claim: 'groups', map: { 'grp-approvers': 'approver', 'grp-devs': 'developer' } },
          },
        ],
      },
    },
  });
});

afterAll(async () => {
  await t.stop();
  await idp.stop();
  await producer.close();
  await nats.dispose();
});

async function signIn(sub: string, claims: Record<string, unknown>): Promise<string> {
  const nonce = randomUUID();
  const started = await t.tcp.startSession({
    tenant: 'acme',
    id_token: await idp.idToken(sub, CLIENT_ID, { nonce, ...claims }),
    nonce,
  });
  await t.sidecar.ingestor?.waitForSequence(Number(started.sequence), 10_000);
  return started.user_id;
}

describe('sign-in takes what the IdP owns', () => {
  it("roles follow the IdP's group claim at every sign-in; unmapped groups grant nothing", async () => {
    const id = await signIn('sub-ann', { groups: ['grp-approvers', 'grp-devs', 'grp-unknown'] });
    expect(t.sidecar.store.user('acme', id)?.roles).toEqual(['approver', 'developer']);
    // The IdP removed her from the approvers: the next sign-in says so, and the role is gone.
    await signIn('sub-ann', { groups: ['grp-devs'] });
    expect(t.sidecar.store.user('acme', id)?.roles).toEqual(['developer']);
    await signIn('sub-ann', { groups: 'grp-approvers' });
    expect(t.sidecar.store.user('acme', id)?.roles).toEqual(['approver']);
    await signIn('sub-ann', {});
    expect(t.sidecar.store.user('acme', id)?.roles).toEqual([]);
  });

  it('a user provisioned at sign-in gets the profile of each later sign-in', async () => {
    const id = await signIn('sub-bo', { name: 'Bo Jones', given_name: 'Bo', family_name: 'Jones' });
    expect(id).toBe(jitUserId('acme', idp.issuer, 'sub-bo'));
    expect(t.sidecar.store.user('acme', id)?.attributes).toMatchObject({ displayName: 'Bo Jones' });
    await signIn('sub-bo', { name: 'Bo Smith', given_name: 'Bo', family_name: 'Smith' });
    expect(t.sidecar.store.user('acme', id)?.attributes).toMatchObject({
      displayName: 'Bo Smith',
      name: { givenName: 'Bo', familyName: 'Smith' },
    });
  });

  it("a SCIM-provisioned user's profile stays SCIM's: only the roles come from the token", async () => {
    const id = await signIn('sub-dee', {
      email: 'dee@acme.example',
      email_verified: true,
      name: 'Somebody Else',
      groups: ['grp-devs'],
    });
    expect(id).toBe('scim-dee');
    expect(t.sidecar.store.user('acme', id)).toMatchObject({
      attributes: { displayName: 'Dee (HR)' },
      roles: ['developer'],
    });
  });
});
