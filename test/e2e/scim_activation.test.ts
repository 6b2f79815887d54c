/**
 * Nothing but an explicit `active: true` (or Entra's "True") activates a
 * deactivated user: every other PUT and PATCH form leaves the account
 * inactive, all the way to the sidecar's decision.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { structFromJson } from '../../src/check/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { ScimClient } from '../harness/scim_client.js';
import type { ScimResponse } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const TOKEN = 'globex-token';

let nats: NatsServer;
let producer: TestProducer;
let gateway: TestGateway;
let sidecar: TestSidecar;
let scim: ScimClient;
/** The stream sequence of the latest write, for Checks that must see it. */
let lastWrite = 0;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  gateway = await startTestGateway(nats.url, { globex: { scim: { bearer_token_sha256: [sha256(TOKEN)] } } });
  sidecar = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } });
  await sidecar.sidecar.deployPolicy(await examplePolicy('globex'));
  scim = new ScimClient(gateway.origin, 'globex', TOKEN);
}, 120_000);

afterAll(async () => {
  await sidecar.stop();
  await gateway.stop();
  await producer.close();
  await nats.dispose();
});

async function write(request: Promise<ScimResponse>): Promise<ScimResponse> {
  const response = await request;
  const sequence = response.headers.get('x-ipsie-sequence');
  if (sequence !== null) lastWrite = Number(sequence);
  return response;
}

/** globex lets R&D members read R&D documents: ALLOW while active. */
async function decision(userId: string): Promise<string[]> {
  const check = await sidecar.tcp.check({
    tenant: 'globex',
    subject: { user_id: userId },
    action: { name: 'read' },
    resource: { type: 'document', properties: structFromJson({ department: 'R&D' }) },
    min_sequence: lastWrite,
  });
  return [check.decision, ...check.reasons.map((r) => r.code)];
}

const profile = (userName: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  schemas: [USER_SCHEMA, ENTERPRISE],
  userName,
  title: 'Engineer',
  [ENTERPRISE]: { department: 'R&D' },
  ...extra,
});

/** A user the IdP deactivated the way Entra does (`"False"`), checked DENY. */
async function deactivatedUser(userName: string): Promise<string> {
  const created = await write(scim.post('/Users', profile(userName, { active: true })));
  const id = created.body?.['id'] as string;
  expect((await decision(id))[0]).toBe('DECISION_ALLOW');
  const off = await write(scim.patch(`/Users/${id}`, [{ op: 'Replace', path: 'active', value: 'False' }]));
  expect(off.body?.['active']).toBe(false);
  expect(await decision(id)).toEqual(['DECISION_DENY', 'ACCOUNT_INACTIVE']);
  return id;
}

async function expectInactive(id: string): Promise<void> {
  expect((await scim.get(`/Users/${id}`)).body?.['active']).toBe(false);
  expect(gateway.gateway.store.userActive('globex', id)).toBe(false);
  expect(await decision(id)).toEqual(['DECISION_DENY', 'ACCOUNT_INACTIVE']);
}

async function expectActive(id: string): Promise<void> {
  expect((await scim.get(`/Users/${id}`)).body?.['active']).toBe(true);
  expect(gateway.gateway.store.userActive('globex', id)).toBe(true);
  expect((await decision(id))[0]).toBe('DECISION_ALLOW');
}

describe('a deactivated user stays inactive unless the IdP says active: true', () => {
  it('PATCH remove active leaves it inactive', async () => {
    const id = await deactivatedUser('remove@globex.example');
    const r = await write(scim.patch(`/Users/${id}`, [{ op: 'remove', path: 'active' }]));
    expect(r).toMatchObject({ status: 200, body: { active: false } });
    await expectInactive(id);
  });

  it('PATCH replace active with null leaves it inactive (null is unassigned, RFC 7644 §3.5.2)', async () => {
    const id = await deactivatedUser('null@globex.example');
    await write(scim.patch(`/Users/${id}`, [{ op: 'replace', path: 'active', value: null }]));
    await write(scim.patch(`/Users/${id}`, [{ op: 'replace', value: { active: null, title: 'Lead' } }]));
    await expectInactive(id);
  });

  it('a PUT without active (a profile update) keeps it inactive', async () => {
    const id = await deactivatedUser('put@globex.example');
    const r = await write(scim.put(`/Users/${id}`, profile('put@globex.example', { title: 'Lead' })));
    expect(r).toMatchObject({ status: 200, body: { active: false, title: 'Lead' } });
    await expectInactive(id);
  });

  it('a PUT with active: null keeps it inactive', async () => {
    const id = await deactivatedUser('put-null@globex.example');
    await write(scim.put(`/Users/${id}`, profile('put-null@globex.example', { active: null, title: 'Lead' })));
    await expectInactive(id);
  });

  it('a PATCH of other attributes keeps it inactive', async () => {
    const id = await deactivatedUser('other@globex.example');
    await write(
      scim.patch(`/Users/${id}`, [
        { op: 'replace', path: 'title', value: 'Lead' },
        { op: 'add', path: 'nickName', value: 'o' },
      ]),
    );
    await expectInactive(id);
  });

  it.each([
    ['"yes"', 'yes'],
    ['"1"', '1'],
    ['1', 1],
    ['""', ''],
    ['" true"', ' true'],
    ['"truE\\u0000"', 'truE\u0000'],
    ['[true]', [true]],
    ['{"value": true}', { value: true }],
  ])('active: %s is 400 invalidValue and publishes nothing', async (_name, value) => {
    const id = await deactivatedUser(`bad-${Math.random().toString(36).slice(2)}@globex.example`);
    const before = await producer.lastSequence();
    for (const request of [
      scim.patch(`/Users/${id}`, [{ op: 'replace', path: 'active', value }]),
      scim.patch(`/Users/${id}`, [{ op: 'replace', value: { active: value } }]),
      scim.put(`/Users/${id}`, profile('x@globex.example', { active: value })),
    ]) {
      expect(await request).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    }
    expect(await producer.lastSequence()).toBe(before);
    await expectInactive(id);
  });

  it.each([
    ['Entra: Replace active "True"', [{ op: 'Replace', path: 'active', value: 'True' }]],
    ['Okta: path-less replace {active: true}', [{ op: 'replace', value: { active: true } }]],
    ['add active true', [{ op: 'add', path: 'active', value: true }]],
  ])('only an explicit true activates: %s', async (_name, operations) => {
    const id = await deactivatedUser(`on-${Math.random().toString(36).slice(2)}@globex.example`);
    const r = await write(scim.patch(`/Users/${id}`, operations));
    expect(r.body?.['active']).toBe(true);
    await expectActive(id);
  });

  it('a PUT with active: true activates', async () => {
    const id = await deactivatedUser('put-on@globex.example');
    await write(scim.put(`/Users/${id}`, profile('put-on@globex.example', { active: true })));
    await expectActive(id);
  });
});

describe('an active user', () => {
  it('is deactivated, sessions revoked, by PATCH remove active (an unassigned active is not active)', async () => {
    const created = await write(scim.post('/Users', profile('unassigned@globex.example', { active: true })));
    const id = created.body?.['id'] as string;
    const before = await producer.lastSequence();
    const r = await write(scim.patch(`/Users/${id}`, [{ op: 'remove', path: 'active' }]));
    expect(r.body?.['active']).toBe(false);
    await expectInactive(id);
    const kinds = [];
    for (let seq = before + 1; seq <= (await producer.lastSequence()); seq++) {
      const message = await producer.jsm.streams.getMessage('IPSIE_STATE', { seq });
      if (message !== null) kinds.push(message.json<{ kind: string }>().kind);
    }
    expect(kinds).toEqual(['user.deactivate', 'user.sessions_revoke']);
  });

  it('keeps being active through a PUT without active (the attribute is left as it is)', async () => {
    const created = await write(scim.post('/Users', profile('kept@globex.example', { active: true })));
    const id = created.body?.['id'] as string;
    await write(scim.put(`/Users/${id}`, profile('kept@globex.example', { title: 'Lead' })));
    await expectActive(id);
  });

  it('is created active when a POST leaves active out', async () => {
    const created = await write(scim.post('/Users', profile('new@globex.example')));
    await expectActive(created.body?.['id'] as string);
  });
});
