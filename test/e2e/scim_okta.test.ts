/**
 * What Okta sends (developer docs "SCIM 2.0 reference" and its Runscope spec test), plus IPSIE AL1's OAuth
 * JWT client authentication, against a running gateway and sidecar on real NATS.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { structFromJson } from '../../src/check/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { ScimClient, sequenceOf } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';

const OKTA_TOKEN = 'okta-static-token-globex';
const ACME_TOKEN = 'acme-token';
const ISSUER = 'https://as.globex.example';
const AUDIENCE = 'https://sidecar.example/scim/v2/globex';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

let nats: NatsServer;
let gateway: TestGateway;
let sidecar: TestSidecar;
let okta: ScimClient;
let jwksServer: Server;
let signingKey: CryptoKey;

beforeAll(async () => {
  const { privateKey, publicKey } = await generateKeyPair('PS256');
  signingKey = privateKey;
  const jwk: JWK = { ...(await exportJWK(publicKey)), kid: 'as-key-1', alg: 'PS256', use: 'sig' };
  jwksServer = createServer((_request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;

  nats = await NatsServer.start();
  gateway = await startTestGateway(nats.url, {
    globex: {
      display_name: 'Globex',
      scim: {
        bearer_token_sha256: [sha256(OKTA_TOKEN)],
        oauth: { issuer: ISSUER, jwks_uri: jwksUri, audience: AUDIENCE },
      },
    },
    acme: { scim: { bearer_token_sha256: [sha256(ACME_TOKEN)] } },
  });
  sidecar = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } });
  await sidecar.sidecar.deployPolicy(await examplePolicy('globex'));
  okta = new ScimClient(gateway.origin, 'globex', OKTA_TOKEN);
});

afterAll(async () => {
  await sidecar.stop();
  await gateway.stop();
  await nats.dispose();
  jwksServer.close();
});

async function accessToken(claims: Record<string, unknown>, audience = AUDIENCE): Promise<string> {
  return await new SignJWT(claims)
    .setProtectedHeader({ alg: 'PS256', kid: 'as-key-1', typ: 'at+jwt' })
    .setIssuer(ISSUER)
    .setAudience(audience)
    .setSubject('okta-provisioning-client')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(signingKey);
}

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

/** Creates a user as Okta pushes one; each test names its own, since userNames are unique per tenant. */
async function givenUser(name: string, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await okta.post('/Users', {
    schemas: [USER],
    userName: `${name}@globex.example`,
    emails: [{ primary: true, value: `${name}@globex.example`, type: 'work' }],
    active: true,
    ...extra,
  });
  expect(r.status).toBe(201);
  return r.body?.['id'] as string;
}

/** The number of users of the tenant now, as the paging tests' baseline (other tests add users too). */
async function userCount(): Promise<number> {
  return (await okta.get('/Users?count=0')).body?.['totalResults'] as number;
}

describe('Okta provisioning', () => {
  it('looks up before creating, with startIndex and count', async () => {
    const r = await okta.get(
      `/Users?filter=${encodeURIComponent('userName eq "not-yet@globex.example"')}&startIndex=1&count=100`,
    );
    expect(r.body).toMatchObject({ totalResults: 0, startIndex: 1, itemsPerPage: 0 });
  });

  it('creates a user with a password it never stores or returns', async () => {
    const r = await okta.post('/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'erin@globex.example',
      name: { givenName: 'Erin', familyName: 'Engineer' },
      emails: [{ primary: true, value: 'erin@globex.example', type: 'work' }],
      displayName: 'Erin Engineer',
      locale: 'en-US',
      externalId: '00u1erin',
      groups: [],
      password: 'sup3r-secret!',
      active: true,
      title: 'Engineer',
      userType: 'Employee',
    });
    expect(r.status).toBe(201);
    expect(r.body).not.toHaveProperty('password');
    expect(JSON.stringify(gateway.gateway.store.user('globex', r.body?.['id'] as string))).not.toContain('sup3r');
  });

  it('updates the profile with PUT after a GET, as OIN integrations do', async () => {
    const userId = await givenUser('promoted', {
      name: { givenName: 'Pat', familyName: 'Promoted' },
      title: 'Engineer',
    });
    const current = await okta.get(`/Users/${userId}`);
    const etag = current.headers.get('etag') ?? '';
    const body: Record<string, unknown> = {
      ...current.body,
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
      [ENTERPRISE]: { department: 'R&D' },
      title: 'Manager',
    };
    const r = await okta.put(`/Users/${userId}`, body, { 'if-match': etag });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ title: 'Manager', [ENTERPRISE]: { department: 'R&D' } });
    expect(r.headers.get('etag')).not.toBe(etag);
    // The attributes reach policy: globex lets R&D managers write R&D documents.
    const check = await sidecar.tcp.check({
      tenant: 'globex',
      subject: { user_id: userId },
      action: { name: 'write' },
      resource: { type: 'document', properties: structFromJson({ department: 'R&D' }) },
      min_sequence: sequenceOf(r),
    });
    expect(check.decision).toBe('DECISION_ALLOW');
  });

  it('pushes a group, renames it and changes members in one PATCH', async () => {
    const erinId = await givenUser('grouped-erin');
    const created = await okta.post('/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'Platform',
      members: [{ value: erinId, display: 'grouped-erin@globex.example' }],
    });
    expect(created.status).toBe(201);
    const groupId = created.body?.['id'] as string;
    expect(created.body?.['members']).toMatchObject([
      { value: erinId, display: 'grouped-erin@globex.example', type: 'User' },
    ]);
    const frankId = await givenUser('frank', { name: { givenName: 'Frank', familyName: 'F' } });
    const r = await okta.patch(`/Groups/${groupId}`, [
      { op: 'replace', value: { id: groupId, displayName: 'Platform Team' } },
      { op: 'remove', path: `members[value eq "${erinId}"]` },
      { op: 'add', path: 'members', value: [{ value: frankId, display: 'frank@globex.example' }] },
    ]);
    expect(r.status).toBe(204);
    const group = await okta.get(`/Groups/${groupId}`);
    expect(group.body).toMatchObject({ displayName: 'Platform Team', members: [{ value: frankId }] });
  });

  it('deactivates with a path-less replace', async () => {
    const userId = await givenUser('deactivated');
    const r = await okta.patch(`/Users/${userId}`, [{ op: 'replace', value: { active: false } }]);
    expect(r.body?.['active']).toBe(false);
    const check = await sidecar.tcp.check({
      tenant: 'globex',
      subject: { user_id: userId },
      action: { name: 'read' },
      resource: { type: 'document', properties: structFromJson({ department: 'R&D' }) },
      min_sequence: sequenceOf(r),
    });
    expect(check.reasons.map((x) => x.code)).toEqual(['ACCOUNT_INACTIVE']);
  });

  it('imports with stable pages of users and groups', async () => {
    const before = await userCount();
    const total = before + 5;
    for (let i = 0; i < 5; i++) {
      await okta.post('/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: `bulk${i}@globex.example`,
        active: true,
      });
    }
    const all = await okta.get('/Users?startIndex=1&count=100');
    const ids = (all.body?.['Resources'] as { id: string }[]).map((u) => u.id);
    expect(all.body?.['totalResults']).toBe(total);
    const pages = [];
    for (let start = 1; start <= total; start += 3) {
      const page = await okta.get(`/Users?startIndex=${start}&count=3`);
      expect(page.body).toMatchObject({ startIndex: start, totalResults: total });
      pages.push(...(page.body?.['Resources'] as { id: string }[]).map((u) => u.id));
    }
    expect(pages).toEqual(ids);
    expect((await okta.get('/Users?count=1&startIndex=1')).body).toMatchObject({ itemsPerPage: 1 });
    const groupsBefore = (await okta.get('/Groups?count=0')).body?.['totalResults'] as number;
    const imported = await okta.post('/Groups', { schemas: [GROUP], displayName: 'Imported', members: [] });
    const groups = await okta.get('/Groups?startIndex=1&count=100');
    expect(groups.body?.['totalResults']).toBe(groupsBefore + 1);
    expect((groups.body?.['Resources'] as { id: string }[]).map((g) => g.id)).toContain(imported.body?.['id']);
  });

  it('supports attributes, excludedAttributes and POST .search', async () => {
    const erinId = await givenUser('erin-selected', {
      schemas: [USER, ENTERPRISE],
      name: { givenName: 'Erin', familyName: 'Engineer' },
      [ENTERPRISE]: { department: 'R&D' },
    });
    const only = await okta.get(`/Users/${erinId}?attributes=userName,name.givenName`);
    expect(only.body).toEqual({
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
      id: erinId,
      userName: 'erin-selected@globex.example',
      name: { givenName: 'Erin' },
    });
    const without = await okta.get(`/Users/${erinId}?excludedAttributes=emails,meta`);
    expect(without.body).not.toHaveProperty('emails');
    expect(without.body).toHaveProperty('userName');
    for (let i = 0; i < 5; i++) await givenUser(`searched${i}`);
    await okta.patch(`/Users/${await givenUser('searched-inactive')}`, [{ op: 'replace', value: { active: false } }]);
    const search = await okta.post('/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: 'userName sw "searched" and active eq true',
      count: 2,
    });
    expect(search.body).toMatchObject({ totalResults: 5, itemsPerPage: 2 });
  });
});

describe('authentication', () => {
  it("accepts an OAuth access token with scope scim from the tenant's AS (RFC 7523 flow)", async () => {
    const client = new ScimClient(gateway.origin, 'globex', await accessToken({ scope: 'scim' }));
    expect((await client.get('/Users?count=1')).status).toBe(200);
  });

  it.each([
    ['without the scim scope', { scope: 'openid profile' }, AUDIENCE],
    ['for another audience', { scope: 'scim' }, 'https://elsewhere.example'],
  ])('refuses an access token %s', async (_name, claims, audience) => {
    const client = new ScimClient(gateway.origin, 'globex', await accessToken(claims, audience));
    const r = await client.get('/Users');
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '401' });
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('a credential of one tenant is refused by another, and an unknown tenant looks the same', async () => {
    expect((await new ScimClient(gateway.origin, 'acme', OKTA_TOKEN).get('/Users')).status).toBe(401);
    expect((await new ScimClient(gateway.origin, 'globex', ACME_TOKEN).get('/Users')).status).toBe(401);
    expect((await new ScimClient(gateway.origin, 'initech', ACME_TOKEN).get('/Users')).status).toBe(401);
    expect((await new ScimClient(gateway.origin, 'globex', undefined).get('/Users')).status).toBe(401);
    expect((await new ScimClient(gateway.origin, 'acme', ACME_TOKEN).get('/Users')).status).toBe(200);
  });

  it('keeps tenants apart: an id of one tenant is unknown in another', async () => {
    const created = await okta.post('/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'apart@globex.example',
      active: true,
    });
    expect(created.status).toBe(201);
    const id = created.body?.['id'] as string;
    const r = await new ScimClient(gateway.origin, 'acme', ACME_TOKEN).get(`/Users/${id}`);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '404' });
  });
});
