/**
 * What Microsoft Entra ID's provisioning service sends (docs: "Tutorial: Develop and plan provisioning for a
 * SCIM endpoint", and the quirks of its default job), against a running gateway and sidecar on real NATS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { ScimClient, sequenceOf } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const TOKEN = 'entra-secret-for-acme';

let nats: NatsServer;
let gateway: TestGateway;
let sidecar: TestSidecar;
let scim: ScimClient;

beforeAll(async () => {
  nats = await NatsServer.start();
  gateway = await startTestGateway(nats.url, {
    acme: { display_name: 'Acme Corp', scim: { bearer_token_sha256: [sha256(TOKEN)] } },
  });
  sidecar = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } });
  await sidecar.sidecar.deployPolicy(await examplePolicy('acme'));
  scim = new ScimClient(gateway.origin, 'acme', TOKEN);
});

afterAll(async () => {
  await sidecar.stop();
  await gateway.stop();
  await nats.dispose();
});

const writeRepository = (userId: string, minSequence: number): CheckRequestMessage => ({
  tenant: 'acme',
  subject: { user_id: userId },
  action: { name: 'write' },
  resource: { type: 'repository', id: 'api' },
  min_sequence: minSequence,
});

function entraUser(userName: string, externalId: string): Record<string, unknown> {
  return {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
    externalId,
    userName,
    active: true,
    emails: [{ primary: true, type: 'work', value: userName }],
    meta: { resourceType: 'User' },
    name: { formatted: 'Alice Example', familyName: 'Example', givenName: 'Alice' },
    roles: [],
    [ENTERPRISE]: { department: 'R&D', employeeNumber: '1001' },
  };
}

interface GivenUser {
  readonly id: string;
  readonly userName: string;
  /** The stream sequence of the last write that made this user, for the next Check's min_sequence. */
  readonly sequence: number;
}

/** Creates a user the way Entra does; each test names its own, since userNames are unique per tenant. */
async function givenUser(name: string): Promise<GivenUser> {
  const r = await scim.post('/Users', entraUser(`${name}@acme.example`, `${name}-object-id`));
  expect(r.status).toBe(201);
  return { id: r.body?.['id'] as string, userName: `${name}@acme.example`, sequence: sequenceOf(r) };
}

/** The tenant's one "Engineering" group (the acme policy's developer role), created on first use: displayNames are unique per tenant. */
async function givenEngineering(): Promise<string> {
  const found = await scim.get(`/Groups?filter=${encodeURIComponent('displayName eq "Engineering"')}`);
  const existing = (found.body?.['Resources'] as { id: string }[] | undefined)?.[0];
  if (existing !== undefined) return existing.id;
  const created = await scim.post('/Groups', { schemas: [GROUP], displayName: 'Engineering', members: [] });
  expect(created.status).toBe(201);
  return created.body?.['id'] as string;
}

/** A user who holds the developer role through Engineering, and whom the sidecar knows as such. */
async function givenDeveloper(name: string): Promise<GivenUser & { readonly groupId: string }> {
  const user = await givenUser(name);
  const groupId = await givenEngineering();
  const r = await scim.patch(`/Groups/${groupId}`, [{ op: 'add', path: 'members', value: [{ value: user.id }] }]);
  expect(r.status).toBe(204);
  expect((await sidecar.tcp.check(writeRepository(user.id, sequenceOf(r)))).decision).toBe('DECISION_ALLOW');
  return { ...user, groupId, sequence: sequenceOf(r) };
}

describe('Microsoft Entra ID provisioning cycle', () => {
  it('looks the user up by userName first, and finds nothing (200, empty ListResponse)', async () => {
    const r = await scim.get(`/Users?filter=${encodeURIComponent('userName eq "not-yet@acme.example"')}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/scim\+json/);
    expect(r.body).toMatchObject({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      totalResults: 0,
      Resources: [],
    });
  });

  it('creates the user (201, id, ETag, Location, enterprise extension)', async () => {
    const r = await scim.post('/Users', entraUser('alice@acme.example', 'alice-object-id'));
    expect(r.status).toBe(201);
    const aliceId = r.body?.['id'] as string;
    expect(aliceId).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('etag')).toMatch(/^W\/"\d+"$/);
    expect(r.headers.get('location')).toBe(`${gateway.origin}/scim/v2/acme/Users/${aliceId}`);
    expect(r.body).toMatchObject({
      userName: 'alice@acme.example',
      active: true,
      externalId: 'alice-object-id',
      name: { givenName: 'Alice' },
      [ENTERPRISE]: { department: 'R&D', employeeNumber: '1001' },
      groups: [],
      meta: { resourceType: 'User', version: r.headers.get('etag') },
    });
    expect((r.body?.['schemas'] as string[]).sort()).toEqual(
      ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE].sort(),
    );
    // The sidecar knows the user as soon as it has applied the write.
    const check = await sidecar.tcp.check(writeRepository(aliceId, sequenceOf(r)));
    expect(check.reasons.map((x) => x.code)).toEqual(['POLICY_DENIED']); // no group yet
  });

  it('finds the user by externalId, by userName in another case, and by work e-mail', async () => {
    const finder = await givenUser('finder');
    for (const filter of [
      'externalId eq "finder-object-id"',
      'userName eq "FINDER@acme.example"',
      'emails[type eq "work"].value eq "finder@acme.example"',
      'emails[value eq "Finder@Acme.Example"]',
    ]) {
      const r = await scim.get(`/Users?filter=${encodeURIComponent(filter)}`);
      expect(r.body?.['totalResults'], filter).toBe(1);
      expect((r.body?.['Resources'] as { id: string }[])[0]?.id).toBe(finder.id);
    }
    // externalId is case-exact (RFC 7643): another case does not match.
    const r = await scim.get(`/Users?filter=${encodeURIComponent('externalId eq "FINDER-OBJECT-ID"')}`);
    expect(r.body?.['totalResults']).toBe(0);
  });

  it('PATCHes attributes the way the default Entra job does: capitalised ops, one per path', async () => {
    const { id: userId } = await givenUser('patched');
    const r = await scim.patch(`/Users/${userId}`, [
      { op: 'Replace', path: 'displayName', value: 'Alice A. Example' },
      { op: 'Add', path: 'emails[type eq "work"].value', value: 'alice.example@acme.example' },
      { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Platform' },
      { op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555 0100' },
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      displayName: 'Alice A. Example',
      emails: [{ type: 'work', value: 'alice.example@acme.example', primary: true }],
      phoneNumbers: [{ type: 'mobile', value: '+1 555 0100' }],
      [ENTERPRISE]: { department: 'Platform' },
    });
  });

  it('PATCHes with the newer flag: path-less replace whose keys are paths', async () => {
    const { id: userId } = await givenUser('flagged');
    const r = await scim.patch(`/Users/${userId}`, [
      { op: 'replace', value: { 'name.givenName': 'Alicia', [`${ENTERPRISE}:employeeNumber`]: '2002' } },
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      name: { givenName: 'Alicia', familyName: 'Example' },
      [ENTERPRISE]: { employeeNumber: '2002' },
    });
  });

  it("takes the enterprise manager as Entra sends it: the manager's id alone, or [{value: id}]", async () => {
    const { id: userId } = await givenUser('managed');
    const boss = await scim.post('/Users', { schemas: [USER], userName: 'boss@acme.example', active: true });
    const bossId = String(boss.body?.['id']);
    for (const value of [bossId, [{ value: bossId }], { value: bossId }]) {
      const r = await scim.patch(`/Users/${userId}`, [{ op: 'Add', path: `${ENTERPRISE}:manager`, value }]);
      expect(r.status).toBe(200);
      expect(r.body?.[ENTERPRISE]).toMatchObject({ manager: { value: bossId } });
    }
    const r = await scim.patch(`/Users/${userId}`, [{ op: 'Replace', path: `${ENTERPRISE}:manager`, value: [] }]);
    expect(r.status).toBe(400);
  });

  it('PATCHes the enterprise extension as a whole: add and replace its attributes, remove it', async () => {
    const { id: userId } = await givenUser('extended');
    const replaced = await scim.patch(`/Users/${userId}`, [
      { op: 'replace', path: ENTERPRISE, value: { costCenter: 'CC-7', division: 'Cloud' } },
    ]);
    expect(replaced.status).toBe(200);
    // The attributes not named are kept (RFC 7644 §3.5.2.3).
    expect(replaced.body?.[ENTERPRISE]).toMatchObject({
      costCenter: 'CC-7',
      division: 'Cloud',
      department: 'R&D',
    });
    const removed = await scim.patch(`/Users/${userId}`, [{ op: 'remove', path: ENTERPRISE }]);
    expect(removed.status).toBe(200);
    expect(removed.body?.[ENTERPRISE]).toBeUndefined();
    const added = await scim.patch(`/Users/${userId}`, [
      { op: 'add', path: ENTERPRISE.toLowerCase(), value: { department: 'Platform', schemas: [ENTERPRISE] } },
    ]);
    expect(added.status).toBe(200);
    expect(added.body?.[ENTERPRISE]).toEqual({ department: 'Platform' });
  });

  it('creates a group with the Entra group schema and empty members, then reads it without members', async () => {
    const created = await scim.post('/Groups', {
      schemas: [
        'urn:ietf:params:scim:schemas:core:2.0:Group',
        'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group',
      ],
      externalId: 'design-object-id',
      displayName: 'Design',
      members: [],
    });
    expect(created.status).toBe(201);
    const groupId = created.body?.['id'] as string;
    const found = await scim.get(
      `/Groups?filter=${encodeURIComponent('displayName eq "Design"')}&excludedAttributes=members`,
    );
    expect(found.body?.['totalResults']).toBe(1);
    const group = (found.body?.['Resources'] as Record<string, unknown>[])[0]!;
    expect(group['id']).toBe(groupId);
    expect(group).not.toHaveProperty('members');
  });

  it('adding the member (value array with $ref: null) grants the role in the next Check', async () => {
    const { id: userId } = await givenUser('joiner');
    const groupId = await givenEngineering();
    const r = await scim.patch(`/Groups/${groupId}`, [
      { op: 'Add', path: 'members', value: [{ $ref: null, value: userId }] },
    ]);
    expect(r.status).toBe(204);
    const check = await sidecar.tcp.check(writeRepository(userId, sequenceOf(r)));
    expect(check.decision).toBe('DECISION_ALLOW');
    const user = await scim.get(`/Users/${userId}`);
    expect(user.body?.['groups']).toEqual([
      {
        value: groupId,
        $ref: `${gateway.origin}/scim/v2/acme/Groups/${groupId}`,
        display: 'Engineering',
        type: 'direct',
      },
    ]);
  });

  it('removing the member the old Entra way (Remove, path members, value array) takes the role away', async () => {
    const { id: userId, groupId } = await givenDeveloper('leaver');
    const r = await scim.patch(`/Groups/${groupId}`, [{ op: 'Remove', path: 'members', value: [{ value: userId }] }]);
    expect(r.status).toBe(204);
    expect((await sidecar.tcp.check(writeRepository(userId, sequenceOf(r)))).decision).toBe('DECISION_DENY');
    const add = await scim.patch(`/Groups/${groupId}`, [{ op: 'add', path: 'members', value: [{ value: userId }] }]);
    expect((await sidecar.tcp.check(writeRepository(userId, sequenceOf(add)))).decision).toBe('DECISION_ALLOW');
  });

  it('deactivation ("False" as a string) denies at once, ends sessions, and tells WatchSessions', async () => {
    const { id: userId, userName } = await givenDeveloper('deactivated');
    const watch = sidecar.uds.watch({ tenant: 'acme', user_ids: [userId] });
    await watch.ready;
    const r = await scim.patch(`/Users/${userId}`, [{ op: 'Replace', path: 'active', value: 'False' }]);
    expect(r.status).toBe(200);
    expect(r.body?.['active']).toBe(false);
    const denied = await sidecar.tcp.check(writeRepository(userId, sequenceOf(r)));
    expect(denied.reasons.map((x) => x.code)).toEqual(['ACCOUNT_INACTIVE']);
    expect((await watch.next()).kind).toBe('SESSION_EVENT_KIND_USER_DEACTIVATED');
    expect((await watch.next()).kind).toBe('SESSION_EVENT_KIND_USER_SESSIONS_REVOKED');
    watch.cancel();
    // Still returned while inactive (Entra soft delete).
    const found = await scim.get(`/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
    expect((found.body?.['Resources'] as { active: boolean }[])[0]?.active).toBe(false);
  });

  it('reactivation restores access', async () => {
    const { id: userId } = await givenDeveloper('reactivated');
    const off = await scim.patch(`/Users/${userId}`, [{ op: 'Replace', path: 'active', value: 'False' }]);
    expect((await sidecar.tcp.check(writeRepository(userId, sequenceOf(off)))).decision).toBe('DECISION_DENY');
    const r = await scim.patch(`/Users/${userId}`, [{ op: 'replace', value: { active: true } }]);
    expect(r.body?.['active']).toBe(true);
    expect((await sidecar.tcp.check(writeRepository(userId, sequenceOf(r)))).decision).toBe('DECISION_ALLOW');
  });

  it('hard delete removes the user everywhere; the userName can be used again', async () => {
    const { id: userId } = await givenUser('deleted');
    const team = await scim.post('/Groups', {
      schemas: [GROUP],
      displayName: 'Deleted Team',
      members: [{ value: userId }],
    });
    expect(team.body?.['members']).toEqual([expect.objectContaining({ value: userId })]);
    const groupId = team.body?.['id'] as string;
    const r = await scim.delete(`/Users/${userId}`);
    expect(r.status).toBe(204);
    expect((await scim.get(`/Users/${userId}`)).status).toBe(404);
    const gone = await sidecar.tcp.check(writeRepository(userId, sequenceOf(r)));
    expect(gone.reasons.map((x) => x.code)).toEqual(['SUBJECT_UNKNOWN']);
    const group = await scim.get(`/Groups/${groupId}`);
    expect(group.body?.['members']).toEqual([]);

    const again = await scim.post('/Users', entraUser('deleted@acme.example', 'deleted-object-id-2'));
    expect(again.status).toBe(201);
    expect(again.body?.['id']).not.toBe(userId);
    expect(again.body?.['groups']).toEqual([]); // nothing inherited from the deleted user
  });

  it('serves the discovery endpoints', async () => {
    const config = await scim.get('/ServiceProviderConfig');
    expect(config.body).toMatchObject({
      patch: { supported: true },
      bulk: { supported: false },
      etag: { supported: true },
    });
    const types = await scim.get('/ResourceTypes');
    expect((types.body?.['Resources'] as { id: string }[]).map((t) => t.id)).toEqual(['User', 'Group']);
    const schemas = await scim.get('/Schemas');
    expect((schemas.body?.['Resources'] as { id: string }[]).map((s) => s.id)).toEqual([
      'urn:ietf:params:scim:schemas:core:2.0:User',
      ENTERPRISE,
      'urn:ietf:params:scim:schemas:core:2.0:Group',
    ]);
    const user = await scim.get('/Schemas/urn:ietf:params:scim:schemas:core:2.0:User');
    expect(
      (user.body?.['attributes'] as { name: string; uniqueness: string }[]).find((a) => a.name === 'userName'),
    ).toMatchObject({ required: true, uniqueness: 'server', caseExact: false });
  });
});
