/**
 * The app's resources and relations end to end: written through the gateway's resource API (its own
 * credential), carried on IPSIE_STATE, applied by a real sidecar, seen by the tenant's Rego as
 * `input.resource.stored`, and searched over AuthZEN.
 *
 * The OpenID AuthZEN search interop scenario (6 users, 20 records owned and in departments; Authorization API
 * 1.0 draft 03 payloads) is provisioned as it would be in production: users and role groups over SCIM, records
 * and their `owner` relations over the resource API, the `records` example policy on disk. Every resource,
 * subject and action search of the scenario is asked of the sidecar's AuthZEN endpoint and compared with the
 * scenario's expected results. Real nats-server, gateway, sidecar, opa-compiled Wasm, HTTP and gRPC on loopback.
 */
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { EXAMPLE_POLICY_DIR } from '../harness/opa.js';
import { ScimClient, sequenceOf } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { makeTempDir } from '../harness/temp_dir.js';

type Json = Record<string, unknown>;

const TENANT = 'records';
const OTHER = 'other';
const APP = 'app-records-token';
const OTHER_APP = 'app-other-token';
const SCIM = 'scim-records-token';
const PEP = 'pep-records-token';
const ADMIN = 'admin-records-token';
const OTHER_SCIM = 'scim-other-token';
const OTHER_PEP = 'pep-other-token';
const MAX_DEPTH = 3;
const MAX_RELATIONS = 5;
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const USERS = [
  ['alice', 'manager', 'Sales'],
  ['bob', 'employee', 'Legal'],
  ['carol', 'contractor', 'Legal'],
  ['dan', 'manager', 'Finance'],
  ['erin', 'employee', 'Finance'],
  ['felix', 'contractor', 'Accounting'],
] as const;

const RECORDS: readonly (readonly [id: number, title: string, department: string, owner: string])[] = [
  [101, 'Hamlet', 'Legal', 'alice'],
  [102, 'Othello', 'Legal', 'bob'],
  [103, 'Macbeth', 'Legal', 'carol'],
  [104, 'King Lear', 'Accounting', 'dan'],
  [105, 'Romeo and Juliet', 'Legal', 'erin'],
  [106, "A Midsummer Night's Dream", 'Accounting', 'felix'],
  [107, 'The Tempest', 'Sales', 'alice'],
  [108, 'Twelfth Night', 'Legal', 'bob'],
  [109, 'Julius Caesar', 'Accounting', 'carol'],
  [110, 'As You Like It', 'Sales', 'dan'],
  [111, 'Much Ado About Nothing', 'Accounting', 'erin'],
  [112, 'The Merchant of Venice', 'Legal', 'felix'],
  [113, 'Henry V', 'Sales', 'alice'],
  [114, 'Richard III', 'Accounting', 'bob'],
  [115, 'Coriolanus', 'Finance', 'carol'],
  [116, 'Taming of the Shrew', 'Legal', 'dan'],
  [117, 'Antony and Cleopatra', 'Legal', 'erin'],
  [118, 'Measure for Measure', 'Accounting', 'felix'],
  [119, "The Winter's Tale", 'Legal', 'alice'],
  [120, "All's Well That Ends Well", 'Accounting', 'bob'],
];

/** The scenario's resource search table: user -> action -> records. */
const RESOURCE_SEARCH: Record<string, Record<string, number[]>> = {
  alice: {
    view: RECORDS.map(([id]) => id),
    edit: [101, 107, 110, 113, 119],
    delete: [101, 107, 113, 119],
  },
  bob: {
    view: [101, 102, 103, 105, 108, 112, 114, 116, 117, 119, 120],
    edit: [102, 108, 114, 120],
    delete: [102, 108, 114, 120],
  },
  carol: {
    view: [101, 102, 103, 105, 108, 109, 112, 115, 116, 117, 119],
    edit: [103, 109, 115],
    delete: [103, 109, 115],
  },
  dan: { view: RECORDS.map(([id]) => id), edit: [104, 110, 115, 116], delete: [104, 110, 116] },
  erin: { view: [105, 111, 115, 117], edit: [105, 111, 117], delete: [105, 111, 117] },
  felix: { view: [104, 106, 109, 111, 112, 114, 118, 120], edit: [106, 112, 118], delete: [106, 112, 118] },
};

const ACTIONS = ['view', 'edit', 'delete'] as const;

/** The scenario's subject search table, derived from the resource search one (the two are the same relation). */
const SUBJECT_SEARCH = RECORDS.flatMap(([id]) =>
  ACTIONS.map((action) => ({
    record: id,
    action,
    users: USERS.map(([name]) => name).filter((name) => RESOURCE_SEARCH[name]?.[action]?.includes(id)),
  })),
);

let nats: NatsServer;
let gateway: TestGateway;
let sidecar: TestSidecar;
let authzenBase = '';
const userIds = new Map<string, string>();
const policyDir = makeTempDir('ipsie-resources-policies-');

const tenants = {
  [TENANT]: {
    scim: { bearer_token_sha256: [sha256(SCIM)] },
    admin: { bearer_token_sha256: [sha256(ADMIN)] },
    resources: { bearer_token_sha256: [sha256(APP)] },
    authzen: { bearer_token_sha256: [sha256(PEP)], actions: [...ACTIONS] },
  },
  // Search candidates from relations only; the same rules as `records` (its package renamed).
  [OTHER]: {
    scim: { bearer_token_sha256: [sha256(OTHER_SCIM)] },
    resources: { bearer_token_sha256: [sha256(OTHER_APP)] },
    authzen: { bearer_token_sha256: [sha256(OTHER_PEP)], actions: [...ACTIONS], search_candidates: 'related' },
  },
};

const BOUNDS = {
  IPSIE_RESOURCE_MAX_DEPTH: String(MAX_DEPTH),
  IPSIE_RESOURCE_MAX_RELATIONS: String(MAX_RELATIONS),
};

interface Answer {
  readonly status: number;
  readonly body: Json;
  readonly sequence: number;
}

async function api(
  method: string,
  path: string,
  body?: unknown,
  options: { token?: string; tenant?: string; type?: string; raw?: string | Uint8Array } = {},
): Promise<Answer> {
  const response = await fetch(`${gateway.origin}/resources/v1/${options.tenant ?? TENANT}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${options.token ?? APP}`,
      ...(body === undefined && options.raw === undefined
        ? {}
        : { 'content-type': options.type ?? 'application/json' }),
    },
    ...(options.raw !== undefined ? { body: options.raw } : body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? {} : (JSON.parse(text) as Json),
    sequence: Number(response.headers.get('x-ipsie-sequence') ?? 0),
  };
}

async function ok(method: string, path: string, body?: unknown): Promise<number> {
  const answer = await api(method, path, body);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  expect(answer.body['sequence']).toBe(answer.sequence);
  return answer.sequence;
}

const userPath = (name: string): string => `user/${userIds.get(name) ?? name}`;

async function authzen(path: string, body: unknown, token = PEP, tenant = TENANT): Promise<Json> {
  const response = await fetch(`${authzenBase}/${tenant}/access/v1/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Json;
}

/** Every page of a search, following next_token. */
async function searchAll(path: string, body: Json): Promise<Json[]> {
  const results: Json[] = [];
  let token = '';
  for (let pages = 0; pages < 100; pages++) {
    const answer = await authzen(path, { ...body, page: { next_token: token, limit: 7 } });
    results.push(...(answer['results'] as Json[]));
    token = String((answer['page'] as Json)['next_token']);
    if (token === '') return results;
  }
  throw new Error('more than 100 pages');
}

async function check(user: string, action: string, type: string, id: string, minSequence: number): Promise<string> {
  const answer = await sidecar.tcp.check({
    tenant: TENANT,
    subject: { identifier: { type: 'user', id: user } },
    action: { name: action },
    resource: { type, id },
    min_sequence: minSequence,
  });
  return answer.decision;
}

beforeAll(async () => {
  nats = await NatsServer.start();
  gateway = await startTestGateway(nats.url, tenants, BOUNDS);
  mkdirSync(join(policyDir.path, TENANT));
  cpSync(join(EXAMPLE_POLICY_DIR, TENANT), join(policyDir.path, TENANT), { recursive: true });
  mkdirSync(join(policyDir.path, OTHER));
  const rules = readFileSync(join(EXAMPLE_POLICY_DIR, TENANT, 'authz.rego'), 'utf8');
  writeFileSync(
    join(policyDir.path, OTHER, 'authz.rego'),
    rules.replace('package tenants.records', 'package tenants.other'),
  );
  sidecar = await startTestSidecar({
    tenants,
    env: {
      IPSIE_NATS_URL: nats.url,
      IPSIE_AUTHZEN_ADDRESS: '127.0.0.1:0',
      IPSIE_TENANT_POLICY_DIR: policyDir.path,
      // A page decides at most this many candidates: the 20 records take several pages.
      IPSIE_AUTHZEN_SEARCH_CANDIDATES: '9',
      ...BOUNDS,
    },
  });
  authzenBase = `http://127.0.0.1:${String(sidecar.sidecar.authzenPort)}`;

  // The IdP provisions the users (department in the enterprise extension) and one group per role.
  const scim = new ScimClient(gateway.origin, TENANT, SCIM);
  const members = new Map<string, string[]>();
  for (const [name, role, department] of USERS) {
    const created = await scim.post('/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
      userName: name,
      active: true,
      [ENTERPRISE]: { department },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    userIds.set(name, String(created.body?.['id']));
    members.set(role, [...(members.get(role) ?? []), String(created.body?.['id'])]);
  }
  let sequence = 0;
  for (const [role, ids] of members) {
    const group = await scim.post('/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: role,
      members: ids.map((value) => ({ value })),
    });
    expect(group.status).toBe(201);
    sequence = sequenceOf(group);
  }
  // The app stores its records and who owns each.
  for (const [id, title, department, owner] of RECORDS) {
    await ok('PUT', `/resources/record/${id}`, { attributes: { title, department } });
    sequence = await ok('PUT', `/resources/record/${id}/relations/owner/${userPath(owner)}`);
  }
  // The sidecar has applied all of it once a Check with the last sequence is answered.
  expect(await check('alice', 'delete', 'record', '101', sequence)).toBe('DECISION_ALLOW');
}, 180_000);

afterAll(async () => {
  await sidecar.stop();
  await gateway.stop();
  await nats.dispose();
  policyDir.remove();
});

describe('AuthZEN search interop (records) over resources the app stored', () => {
  const resourceCases = USERS.flatMap(([user]) =>
    ACTIONS.map((action) => ({ user, action, records: RESOURCE_SEARCH[user]?.[action] ?? [] })),
  );
  it.each(resourceCases)('resource search: $user may $action records $records', async ({ user, action, records }) => {
    const results = await searchAll('search/resource', {
      subject: { type: 'user', id: user },
      action: { name: action },
      resource: { type: 'record' },
    });
    expect(results).toEqual(records.map((id) => ({ type: 'record', id: String(id) })));
  });

  it.each(SUBJECT_SEARCH)('subject search: $users may $action record $record', async ({ record, action, users }) => {
    const results = await searchAll('search/subject', {
      subject: { type: 'user' },
      action: { name: action },
      resource: { type: 'record', id: String(record) },
    });
    // Users are scanned in the store's id order: the set is what counts.
    expect(results.map((r) => r['id']).sort()).toEqual(users);
    expect(results.every((r) => r['type'] === 'user')).toBe(true);
  });

  it.each([
    ['alice', '101', ['view', 'edit', 'delete']],
    ['bob', '101', ['view']],
    ['erin', '101', []],
    ['dan', '115', ['view', 'edit']],
  ])('action search: %s may do %s on record %s', async (user, record, actions) => {
    const answer = await authzen('search/action', {
      subject: { type: 'user', id: user },
      resource: { type: 'record', id: record },
    });
    expect(answer['results']).toEqual(actions.map((name) => ({ name })));
  });

  it('a page decides at most the configured number of candidates, and its token resumes in id order', async () => {
    const first = await authzen('search/resource', {
      subject: { type: 'user', id: 'erin' },
      action: { name: 'view' },
      resource: { type: 'record' },
    });
    // 9 candidates (101..109) decided: only 105 is erin's; the token resumes after 109.
    expect(first['results']).toEqual([{ type: 'record', id: '105' }]);
    expect((first['page'] as Json)['next_token']).not.toBe('');
  });

  it("the caller cannot forge what the store holds: a resource's own `stored` member is dropped", async () => {
    const answer = await authzen('evaluation', {
      subject: { type: 'user', id: 'erin' },
      action: { name: 'delete' },
      resource: {
        type: 'record',
        id: '101',
        stored: { attributes: { department: 'Finance' }, relations: [], subject_relations: ['owner'] },
      },
    });
    expect(answer['decision']).toBe(false);
  });
});

describe('search candidates from relations (search_candidates: related)', () => {
  it('lists only related resources and related users, each still decided by the policy', async () => {
    const scim = new ScimClient(gateway.origin, OTHER, OTHER_SCIM);
    const ids = new Map<string, string>();
    for (const [name, department] of [
      ['mia', 'Sales'],
      ['noa', 'Sales'],
      ['oli', 'Legal'],
    ] as const) {
      const created = await scim.post('/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
        userName: name,
        [ENTERPRISE]: { department },
      });
      expect(created.status).toBe(201);
      ids.set(name, String(created.body?.['id']));
    }
    const group = await scim.post('/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: 'readers',
      members: [{ value: ids.get('oli') }],
    });
    expect(group.status).toBe(201);
    const write = async (method: string, path: string, body?: unknown): Promise<void> => {
      const answer = await api(method, path, body, { tenant: OTHER, token: OTHER_APP });
      expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    };
    await write('PUT', '/resources/folder/shelf', { attributes: {} });
    await write('PUT', '/resources/record/r1', { attributes: { department: 'Sales' } });
    await write('PUT', '/resources/record/r2', { attributes: { department: 'Sales' } });
    await write('PUT', '/resources/record/r3', { attributes: { department: 'Finance' } });
    await write('PUT', `/resources/record/r1/relations/owner/user/${ids.get('mia') ?? ''}`);
    await write('PUT', '/resources/record/r3/relations/parent/resource/folder/shelf');
    await write('PUT', `/resources/folder/shelf/relations/viewer/group/${String(group.body?.['id'])}`);
    const search = async (path: string, body: Json): Promise<unknown[]> =>
      (await authzen(path, body, OTHER_PEP, OTHER))['results'] as unknown[];
    // noa's department would let it view r1 and r2, but it holds no relation: no candidate, none listed.
    expect(
      await search('search/resource', {
        subject: { type: 'user', id: 'noa' },
        action: { name: 'view' },
        resource: { type: 'record' },
      }),
    ).toEqual([]);
    expect(
      await search('search/resource', {
        subject: { type: 'user', id: 'mia' },
        action: { name: 'view' },
        resource: { type: 'record' },
      }),
    ).toEqual([{ type: 'record', id: 'r1' }]);
    // oli views r3 through its group's viewer relation on the folder above it; may not edit it.
    expect(
      await search('search/resource', {
        subject: { type: 'user', id: 'oli' },
        action: { name: 'view' },
        resource: { type: 'record' },
      }),
    ).toEqual([{ type: 'record', id: 'r3' }]);
    expect(
      await search('search/resource', {
        subject: { type: 'user', id: 'oli' },
        action: { name: 'edit' },
        resource: { type: 'record' },
      }),
    ).toEqual([]);
    expect(
      await search('search/subject', {
        subject: { type: 'user' },
        action: { name: 'view' },
        resource: { type: 'record', id: 'r3' },
      }),
    ).toEqual([{ type: 'user', id: 'oli' }]);
    expect(
      await search('search/subject', {
        subject: { type: 'user' },
        action: { name: 'delete' },
        resource: { type: 'record', id: 'r1' },
      }),
    ).toEqual([{ type: 'user', id: 'mia' }]);
    expect(
      await search('search/subject', {
        subject: { type: 'user' },
        action: { name: 'view' },
        resource: { type: 'record', id: 'r2' },
      }),
    ).toEqual([]);
  });
});

describe('read after write', () => {
  it('a relation written is seen by the next Check with its sequence, through a folder above the record', async () => {
    await ok('PUT', '/resources/folder/plays', { attributes: { name: 'Plays' } });
    await ok('PUT', '/resources/record/201', { attributes: { title: 'Pericles', department: 'Sales' } });
    const parent = await ok('PUT', '/resources/record/201/relations/parent/resource/folder/plays');
    expect(await check('felix', 'view', 'record', '201', parent)).toBe('DECISION_DENY');
    const granted = await ok('PUT', `/resources/folder/plays/relations/viewer/${userPath('felix')}`);
    expect(await check('felix', 'view', 'record', '201', granted)).toBe('DECISION_ALLOW');
    expect(await check('felix', 'edit', 'record', '201', granted)).toBe('DECISION_DENY');
    const revoked = await ok('DELETE', `/resources/folder/plays/relations/viewer/${userPath('felix')}`);
    expect(await check('felix', 'view', 'record', '201', revoked)).toBe('DECISION_DENY');
  });

  it("a deleted resource's relations go with it: re-created, it inherits none", async () => {
    await ok('PUT', '/resources/record/202', { attributes: { department: 'Sales' } });
    await ok('PUT', `/resources/record/202/relations/owner/${userPath('erin')}`);
    const deleted = await ok('DELETE', '/resources/record/202');
    expect(await check('erin', 'view', 'record', '202', deleted)).toBe('DECISION_DENY');
    const again = await ok('PUT', '/resources/record/202', { attributes: { department: 'Sales' } });
    expect(await check('erin', 'delete', 'record', '202', again)).toBe('DECISION_DENY');
    expect((await api('GET', '/resources/record/202')).body['relations']).toEqual([]);
  });

  it('the gateway replica that applied every write live and a sidecar that replayed the stream agree', async () => {
    const late = await startTestSidecar({ tenants, env: { IPSIE_NATS_URL: nats.url, ...BOUNDS } });
    try {
      const position = gateway.gateway.store.appliedSequence();
      expect(await late.sidecar.ingestor?.waitForSequence(position, 30_000)).toBe(true);
      expect(late.sidecar.store.digest(TENANT)).toBe(gateway.gateway.store.digest(TENANT));
      expect(late.sidecar.store.relationCount(TENANT, 'record', '101')).toBe(1);
      // And the sidecar that applied it live too.
      expect(await sidecar.sidecar.ingestor?.waitForSequence(position, 30_000)).toBe(true);
      expect(sidecar.sidecar.store.digest(TENANT)).toBe(gateway.gateway.store.digest(TENANT));
    } finally {
      await late.stop();
    }
  });
});

describe('parent chains', () => {
  it('refuse a cycle, a resource its own parent, and a chain longer than the depth bound', async () => {
    for (const id of ['a', 'b', 'c', 'd', 'e']) await ok('PUT', `/resources/folder/${id}`, { attributes: {} });
    await ok('PUT', '/resources/folder/b/relations/parent/resource/folder/a');
    await ok('PUT', '/resources/folder/c/relations/parent/resource/folder/b');
    const cycle = await api('PUT', '/resources/folder/a/relations/parent/resource/folder/c');
    expect(cycle.status).toBe(409);
    expect(cycle.body['detail']).toMatch(/cycle/);
    expect((await api('PUT', '/resources/folder/a/relations/parent/resource/folder/a')).status).toBe(409);
    await ok('PUT', '/resources/folder/d/relations/parent/resource/folder/c');
    // a <- b <- c <- d is 3 steps, the bound; e above a would make 4, as would d's child below.
    const deeper = await api('PUT', '/resources/folder/a/relations/parent/resource/folder/e');
    expect(deeper.status).toBe(409);
    expect(deeper.body['detail']).toMatch(/4 steps; at most 3/);
    expect((await api('PUT', '/resources/folder/e/relations/parent/resource/folder/d')).status).toBe(409);
  });
});

describe('the resource API refuses', () => {
  it("an unknown tenant, a forged token, another tenant's token and the IdP's SCIM token alike (401)", async () => {
    for (const options of [
      { tenant: 'nosuch' },
      { token: 'forged' },
      { token: OTHER_APP },
      { token: SCIM },
      { tenant: OTHER, token: APP },
    ]) {
      const answer = await api('PUT', '/resources/record/900', { attributes: {} }, options);
      expect(answer.status, JSON.stringify(options)).toBe(401);
      expect(answer.body['code']).toBe('ERR_RESOURCE_UNAUTHORIZED');
    }
    expect((await api('GET', '/resources/record/900')).status).toBe(404);
  });

  it("tenant B writes its own resources only: A's stay unseen and A's users cannot be named", async () => {
    const own = await api(
      'PUT',
      '/resources/record/101',
      { attributes: { department: 'Other' } },
      {
        tenant: OTHER,
        token: OTHER_APP,
      },
    );
    expect(own.status).toBe(200);
    expect((await api('GET', '/resources/record/101')).body['attributes']).toEqual({
      title: 'Hamlet',
      department: 'Legal',
    });
    const cross = await api('PUT', `/resources/record/101/relations/owner/${userPath('alice')}`, undefined, {
      tenant: OTHER,
      token: OTHER_APP,
    });
    expect(cross.status).toBe(404);
    // And the SCIM surface does not open with the app's token.
    const scim = await fetch(`${gateway.origin}/scim/v2/${TENANT}/Users`, {
      headers: { authorization: `Bearer ${APP}` },
    });
    expect(scim.status).toBe(401);
  });

  it.each([
    ['a body over the bound (413)', { raw: `{"attributes":{"x":"${'y'.repeat(300 * 1024)}"}}` }, 413],
    ['attributes over the bound (413)', { body: { attributes: { x: 'y'.repeat(17 * 1024) } } }, 413],
    ['attributes of the wrong type (400)', { body: { attributes: ['x'] } }, 400],
    ['an unknown member (400)', { body: { attributes: {}, owner: 'bob' } }, 400],
    ['a body that is not JSON (400)', { raw: '{"attributes":' }, 400],
    ['a body that is not an object (400)', { raw: '[1]' }, 400],
    ['a body that is not UTF-8 (400)', { raw: new Uint8Array([0x7b, 0xff, 0x7d]) }, 400],
    ['another media type (415)', { body: { attributes: {} }, type: 'text/plain' }, 415],
  ] as [string, { body?: unknown; raw?: string | Uint8Array; type?: string }, number][])(
    '%s',
    async (_title, request, status) => {
      const answer = await api('PUT', '/resources/record/901', request.body, {
        ...(request.raw === undefined ? {} : { raw: request.raw }),
        ...(request.type === undefined ? {} : { type: request.type }),
      });
      expect(answer.status, JSON.stringify(answer.body)).toBe(status);
      expect(answer.sequence).toBe(0);
    },
  );

  it('names that are not names, subjects of another kind, and subjects or resources not stored', async () => {
    expect((await api('PUT', '/resources/a%20b/1', { attributes: {} })).status).toBe(400);
    expect((await api('PUT', `/resources/record/101/relations/owner/team/x`)).status).toBe(400);
    expect((await api('PUT', `/resources/record/101/relations/parent/${userPath('bob')}`)).status).toBe(400);
    expect((await api('PUT', '/resources/record/101/relations/owner/user/nobody')).status).toBe(404);
    expect((await api('PUT', `/resources/record/999/relations/owner/${userPath('bob')}`)).status).toBe(404);
    expect((await api('DELETE', `/resources/record/101/relations/viewer/${userPath('bob')}`)).status).toBe(404);
  });

  it('more relations on one resource than the bound (409)', async () => {
    await ok('PUT', '/resources/record/300', { attributes: {} });
    for (const [name] of USERS.slice(0, MAX_RELATIONS)) {
      await ok('PUT', `/resources/record/300/relations/viewer/${userPath(name)}`);
    }
    // The same relation again is no new one.
    await ok('PUT', `/resources/record/300/relations/viewer/${userPath('alice')}`);
    const over = await api('PUT', `/resources/record/300/relations/viewer/${userPath('felix')}`);
    expect(over.status).toBe(409);
    expect(over.body['code']).toBe('ERR_RESOURCE_CONFLICT');
  });
});

describe('the audit trail', () => {
  it("holds the app's writes, done and refused, with their status and sequence", async () => {
    const refused = await api('PUT', '/resources/folder/nosuch/relations/parent/resource/folder/nosuch2');
    expect(refused.status).toBe(404);
    const response = await fetch(`${gateway.origin}/admin/v1/${TENANT}/audit?limit=1000`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const records = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Json)
      .filter((r) => r['kind'] === 'resource.write');
    expect(records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          data: expect.objectContaining({ method: 'PUT', path: '/resources/record/101', status: 200 }) as unknown,
        }),
        expect.objectContaining({
          data: expect.objectContaining({
            path: '/resources/folder/nosuch/relations/parent/resource/folder/nosuch2',
            status: 404,
            code: 'ERR_RESOURCE_NOT_FOUND',
          }) as unknown,
        }),
      ]) as unknown,
    );
    expect(records.find((r) => (r['data'] as Json)['status'] === 200)?.['data']).toHaveProperty('sequence');
  });
});
