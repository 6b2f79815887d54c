import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { change } from '../harness/changes.js';
import { sha256, spawnGatewayProcess } from '../harness/gateway.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { ScimClient } from '../harness/scim_client.js';
import type { ScimResponse } from '../harness/scim_client.js';
import { TestProducer } from '../harness/stream.js';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PARALLEL = 20;
const TENANTS = {
  acme: { scim: { bearer_token_sha256: [sha256('t')] } },
  globex: { scim: { bearer_token_sha256: [sha256('t2')] } },
};

let nats: NatsServer;
let producer: TestProducer;
let gateways: GatewayProcess[] = [];
/** One client per gateway process; request i goes to clients[i % 2]. */
let clients: ScimClient[];

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  // Written before name claims existed (as an earlier gateway did): the gateways must claim them at start.
  await producer.publishAll([
    change('acme', 'tenant.upsert', { display_name: 'Acme' }),
    change('acme', 'user.upsert', {
      id: 'legacy-user',
      user_name: 'ÅSA@acme.example',
      external_id: null,
      active: true,
      attributes: {},
      roles: [],
    }),
    change('acme', 'group.upsert', { id: 'legacy-group', display_name: 'Ärzte', external_id: null }),
  ]);
  gateways = await Promise.all([spawnGatewayProcess(nats.url, TENANTS), spawnGatewayProcess(nats.url, TENANTS)]);
  clients = gateways.map((g) => new ScimClient(g.origin, 'acme', 't'));
}, 120_000);

afterAll(async () => {
  await Promise.all(
    gateways.map(async (g) => {
      await g.stop();
    }),
  );
  await producer.close();
  await nats.dispose();
});

const client = (i: number): ScimClient => clients[i % clients.length]!;

/** Runs `PARALLEL` requests at once, alternating between the two gateway processes. */
async function race(request: (scim: ScimClient, i: number) => Promise<ScimResponse>): Promise<ScimResponse[]> {
  return await Promise.all(Array.from({ length: PARALLEL }, async (_, i) => await request(client(i), i)));
}

/** Exactly one request succeeded with `status`; every other one is 409 `uniqueness`. */
function expectOneWinner(responses: readonly ScimResponse[], status: number): void {
  const outcomes = responses.map((r) =>
    `${r.status} ${typeof r.body?.['scimType'] === 'string' ? r.body['scimType'] : ''}`.trim(),
  );
  expect(outcomes.filter((o) => o === String(status))).toHaveLength(1);
  expect(outcomes.filter((o) => o !== String(status))).toEqual(Array(PARALLEL - 1).fill('409 uniqueness'));
}

async function usersNamed(userName: string): Promise<number[]> {
  const filter = encodeURIComponent(`userName eq "${userName}"`);
  return await Promise.all(
    clients.map(async (c) => (await c.get(`/Users?filter=${filter}`)).body?.['totalResults'] as number),
  );
}

async function groupsNamed(displayName: string): Promise<number[]> {
  const filter = encodeURIComponent(`displayName eq "${displayName}"`);
  return await Promise.all(
    clients.map(async (c) => (await c.get(`/Groups?filter=${filter}`)).body?.['totalResults'] as number),
  );
}

const user = (userName: string): Record<string, unknown> => ({ schemas: [USER_SCHEMA], userName, active: true });
const group = (displayName: string): Record<string, unknown> => ({ schemas: [GROUP_SCHEMA], displayName });

describe('userName and group displayName are unique per tenant across gateway replicas', () => {
  it('20 parallel POSTs of one userName (any case) over two gateway processes: one 201, nineteen 409', async () => {
    const responses = await race(
      async (scim, i) => await scim.post('/Users', user(i % 3 === 0 ? 'Dup@ACME.example' : 'dup@acme.example')),
    );
    expectOneWinner(responses, 201);
    expect(await usersNamed('dup@acme.example')).toEqual([1, 1]);
  });

  it('20 parallel POSTs of one group displayName over two gateway processes: one 201, nineteen 409', async () => {
    const responses = await race(async (scim, i) => await scim.post('/Groups', group(i % 2 ? 'Admins' : 'ADMINS')));
    expectOneWinner(responses, 201);
    expect(await groupsNamed('admins')).toEqual([1, 1]);
  });

  it('20 parallel renames of different users to one userName: one 200, nineteen 409', async () => {
    const ids: string[] = [];
    for (let i = 0; i < PARALLEL; i++) {
      ids.push((await client(i).post('/Users', user(`renamer-${i}@acme.example`))).body?.['id'] as string);
    }
    const responses = await race(
      async (scim, i) =>
        await scim.patch(`/Users/${ids[i]!}`, [{ op: 'replace', path: 'userName', value: 'boss@acme.example' }]),
    );
    expectOneWinner(responses, 200);
    expect(await usersNamed('boss@acme.example')).toEqual([1, 1]);
    // The losers keep their names.
    const total = await Promise.all(
      ids.map(async (id) => (await clients[0]!.get(`/Users/${id}`)).body?.['userName'] as string),
    );
    expect(total.filter((n) => n === 'boss@acme.example')).toHaveLength(1);
    expect(total.filter((n) => n.startsWith('renamer-'))).toHaveLength(PARALLEL - 1);
  });

  it('20 parallel renames of different groups to one displayName (PUT and PATCH): one success, nineteen 409', async () => {
    const ids: string[] = [];
    for (let i = 0; i < PARALLEL; i++) {
      ids.push((await client(i).post('/Groups', group(`Team ${i}`))).body?.['id'] as string);
    }
    const responses = await race(async (scim, i) =>
      i % 2 === 0
        ? await scim.patch(`/Groups/${ids[i]!}`, [{ op: 'replace', path: 'displayName', value: 'Owners' }])
        : await scim.put(`/Groups/${ids[i]!}`, group('owners')),
    );
    const winners = responses.filter((r) => r.status === 200 || r.status === 204);
    expect(winners).toHaveLength(1);
    expect(responses.filter((r) => r.status === 409 && r.body?.['scimType'] === 'uniqueness')).toHaveLength(
      PARALLEL - 1,
    );
    expect(await groupsNamed('owners')).toEqual([1, 1]);
  });

  it('parallel POSTs and renames racing for one userName: exactly one succeeds', async () => {
    const renamed = (await clients[0]!.post('/Users', user('mover@acme.example'))).body?.['id'] as string;
    const responses = await race(async (scim, i) =>
      i === 7
        ? await scim.patch(`/Users/${renamed}`, [{ op: 'replace', path: 'userName', value: 'Contested@acme.example' }])
        : await scim.post('/Users', user('contested@acme.example')),
    );
    expect(responses.filter((r) => r.status === 200 || r.status === 201)).toHaveLength(1);
    expect(responses.filter((r) => r.status === 409 && r.body?.['scimType'] === 'uniqueness')).toHaveLength(
      PARALLEL - 1,
    );
    expect(await usersNamed('contested@acme.example')).toEqual([1, 1]);
  });

  it('names are compared after Unicode case folding and NFC: É, é and e + combining accent are one name', async () => {
    const first = await clients[0]!.post('/Users', user('ÉMILE@acme.example'));
    expect(first.status).toBe(201);
    for (const variant of ['émile@acme.example', 'e\u0301mile@acme.example', 'E\u0301MILE@ACME.EXAMPLE']) {
      const again = await clients[1]!.post('/Users', user(variant));
      expect(again).toMatchObject({ status: 409, body: { scimType: 'uniqueness' } });
    }
    expect((await clients[1]!.post('/Groups', group('STRASSE'))).status).toBe(201);
    expect(await clients[0]!.post('/Groups', group('Straße'))).toMatchObject({ status: 409 });
  });

  it('names stored before claims existed are claimed at start: a case variant on either replica is a 409', async () => {
    // SQLite's NOCASE folds only ASCII: the replica alone would not see "åsa" and "ÅSA" as one name.
    expect(await clients[1]!.post('/Users', user('åsa@acme.example'))).toMatchObject({
      status: 409,
      body: { scimType: 'uniqueness' },
    });
    expect(await clients[0]!.post('/Groups', group('ärzte'))).toMatchObject({ status: 409 });
  });

  it('a deleted user frees its userName, a renamed one its old name, on every replica', async () => {
    const a = (await clients[0]!.post('/Users', user('leaver@acme.example'))).body?.['id'] as string;
    expect((await clients[0]!.delete(`/Users/${a}`)).status).toBe(204);
    expect((await clients[1]!.post('/Users', user('Leaver@acme.example'))).status).toBe(201);

    const b = (await clients[1]!.post('/Users', user('old-name@acme.example'))).body?.['id'] as string;
    const renamed = await clients[0]!.patch(`/Users/${b}`, [
      { op: 'replace', path: 'userName', value: 'new-name@acme.example' },
    ]);
    expect(renamed.status).toBe(200);
    expect((await clients[1]!.post('/Users', user('OLD-NAME@acme.example'))).status).toBe(201);
    expect(await clients[0]!.post('/Users', user('new-name@acme.example'))).toMatchObject({ status: 409 });

    const g = (await clients[0]!.post('/Groups', group('Temporary'))).body?.['id'] as string;
    expect((await clients[1]!.delete(`/Groups/${g}`)).status).toBe(204);
    expect((await clients[0]!.post('/Groups', group('temporary'))).status).toBe(201);
  });

  it('a case-only rename keeps the name claimed by the same user', async () => {
    const id = (await clients[0]!.post('/Users', user('casey@acme.example'))).body?.['id'] as string;
    const renamed = await clients[1]!.patch(`/Users/${id}`, [
      { op: 'replace', path: 'userName', value: 'Casey@Acme.example' },
    ]);
    expect(renamed).toMatchObject({ status: 200, body: { userName: 'Casey@Acme.example' } });
    expect(await clients[0]!.post('/Users', user('CASEY@acme.example'))).toMatchObject({ status: 409 });
  });

  it('the same name in another tenant is another name', async () => {
    await clients[0]!.post('/Users', user('shared@acme.example'));
    const globex = new ScimClient(gateways[1]!.origin, 'globex', 't2');
    expect((await globex.post('/Users', user('shared@acme.example'))).status).toBe(201);
    expect((await globex.post('/Users', user('SHARED@acme.example'))).status).toBe(409);
  });
});
