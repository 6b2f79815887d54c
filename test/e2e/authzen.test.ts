/**
 * OpenID AuthZEN Authorization API 1.0 on a real sidecar: the spec's request
 * and response examples, batch semantics, search, metadata, errors, and the
 * same decisions as gRPC Check.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { change, user } from '../harness/changes.js';
import { sha256 } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { EXAMPLE_POLICY_DIR } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const TOKEN = `pep-${randomUUID()}`;
const people = { alice: 'admin', bob: 'editor', carol: 'viewer' } as const;

let nats: NatsServer;
let producer: TestProducer;
let t: TestSidecar;
let base = '';

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll([
    change('todo', 'tenant.upsert', { display_name: 'Todo' }),
    ...Object.values(people).map((role) =>
      change('todo', 'group.upsert', { id: role, display_name: role, external_id: null }),
    ),
    ...Object.entries(people).flatMap(([name, role]) => [
      user('todo', `id-${name}`, { user_name: `${name}@acmecorp.com`, external_id: `pid-${name}` }),
      change('todo', 'member.add', { group_id: role, user_id: `id-${name}` }),
    ]),
    // Two users holding one e-mail address: naming either by it is ambiguous.
    user('todo', 'id-dan', { user_name: 'dan@acmecorp.com', attributes: { emails: [{ value: 'team@acmecorp.com' }] } }),
    user('todo', 'id-dana', {
      user_name: 'dana@acmecorp.com',
      attributes: { emails: [{ value: 'team@acmecorp.com' }] },
    }),
    // Signed in through an IdP (bound to its sub), never provisioned with an externalId.
    user('todo', 'id-frank', { user_name: 'frank@acmecorp.com' }),
    change('todo', 'member.add', { group_id: 'viewer', user_id: 'id-frank' }),
    change('todo', 'binding.upsert', { issuer: 'https://idp.example', subject: 'sub-frank', user_id: 'id-frank' }),
    change('acme', 'tenant.upsert', { display_name: 'Acme' }),
    change('props', 'tenant.upsert', { display_name: 'Props' }),
    change('bare', 'tenant.upsert', { display_name: 'Bare' }),
    user('bare', 'id-gina', { user_name: 'gina@acmecorp.com' }),
    user('props', 'id-erin', { user_name: 'erin@acmecorp.com' }),
  ]);
  t = await startTestSidecar({
    env: {
      IPSIE_NATS_URL: nats.url,
      IPSIE_AUTHZEN_ADDRESS: '127.0.0.1:0',
      IPSIE_TENANT_POLICY_DIR: EXAMPLE_POLICY_DIR,
    },
    tenants: {
      todo: {
        authzen: {
          bearer_token_sha256: [sha256(TOKEN)],
          actions: ['can_read_user', 'can_read_todos', 'can_create_todo', 'can_update_todo', 'can_delete_todo'],
        },
      },
      acme: {},
      props: { authzen: { bearer_token_sha256: [sha256(TOKEN)], actions: ['can_read_user', 'can_edit_user'] } },
      // A PDP whose tenant has no policy loaded.
      bare: { authzen: { bearer_token_sha256: [sha256(TOKEN)] } },
    },
  });
  base = `http://127.0.0.1:${String(t.sidecar.authzenPort)}`;
  // Allows only when what the caller said about the subject and the resource reached the policy.
  await t.sidecar.deployPolicy({
    tenantId: 'props',
    modules: new Map([
      [
        'authz.rego',
        `package tenants.props

allow if {
	input.subject.properties.department == "Sales"
	input.resource.userID == "erin@acmecorp.com"
	input.resource.properties.ownerID == "erin@acmecorp.com"
}
`,
      ],
    ]),
  });
  await t.tcp.check({
    tenant: 'todo',
    subject: { user_id: 'id-alice' },
    action: { name: 'can_read_todos' },
    resource: { type: 'todo' },
    min_sequence: await producer.lastSequence(),
  });
});

afterAll(async () => {
  await t.stop();
  await producer.close();
  await nats.dispose();
});

interface Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Headers;
}

async function post(
  path: string,
  body: unknown,
  options: { token?: string; type?: string; raw?: string; tenant?: string } = {},
): Promise<Reply> {
  const response = await fetch(`${base}/${options.tenant ?? 'todo'}/access/v1/${path}`, {
    method: 'POST',
    headers: {
      'content-type': options.type ?? 'application/json',
      authorization: `Bearer ${options.token ?? TOKEN}`,
      'x-request-id': 'req-42',
    },
    body: options.raw ?? JSON.stringify(body),
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

const alice = { type: 'user', id: 'alice@acmecorp.com' };
const documents = (...ids: string[]): { resource: { type: string; id: string } }[] =>
  ids.map((id) => ({ resource: { type: 'document', id } }));

describe('AuthZEN Access Evaluation (spec examples)', () => {
  it('evaluation: alice can_read account 123 -> true, with our reasons in context; X-Request-ID echoed', async () => {
    const r = await post('evaluation', {
      subject: { type: 'user', id: 'alice@acmecorp.com' },
      resource: { type: 'account', id: '123' },
      action: { name: 'can_read', properties: { method: 'GET' } },
      context: { time: '1985-10-26T01:22-07:00' },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ decision: true, context: { reasons: [{ code: 'POLICY_ALLOWED' }] } });
    expect(r.headers.get('x-request-id')).toBe('req-42');
  });

  it('a denial is 200 decision false with the reasons', async () => {
    const r = await post('evaluation', {
      subject: alice,
      action: { name: 'read' },
      resource: { type: 'document', id: '2' },
    });
    expect(r).toMatchObject({
      status: 200,
      body: { decision: false, context: { reasons: [{ code: 'POLICY_DENIED' }] } },
    });
  });

  it('evaluations with defaults, an item overriding the default action', async () => {
    const r = await post('evaluations', {
      subject: alice,
      context: { time: '2024-05-31T15:22-07:00' },
      action: { name: 'can_read' },
      evaluations: [
        { resource: { type: 'document', id: 'boxcarring.md' } },
        { resource: { type: 'document', id: 'subject-search.md' } },
        { action: { name: 'can_edit' }, resource: { type: 'document', id: 'resource-search.md' } },
      ],
    });
    expect(r.status).toBe(200);
    expect((r.body as { evaluations: { decision: boolean }[] }).evaluations.map((e) => e.decision)).toEqual([
      true,
      true,
      false,
    ]);
    expect(r.body).not.toHaveProperty('decision');
  });

  it.each([
    ['execute_all', [true, false, true]],
    ['deny_on_first_deny', [true, false]],
    ['permit_on_first_permit', [true]],
  ])('evaluations_semantic %s', async (semantic, decisions) => {
    const r = await post('evaluations', {
      subject: { type: 'user', id: 'alice@example.com' },
      action: { name: 'read' },
      options: { evaluations_semantic: semantic },
      evaluations: documents('1', '2', '3'),
    });
    // alice@example.com is not a user of this tenant: use our alice for the spec's shape.
    const ours = await post('evaluations', {
      subject: alice,
      action: { name: 'read' },
      options: { evaluations_semantic: semantic },
      evaluations: documents('1', '2', '3'),
    });
    expect(r.status).toBe(200);
    expect((ours.body as { evaluations: { decision: boolean }[] }).evaluations.map((e) => e.decision)).toEqual(
      decisions,
    );
  });

  it('no evaluations array: behaves as a single evaluation', async () => {
    const r = await post('evaluations', {
      subject: alice,
      action: { name: 'read' },
      resource: { type: 'document', id: '1' },
    });
    expect(r.body).toMatchObject({ decision: true });
  });

  it('an item missing a field is decision false with an error in its context; the others are decided', async () => {
    const r = await post('evaluations', {
      subject: alice,
      action: { name: 'read' },
      evaluations: [{ resource: { type: 'document', id: '1' } }, { resource: { type: 'document' } }],
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      evaluations: [
        { decision: true },
        {
          decision: false,
          context: { error: { status: 400, message: expect.stringMatching(/resource\.id/) as unknown } },
        },
      ],
    });
  });

  it('decides as gRPC Check does for the same request', async () => {
    for (const [name, action, owner] of [
      ['bob', 'can_update_todo', 'bob@acmecorp.com'],
      ['bob', 'can_update_todo', 'alice@acmecorp.com'],
      ['carol', 'can_create_todo', ''],
      ['alice', 'can_delete_todo', 'bob@acmecorp.com'],
    ] as const) {
      const resource = { type: 'todo', id: 't1', properties: { ownerID: owner } };
      const viaAuthzen = await post('evaluation', {
        subject: { type: 'user', id: `${name}@acmecorp.com` },
        action: { name: action },
        resource,
      });
      const viaGrpc = await t.tcp.check({
        tenant: 'todo',
        subject: { user_id: `id-${name}` },
        action: { name: action },
        resource: { type: 'todo', id: 't1', properties: { fields: { ownerID: { stringValue: owner } } } },
      });
      expect((viaAuthzen.body as { decision: boolean }).decision, `${name} ${action} ${owner}`).toBe(
        viaGrpc.decision === 'DECISION_ALLOW',
      );
    }
  });
});

describe('AuthZEN reads of the store', () => {
  it('an evaluation by user id reads the user from the store once: the Check finds it in memory', async () => {
    const store = t.sidecar.store;
    const wholeUser = vi.spyOn(store, 'user');
    try {
      // Another device each time: nothing of it is cached yet.
      const context = { device_id: `laptop-${randomUUID()}` };
      const before = store.subjectCacheStats();
      const r = await post('evaluation', {
        subject: { type: 'user', id: 'id-bob' },
        action: { name: 'can_read_todos' },
        resource: { type: 'todo', id: 't1' },
        context,
      });
      expect(r.status).toBe(200);
      const after = store.subjectCacheStats();
      expect(wholeUser).not.toHaveBeenCalled();
      expect(after.misses - before.misses).toBe(1);
      expect(after.hits - before.hits).toBe(1);
    } finally {
      wholeUser.mockRestore();
    }
  });
});

describe('AuthZEN subjects', () => {
  it('subject type identity names the user by the IdP subject identifier (externalId)', async () => {
    const r = await post('evaluation', {
      subject: { type: 'identity', id: 'pid-bob' },
      action: { name: 'can_update_todo' },
      resource: { type: 'todo', id: 't1', properties: { ownerID: 'bob@acmecorp.com' } },
    });
    expect(r).toMatchObject({ status: 200, body: { decision: true } });
  });

  it('subject type identity names a signed-in user by the sub its IdP binding holds', async () => {
    const ask = async (action: string): Promise<unknown> =>
      (
        await post('evaluation', {
          subject: { type: 'identity', id: 'sub-frank' },
          action: { name: action },
          resource: { type: 'todo', id: 't1' },
        })
      ).body;
    // frank is a viewer: he reads the list but creates nothing.
    expect(await ask('can_read_todos')).toMatchObject({ decision: true });
    expect(await ask('can_create_todo')).toMatchObject({
      decision: false,
      context: { reasons: [{ code: 'POLICY_DENIED' }] },
    });
  });

  it('subject type user finds the user by any identifier: the IdP PID, our id, userName', async () => {
    for (const id of ['pid-bob', 'id-bob', 'BOB@acmecorp.com']) {
      const r = await post('evaluation', {
        subject: { type: 'user', id },
        action: { name: 'can_create_todo' },
        resource: { type: 'todo', id: 't1' },
      });
      expect(r.body, id).toMatchObject({ decision: true });
    }
  });

  it('an identifier two users hold is ambiguous: SUBJECT_UNKNOWN, neither is picked', async () => {
    const r = await post('evaluation', {
      subject: { type: 'user', id: 'team@acmecorp.com' },
      action: { name: 'can_read_todos' },
      resource: { type: 'todo', id: 't1' },
    });
    expect(r).toMatchObject({
      status: 200,
      body: {
        decision: false,
        context: { reasons: [{ code: 'SUBJECT_UNKNOWN', message: expect.stringMatching(/ambiguous/) as unknown }] },
      },
    });
  });

  it('subject.properties and every resource field reach the policy', async () => {
    const ask = async (department: string): Promise<unknown> =>
      (
        await post(
          'evaluation',
          {
            subject: { type: 'user', id: 'erin@acmecorp.com', properties: { department } },
            action: { name: 'can_read_user' },
            resource: {
              type: 'user',
              id: 'erin@acmecorp.com',
              userID: 'erin@acmecorp.com',
              properties: { ownerID: 'erin@acmecorp.com' },
            },
          },
          { tenant: 'props' },
        )
      ).body;
    expect(await ask('Sales')).toMatchObject({ decision: true });
    expect(await ask('Legal')).toMatchObject({ decision: false });
  });

  it('action search hands the policy subject.properties and the resource fields too', async () => {
    const actions = async (department: string): Promise<unknown> =>
      (
        await post(
          'search/action',
          {
            subject: { type: 'user', id: 'erin@acmecorp.com', properties: { department } },
            resource: {
              type: 'user',
              id: 'erin@acmecorp.com',
              userID: 'erin@acmecorp.com',
              properties: { ownerID: 'erin@acmecorp.com' },
            },
          },
          { tenant: 'props' },
        )
      ).body;
    expect(await actions('Sales')).toEqual({
      results: [{ name: 'can_read_user' }, { name: 'can_edit_user' }],
      page: { next_token: '' },
    });
    expect(await actions('Legal')).toEqual({ results: [], page: { next_token: '' } });
  });

  it('gRPC Check names a subject by identifier as AuthZEN does', async () => {
    const viaGrpc = await t.tcp.check({
      tenant: 'todo',
      subject: { identifier: { type: 'identity', id: 'pid-carol' } },
      action: { name: 'can_read_todos' },
      resource: { type: 'todo', id: 't1' },
    });
    expect(viaGrpc.decision).toBe('DECISION_ALLOW');
    const unknown = await t.tcp.check({
      tenant: 'todo',
      subject: { identifier: { type: 'identity', id: 'pid-nobody' } },
      action: { name: 'can_read_todos' },
      resource: { type: 'todo', id: 't1' },
    });
    expect(unknown).toMatchObject({ decision: 'DECISION_DENY', reasons: [{ code: 'SUBJECT_UNKNOWN' }] });
  });
});

describe('AuthZEN search and metadata', () => {
  it('subject search: the users who can create a todo, paged', async () => {
    const first = await post('search/subject', {
      subject: { type: 'user' },
      action: { name: 'can_create_todo' },
      resource: { type: 'todo', id: 'new' },
      page: { limit: 1 },
    });
    expect(first.status).toBe(200);
    const one = first.body as { results: { id: string }[]; page: { next_token: string } };
    // Named as the caller names users of this type (userName for `user`), never by our internal ids.
    expect(one.results).toEqual([{ type: 'user', id: 'alice@acmecorp.com' }]);
    expect(one.page.next_token).not.toBe('');
    const rest = await post('search/subject', {
      subject: { type: 'user' },
      action: { name: 'can_create_todo' },
      resource: { type: 'todo', id: 'new' },
      page: { next_token: one.page.next_token },
    });
    expect(rest.body).toEqual({ results: [{ type: 'user', id: 'bob@acmecorp.com' }], page: { next_token: '' } });
  });

  it('subject search of type identity names users by the IdP subject identifier; page.limit 0 is accepted', async () => {
    const r = await post('search/subject', {
      subject: { type: 'identity' },
      action: { name: 'can_create_todo' },
      resource: { type: 'todo', id: 'new' },
      page: { limit: 0 },
    });
    expect(r).toMatchObject({
      status: 200,
      body: {
        results: [
          { type: 'identity', id: 'pid-alice' },
          { type: 'identity', id: 'pid-bob' },
        ],
        page: { next_token: '' },
      },
    });
  });

  it('action search: what each role may do to a todo it does not own', async () => {
    const todo = { type: 'todo', id: 't1', properties: { ownerID: 'someone@acmecorp.com' } };
    const actions = async (name: string): Promise<string[]> => {
      const r = await post('search/action', { subject: { type: 'user', id: `${name}@acmecorp.com` }, resource: todo });
      expect(r.status).toBe(200);
      return (r.body as { results: { name: string }[] }).results.map((a) => a.name);
    };
    // An admin deletes any todo, but updates only its own (evil_genius updates any).
    expect(await actions('alice')).toEqual(['can_read_user', 'can_read_todos', 'can_create_todo', 'can_delete_todo']);
    expect(await actions('bob')).toEqual(['can_read_user', 'can_read_todos', 'can_create_todo']);
    expect(await actions('carol')).toEqual(['can_read_user', 'can_read_todos']);
  });

  it('action search for a subject type the tenant does not declare is an empty result, not an error', async () => {
    const r = await post('search/action', {
      subject: { type: 'robot', id: 'r2' },
      resource: { type: 'todo', id: 't' },
    });
    expect(r).toMatchObject({ status: 200, body: { results: [], page: { next_token: '' } } });
  });

  it('resource search over the store: the users alice may read; other types have no inventory here', async () => {
    const users = await post('search/resource', {
      subject: alice,
      action: { name: 'can_read_user' },
      resource: { type: 'user' },
    });
    expect(users.body).toEqual({
      results: ['alice', 'bob', 'carol', 'dan', 'dana', 'frank'].map((name) => ({
        type: 'user',
        id: `${name}@acmecorp.com`,
      })),
      page: { next_token: '' },
    });
    const documents = await post('search/resource', {
      subject: alice,
      action: { name: 'read' },
      resource: { type: 'document' },
    });
    expect(documents.body).toEqual({ results: [], page: { next_token: '' } });
    expect((await post('search/resource', { subject: alice, action: { name: 'read' } })).status).toBe(400);
  });

  it('metadata names the tenant PDP and its endpoints', async () => {
    const r = await fetch(`${base}/.well-known/authzen-configuration/todo`);
    expect(await r.json()).toEqual({
      policy_decision_point: `${base}/todo`,
      access_evaluation_endpoint: `${base}/todo/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/todo/access/v1/evaluations`,
      search_subject_endpoint: `${base}/todo/access/v1/search/subject`,
      search_resource_endpoint: `${base}/todo/access/v1/search/resource`,
      search_action_endpoint: `${base}/todo/access/v1/search/action`,
    });
    expect((await fetch(`${base}/.well-known/authzen-configuration/acme`)).status).toBe(404);
  });

  it('policy_decision_point is the URL the client used (its Host), not the bind address', async () => {
    const { port } = new URL(base);
    const body = await new Promise<string>((resolve, reject) => {
      const request = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: '/.well-known/authzen-configuration/todo',
          headers: { host: 'pdp.example:8443' },
        },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => {
            resolve(text);
          });
        },
      );
      request.on('error', reject);
      request.end();
    });
    expect(JSON.parse(body)).toMatchObject({ policy_decision_point: 'http://pdp.example:8443/todo' });
  });

  it('policy_decision_point is IPSIE_AUTHZEN_PUBLIC_URL when set', async () => {
    const other = await startTestSidecar({
      env: { IPSIE_AUTHZEN_ADDRESS: '127.0.0.1:0', IPSIE_AUTHZEN_PUBLIC_URL: 'https://pdp.example/authzen/' },
      tenants: { todo: { authzen: { bearer_token_sha256: [sha256(TOKEN)] } } },
    });
    try {
      const r = await fetch(
        `http://127.0.0.1:${String(other.sidecar.authzenPort)}/.well-known/authzen-configuration/todo`,
      );
      expect(await r.json()).toMatchObject({
        policy_decision_point: 'https://pdp.example/authzen/todo',
        access_evaluation_endpoint: 'https://pdp.example/authzen/todo/access/v1/evaluation',
      });
    } finally {
      await other.stop();
    }
  });
});

describe('AuthZEN errors', () => {
  it.each([
    ['a missing subject', { action: { name: 'read' }, resource: { type: 'document', id: '1' } }, /subject/],
    [
      'subject as a string',
      { subject: 'alice', action: { name: 'read' }, resource: { type: 'document', id: '1' } },
      /subject/,
    ],
    [
      'action.name as a number',
      { subject: alice, action: { name: 7 }, resource: { type: 'document', id: '1' } },
      /action\.name/,
    ],
    [
      'a missing resource id',
      { subject: alice, action: { name: 'read' }, resource: { type: 'document' } },
      /resource\.id/,
    ],
  ])('400 for %s, with the error string', async (_, body, message) => {
    const r = await post('evaluation', body);
    expect(r.status).toBe(400);
    expect(r.body).toMatch(message);
  });

  it('400 for a wrong content type, malformed JSON, an empty body, a bad semantic', async () => {
    expect((await post('evaluation', {}, { type: 'text/plain' })).status).toBe(400);
    expect((await post('evaluation', null, { raw: '{nope' })).status).toBe(400);
    expect((await post('evaluation', null, { raw: '' })).status).toBe(400);
    const bad = await post('evaluations', {
      subject: alice,
      action: { name: 'read' },
      options: { evaluations_semantic: 'maybe' },
      evaluations: documents('1'),
    });
    expect(bad.status).toBe(400);
  });

  it('401 without this tenant’s token; another tenant is not reachable with it', async () => {
    const body = { subject: alice, action: { name: 'read' }, resource: { type: 'document', id: '1' } };
    const r = await post('evaluation', body, { token: 'guess' });
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await post('evaluation', body, { tenant: 'props', token: 'guess' })).status).toBe(401);
  });

  it('503 for a tenant without a policy (it fails closed) while the other tenants answer', async () => {
    const body = {
      subject: { type: 'user', id: 'gina@acmecorp.com' },
      action: { name: 'read' },
      resource: { type: 'document', id: '1' },
    };
    expect((await post('evaluation', body, { tenant: 'bare' })).status).toBe(503);
    expect((await post('evaluation', { ...body, subject: alice })).status).toBe(200);
  });

  it('404 for a tenant that is not an AuthZEN PDP here (unknown, or without AuthZEN callers)', async () => {
    const body = { subject: alice, action: { name: 'read' }, resource: { type: 'document', id: '1' } };
    expect((await post('evaluation', body, { tenant: 'nosuchtenant' })).status).toBe(404);
    expect((await post('evaluation', body, { tenant: 'acme' })).status).toBe(404);
  });

  it('an unsupported subject type is decision false with an error, not a failure', async () => {
    const r = await post('evaluation', {
      subject: { type: 'robot', id: 'r2' },
      action: { name: 'read' },
      resource: { type: 'document', id: '1' },
    });
    expect(r).toMatchObject({ status: 200, body: { decision: false, context: { error: { status: 400 } } } });
  });
});
