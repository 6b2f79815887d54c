import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { ScimClient } from '../harness/scim_client.js';
import type { ScimResponse } from '../harness/scim_client.js';
import { TestProducer } from '../harness/stream.js';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

let nats: NatsServer;
let producer: TestProducer;
let gateway: TestGateway;
let scim: ScimClient;
let userId: string;
let groupId: string;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  gateway = await startTestGateway(
    nats.url,
    {
      acme: { scim: { bearer_token_sha256: [sha256('t')] } },
      tiny: { scim: { bearer_token_sha256: [sha256('t2')], rate_limit: { requests_per_second: 1, burst: 3 } } },
    },
    { IPSIE_SCIM_MAX_BODY_BYTES: '65536' },
  );
  scim = new ScimClient(gateway.origin, 'acme', 't');
  const user = await scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'Taken@acme.example', active: true });
  userId = user.body?.['id'] as string;
  const group = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Admins' });
  groupId = group.body?.['id'] as string;
});

afterAll(async () => {
  await gateway.stop();
  await producer.close();
  await nats.dispose();
});

/** Runs a request that must be refused, and checks it published nothing and changed nothing. */
async function refused(request: () => Promise<ScimResponse>): Promise<ScimResponse> {
  const before = await producer.lastSequence();
  const digest = gateway.gateway.store.digest('acme');
  const response = await request();
  expect(await producer.lastSequence()).toBe(before);
  expect(gateway.gateway.store.digest('acme')).toBe(digest);
  expect(response.headers.get('content-type')).toMatch(/^application\/scim\+json/);
  expect(response.body?.['schemas']).toEqual(['urn:ietf:params:scim:api:messages:2.0:Error']);
  expect(response.body?.['status']).toBe(String(response.status));
  expect(typeof response.body?.['detail']).toBe('string');
  return response;
}

const huge = {
  schemas: [USER_SCHEMA],
  userName: 'big@acme.example',
  title: 'x'.repeat(4000),
  nickName: 'y'.repeat(70_000),
};

describe('bad SCIM input gets the right error and changes nothing', () => {
  it.each([
    ['malformed JSON', () => scim.request('POST', '/Users', '{"schemas": ['), 400, 'invalidSyntax'],
    ['an empty body', () => scim.request('POST', '/Users', ''), 400, 'invalidSyntax'],
    ['a JSON array', () => scim.post('/Users', [1, 2]), 400, 'invalidSyntax'],
    ['no schemas', () => scim.post('/Users', { userName: 'a@acme.example' }), 400, 'invalidSyntax'],
    [
      'the Group schema on /Users',
      () => scim.post('/Users', { schemas: [GROUP_SCHEMA], userName: 'a' }),
      400,
      'invalidSyntax',
    ],
    [
      'an unknown schema URN',
      () => scim.post('/Users', { schemas: [USER_SCHEMA, 'urn:example:custom'], userName: 'a' }),
      400,
      'invalidSyntax',
    ],
    [
      'an unknown attribute',
      () => scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'a', favouriteColour: 'blue' }),
      400,
      'invalidSyntax',
    ],
    ['a missing userName', () => scim.post('/Users', { schemas: [USER_SCHEMA], active: true }), 400, 'invalidValue'],
    [
      'active that is not a boolean',
      () => scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'a', active: 'maybe' }),
      400,
      'invalidValue',
    ],
    [
      'emails that are not objects',
      () => scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'a', emails: ['a@b'] }),
      400,
      'invalidValue',
    ],
    [
      'two primary e-mails',
      () =>
        scim.post('/Users', {
          schemas: [USER_SCHEMA],
          userName: 'a',
          emails: [
            { value: 'a', primary: true },
            { value: 'b', primary: true },
          ],
        }),
      400,
      'invalidValue',
    ],
    [
      'a duplicate userName (other case)',
      () => scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'taken@ACME.example' }),
      409,
      'uniqueness',
    ],
    [
      'a duplicate group name',
      () => scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'admins' }),
      409,
      'uniqueness',
    ],
    [
      'a member that is not a user of the tenant',
      () => scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'G2', members: [{ value: 'nobody' }] }),
      400,
      'invalidValue',
    ],
    [
      'a nested group member',
      () =>
        scim.post('/Groups', {
          schemas: [GROUP_SCHEMA],
          displayName: 'G3',
          members: [{ value: groupId, type: 'Group' }],
        }),
      400,
      'invalidValue',
    ],
    ['a body over the size limit', () => scim.post('/Users', huge), 413, undefined],
    [
      'a body that is not JSON',
      () => scim.request('POST', '/Users', 'userName=a', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      undefined,
    ],
    ['an invalid filter', () => scim.get(`/Users?filter=${encodeURIComponent('userName eq')}`), 400, 'invalidFilter'],
    [
      'a filter on an unknown attribute',
      () => scim.get(`/Users?filter=${encodeURIComponent('shoeSize gt 40')}`),
      400,
      'invalidFilter',
    ],
    [
      'a filter with an unknown operator',
      () => scim.get(`/Users?filter=${encodeURIComponent('userName like "a"')}`),
      400,
      'invalidFilter',
    ],
    [
      'ordering on a boolean',
      () => scim.get(`/Users?filter=${encodeURIComponent('active gt true')}`),
      400,
      'invalidFilter',
    ],
    [
      'an unbalanced filter',
      () => scim.get(`/Users?filter=${encodeURIComponent('(userName eq "a"')}`),
      400,
      'invalidFilter',
    ],
    ['an unknown attribute in attributes=', () => scim.get('/Users?attributes=shoeSize'), 400, 'invalidPath'],
    ['a count that is not a number', () => scim.get('/Users?count=ten'), 400, 'invalidValue'],
  ])('%s', async (_name, request, status, scimType) => {
    const response = await refused(request);
    expect(response.status).toBe(status);
    expect(response.body?.['scimType']).toBe(scimType);
  });

  it.each([
    ['remove without a path', [{ op: 'remove' }], 'noTarget'],
    ['an unknown op', [{ op: 'merge', path: 'title', value: 'x' }], 'invalidSyntax'],
    ['a read-only attribute (id)', [{ op: 'replace', path: 'id', value: 'x' }], 'mutability'],
    ['a read-only attribute (groups)', [{ op: 'add', path: 'groups', value: [{ value: 'g' }] }], 'mutability'],
    ['an unknown path', [{ op: 'replace', path: 'shoeSize', value: 42 }], 'invalidPath'],
    ['a malformed value filter', [{ op: 'replace', path: 'emails[type eq]', value: 'x' }], 'invalidPath'],
    ['a filter that matches nothing on remove', [{ op: 'remove', path: 'emails[type eq "home"]' }], 'noTarget'],
    ['removing userName', [{ op: 'remove', path: 'userName' }], 'invalidValue'],
    ['a wrong type', [{ op: 'replace', path: 'active', value: 'perhaps' }], 'invalidValue'],
  ])('PATCH with %s', async (_name, operations, scimType) => {
    const response = await refused(async () => await scim.patch(`/Users/${userId}`, operations));
    expect(response.status).toBe(400);
    expect(response.body?.['scimType']).toBe(scimType);
  });

  describe('text that is not Unicode is 400 invalidValue and stores nothing', () => {
    const userBody = (userName: Buffer): Buffer =>
      Buffer.concat([
        Buffer.from(`{"schemas": ["${USER_SCHEMA}"], "userName": "`),
        userName,
        Buffer.from('@acme.example"}'),
      ]);
    const bytes = (...parts: (string | number[])[]): Buffer =>
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

    it.each([
      ['a byte that is never UTF-8 (0xFF)', bytes('bad', [0xff])],
      ['a Latin-1 é (0xE9)', bytes('ren', [0xe9])],
      ['an overlong "/" (0xC0 0xAF)', bytes('a', [0xc0, 0xaf], 'b')],
      ['a UTF-8-encoded surrogate (0xED 0xA0 0x80)', bytes('cesu', [0xed, 0xa0, 0x80])],
      ['a truncated sequence (0xE2 0x82)', bytes('euro', [0xe2, 0x82])],
    ])('raw bytes: %s', async (_name, userName) => {
      const response = await refused(async () => await scim.request('POST', '/Users', userBody(userName)));
      expect(response).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    });

    it.each([
      ['a lone high surrogate in userName', () => scim.request('POST', '/Users', userBody(Buffer.from('\\ud800x')))],
      ['a lone low surrogate', () => scim.request('POST', '/Users', userBody(Buffer.from('x\\udc00')))],
      [
        'a high surrogate before a non-surrogate',
        () => scim.request('POST', '/Users', userBody(Buffer.from('\\ud83d\\u0041'))),
      ],
      [
        'a lone surrogate in a sub-attribute',
        () =>
          scim.request(
            'POST',
            '/Users',
            `{"schemas": ["${USER_SCHEMA}"], "userName": "sub@acme.example", "name": {"givenName": "\\udfff"}}`,
          ),
      ],
      [
        'a lone surrogate in a key',
        () =>
          scim.request('POST', '/Users', `{"schemas": ["${USER_SCHEMA}"], "userName": "k@acme.example", "\\ud800": 1}`),
      ],
      [
        'a lone surrogate in a group displayName',
        () => scim.request('POST', '/Groups', `{"schemas": ["${GROUP_SCHEMA}"], "displayName": "G\\ud800"}`),
      ],
      [
        'a lone surrogate in a PATCH value',
        () =>
          scim.request(
            'PATCH',
            `/Users/${userId}`,
            `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "path": "title", "value": "\\ud800"}]}`,
          ),
      ],
      [
        'a lone surrogate in a PUT',
        () =>
          scim.request(
            'PUT',
            `/Users/${userId}`,
            `{"schemas": ["${USER_SCHEMA}"], "userName": "Taken@acme.example\\udbff"}`,
          ),
      ],
    ])('escape: %s', async (_name, request) => {
      const response = await refused(request);
      expect(response).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    });

    it('a valid surrogate pair (escaped or raw) is text: stored as the character it encodes', async () => {
      const escaped = await scim.request('POST', '/Users', userBody(Buffer.from('smile\\ud83d\\ude00')));
      expect(escaped).toMatchObject({ status: 201, body: { userName: 'smile😀@acme.example' } });
      const raw = await scim.request('POST', '/Users', userBody(Buffer.from('grin😁')));
      expect(raw).toMatchObject({ status: 201, body: { userName: 'grin😁@acme.example' } });
    });

    it('a body nested deeper than any SCIM document is 400 invalidSyntax, not a stack overflow', async () => {
      const depth = 20_000;
      const response = await refused(
        async () =>
          await scim.request(
            'POST',
            '/Users',
            `{"schemas": ["${USER_SCHEMA}"], "userName": "deep@acme.example", "x": ${'['.repeat(depth)}${']'.repeat(depth)}}`,
          ),
      );
      expect(response).toMatchObject({ status: 400, body: { scimType: 'invalidSyntax' } });
    });
  });

  it('renaming another user to a taken userName (any case) is a 409', async () => {
    const other = await scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'other@acme.example' });
    const id = other.body?.['id'] as string;
    const patch = await refused(
      async () => await scim.patch(`/Users/${id}`, [{ op: 'replace', path: 'userName', value: 'TAKEN@acme.example' }]),
    );
    expect(patch).toMatchObject({ status: 409, body: { scimType: 'uniqueness' } });
    const put = await refused(
      async () => await scim.put(`/Users/${id}`, { schemas: [USER_SCHEMA], userName: 'taken@acme.example' }),
    );
    expect(put).toMatchObject({ status: 409, body: { scimType: 'uniqueness' } });
  });

  it('PATCH without the PatchOp schema', async () => {
    const response = await refused(async () => await scim.request('PATCH', `/Users/${userId}`, { Operations: [] }));
    expect(response).toMatchObject({ status: 400, body: { scimType: 'invalidSyntax' } });
  });

  it('a stale If-Match gets 412 and writes nothing', async () => {
    const current = await scim.get(`/Users/${userId}`);
    const etag = current.headers.get('etag') ?? '';
    const stale = `W/"${Number(/\d+/.exec(etag)?.[0]) - 1}"`;
    const response = await refused(
      async () =>
        await scim.patch(`/Users/${userId}`, [{ op: 'replace', path: 'title', value: 'x' }], { 'if-match': stale }),
    );
    expect(response.status).toBe(412);
    const put = await refused(
      async () =>
        await scim.put(
          `/Users/${userId}`,
          { schemas: [USER_SCHEMA], userName: 'Taken@acme.example' },
          { 'if-match': stale },
        ),
    );
    expect(put.status).toBe(412);
    const del = await refused(async () => await scim.delete(`/Users/${userId}`, { 'if-match': stale }));
    expect(del.status).toBe(412);
    // The current ETag passes.
    const ok = await scim.patch(`/Users/${userId}`, [{ op: 'replace', path: 'title', value: 'Boss' }], {
      'if-match': etag,
    });
    expect(ok.status).toBe(200);
  });

  it('an unknown id is a 404 SCIM error', async () => {
    for (const r of [
      await scim.get('/Users/00000000-0000-4000-8000-000000000000'),
      await scim.patch('/Groups/nope', [{ op: 'add', path: 'members', value: [{ value: userId }] }]),
      await scim.delete('/Users/nope'),
    ]) {
      expect(r.status).toBe(404);
      expect(r.body).toMatchObject({ status: '404' });
    }
  });

  it('bulk and unknown endpoints are refused in SCIM form', async () => {
    expect((await scim.post('/Bulk', {})).status).toBe(501);
    expect((await scim.get('/Nonsense')).status).toBe(404);
  });

  it('rate limits a tenant with 429 and Retry-After, and not the others', async () => {
    const tiny = new ScimClient(gateway.origin, 'tiny', 't2');
    const statuses: number[] = [];
    let limited: ScimResponse | undefined;
    for (let i = 0; i < 6; i++) {
      const r = await tiny.get('/ServiceProviderConfig');
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(limited?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(limited?.body).toMatchObject({ status: '429' });
    expect((await scim.get('/ServiceProviderConfig')).status).toBe(200);
  });
});

describe('every answer under the base URL is a SCIM one', () => {
  it('an unknown endpoint is a SCIM 404; a wrong method a SCIM 405 with Allow; the root .search a SCIM 501', async () => {
    const unknown = await refused(async () => await scim.get('/Widgets'));
    expect(unknown.status).toBe(404);
    for (const [method, path] of [
      ['POST', '/ServiceProviderConfig'],
      ['DELETE', '/Schemas'],
      ['PUT', '/ResourceTypes'],
      ['PATCH', '/Users'],
    ] as const) {
      const wrong = await refused(async () => await scim.request(method, path, {}));
      expect(wrong.status).toBe(405);
      expect(wrong.headers.get('allow')).toMatch(/GET/);
    }
    const search = await refused(
      async () => await scim.post('/.search', { schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'] }),
    );
    expect(search.status).toBe(501);
  });

  it('a multi-valued attribute sent as a lone object is refused, not made a list', async () => {
    const r = await refused(
      async () =>
        await scim.post('/Users', {
          schemas: [USER_SCHEMA],
          userName: 'lone@acme.example',
          emails: { value: 'lone@acme.example', type: 'work' },
        }),
    );
    expect(r).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    expect(r.body?.['detail']).toMatch(/emails.*array/);
  });

  it('/Schemas says which resources a reference names (referenceTypes)', async () => {
    const group = await scim.get('/Schemas/urn:ietf:params:scim:schemas:core:2.0:Group');
    const members = (group.body?.['attributes'] as { name: string; subAttributes?: unknown[] }[]).find(
      (a) => a.name === 'members',
    );
    expect(members?.subAttributes).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: '$ref', referenceTypes: ['User'] })]) as unknown,
    );
  });
});

describe('reserved names', () => {
  it('no IdP may provision a userName of the jit: namespace, whose users a sidecar creates at sign-in', async () => {
    for (const userName of ['jit:0b3f1c2e-0000-4000-8000-000000000000', 'JIT:anything']) {
      const r = await refused(async () => await scim.post('/Users', { schemas: [USER_SCHEMA], userName }));
      expect(r).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
    }
    const rename = await refused(
      async () => await scim.patch(`/Users/${userId}`, [{ op: 'replace', path: 'userName', value: 'jit:x' }]),
    );
    expect(rename.status).toBe(400);
  });
});
