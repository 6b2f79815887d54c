/**
 * The attribute catalog end to end, on a real gateway and NATS with the real opa: served by the tenant's
 * admin API, reflected in the tenant's SCIM /Schemas, enforced on SCIM user writes shaped as Entra ID and
 * Okta send them, typing policy uploads, and kept in versions that a breaking change cannot replace while
 * the active policy depends on it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { ScimClient } from '../harness/scim_client.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const SCIM_TOKEN = 'acme-scim-token';
const ADMIN_TOKEN = 'acme-admin-token';
const OTHER_ADMIN = 'globex-admin-token';

const department = {
  name: 'department',
  type: 'string',
  enum: ['R&D', 'Sales'],
  description: 'the department the user works in',
  data_use: 'authorization',
  source: { scim: `${ENTERPRISE}:department` },
};
const userType = {
  name: 'userType',
  type: 'string',
  enum: ['Employee', 'Contractor'],
  description: 'employee or contractor',
  source: { scim: 'userType' },
};
const clearance = {
  name: 'clearance_level',
  type: 'integer',
  enum: [1, 2, 3],
  description: 'security clearance',
  source: { claim: 'clearance_level' },
};

function tenants(attributes: unknown[]): Record<string, unknown> {
  return {
    acme: {
      scim: { bearer_token_sha256: [sha256(SCIM_TOKEN)] },
      admin: { bearer_token_sha256: [sha256(ADMIN_TOKEN)] },
      attribute_catalog: { attributes },
    },
    globex: { admin: { bearer_token_sha256: [sha256(OTHER_ADMIN)] } },
  };
}

let nats: NatsServer;
let gateway: TestGateway;
let scim: ScimClient;

beforeAll(async () => {
  nats = await NatsServer.start();
  gateway = await startTestGateway(nats.url, tenants([department, userType, clearance]));
  scim = new ScimClient(gateway.origin, 'acme', SCIM_TOKEN);
});

afterAll(async () => {
  await gateway.stop();
  await nats.dispose();
});

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function admin(
  method: string,
  path: string,
  body?: unknown,
  token = ADMIN_TOKEN,
  tenant = 'acme',
): Promise<Answer> {
  const response = await fetch(`${gateway.origin}/admin/v1/${tenant}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

function entraUser(name: string, enterprise: Record<string, unknown>): Record<string, unknown> {
  return {
    schemas: [USER, ENTERPRISE],
    externalId: `${name}-object-id`,
    userName: `${name}@acme.example`,
    active: true,
    emails: [{ primary: true, type: 'work', value: `${name}@acme.example` }],
    meta: { resourceType: 'User' },
    name: { formatted: 'A Person', familyName: 'Person', givenName: 'A' },
    roles: [],
    [ENTERPRISE]: enterprise,
  };
}

const upload = async (rego: string): Promise<Answer> =>
  await admin('POST', '/policies', { modules: { 'authz.rego': rego } });

describe('the catalog served by the admin API', () => {
  it("answers the tenant's catalog, version 1, with the platform defaults it did not replace", async () => {
    const r = await admin('GET', '/attributes');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ tenant: 'acme', version: 1, declared: true });
    const attributes = r.body['attributes'] as Record<string, unknown>[];
    expect(attributes.find((a) => a['name'] === 'department')).toEqual({
      name: 'department',
      type: 'string',
      enum: ['R&D', 'Sales'],
      description: 'the department the user works in',
      data_use: 'authorization',
      source: { scim: `${ENTERPRISE}:department` },
      origin: 'tenant',
      version: 1,
    });
    expect(attributes.find((a) => a['name'] === 'clearance_level')).toMatchObject({
      type: 'integer',
      source: { claim: 'clearance_level' },
    });
    expect(attributes.find((a) => a['name'] === 'title')).toMatchObject({
      origin: 'platform',
      source: { scim: 'title' },
    });
  });

  it("refuses another tenant's admin token and a missing one", async () => {
    expect((await admin('GET', '/attributes', undefined, OTHER_ADMIN)).status).toBe(401);
    expect((await admin('GET', '/attributes', undefined, 'nothing')).status).toBe(401);
  });

  it('answers a tenant without a catalog with the platform defaults, undeclared', async () => {
    const r = await admin('GET', '/attributes', undefined, OTHER_ADMIN, 'globex');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ tenant: 'globex', declared: false, version: 1 });
  });
});

describe("the catalog in the tenant's SCIM /Schemas", () => {
  it('describes catalogued SCIM attributes with their allowed values and description', async () => {
    const r = await scim.get(`/Schemas/${ENTERPRISE}`);
    expect(r.status).toBe(200);
    const attributes = r.body?.['attributes'] as Record<string, unknown>[];
    expect(attributes.find((a) => a['name'] === 'department')).toMatchObject({
      type: 'string',
      canonicalValues: ['R&D', 'Sales'],
      description: 'the department the user works in',
    });
    const core = (await scim.get('/Schemas')).body?.['Resources'] as Record<string, unknown>[];
    const user = core.find((s) => s['id'] === USER)?.['attributes'] as Record<string, unknown>[];
    expect(user.find((a) => a['name'] === 'userType')).toMatchObject({ canonicalValues: ['Employee', 'Contractor'] });
    // Claims are not SCIM attributes.
    expect(JSON.stringify(core)).not.toContain('clearance_level');
  });
});

describe('SCIM user writes checked against the catalog', () => {
  it('Entra: a create with a department outside the allowed values is refused, naming the attribute', async () => {
    const r = await scim.post('/Users', entraUser('finn', { department: 'Finance', employeeNumber: '1' }));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ scimType: 'invalidValue', status: '400' });
    expect(r.body?.['detail']).toContain(`${ENTERPRISE}:department`);
    expect(r.body?.['detail']).toContain('"Finance" is not an allowed value');
    expect(
      (await scim.get(`/Users?filter=${encodeURIComponent('userName eq "finn@acme.example"')}`)).body,
    ).toMatchObject({ totalResults: 0 });
  });

  it('catches a catalogued attribute written in another case or through a differently cased PATCH path', async () => {
    const shouted = await scim.post('/Users', {
      ...entraUser('casey', {}),
      [ENTERPRISE.toUpperCase()]: { DEPARTMENT: 'Finance' },
      schemas: [USER, ENTERPRISE.toUpperCase()],
    });
    expect(shouted.status).toBe(400);
    expect(shouted.body).toMatchObject({ scimType: 'invalidValue' });
    const created = await scim.post('/Users', entraUser('casey', { department: 'Sales' }));
    expect(created.status).toBe(201);
    const patched = await scim.patch(`/Users/${created.body?.['id'] as string}`, [
      { op: 'replace', path: `${ENTERPRISE}:Department`, value: 'Finance' },
      { op: 'replace', path: 'USERTYPE', value: 'Intern' },
    ]);
    expect(patched.status).toBe(400);
    expect(patched.body).toMatchObject({ scimType: 'invalidValue' });
    // Removing a catalogued attribute is not a value that does not fit.
    const removed = await scim.patch(`/Users/${created.body?.['id'] as string}`, [
      { op: 'remove', path: `${ENTERPRISE}:department` },
    ]);
    expect(removed.status).toBe(200);
  });

  it('Entra: a create with a department of the wrong type is refused as invalidValue', async () => {
    const r = await scim.post('/Users', entraUser('typo', { department: 7 }));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ scimType: 'invalidValue' });
    expect(r.body?.['detail']).toContain('department');
  });

  it('Entra: a PATCH replacing the department with a value outside the catalog is refused; an allowed one is kept', async () => {
    const created = await scim.post('/Users', entraUser('dana', { department: 'R&D' }));
    expect(created.status).toBe(201);
    const id = created.body?.['id'] as string;
    const refused = await scim.patch(`/Users/${id}`, [
      { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Finance' },
    ]);
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ scimType: 'invalidValue' });
    expect(refused.body?.['detail']).toContain(`${ENTERPRISE}:department`);
    // Entra's other PATCH shape: a value object without a path.
    const alsoRefused = await scim.patch(`/Users/${id}`, [
      { op: 'replace', value: { [`${ENTERPRISE}:department`]: 'Marketing' } },
    ]);
    expect(alsoRefused.status).toBe(400);
    expect((await scim.get(`/Users/${id}`)).body).toMatchObject({ [ENTERPRISE]: { department: 'R&D' } });
    const accepted = await scim.patch(`/Users/${id}`, [
      { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Sales' },
    ]);
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ [ENTERPRISE]: { department: 'Sales' } });
  });

  it('Okta: a PUT after a GET with a userType outside the catalog is refused; uncatalogued attributes pass as before', async () => {
    const created = await scim.post('/Users', {
      schemas: [USER],
      userName: 'olga@acme.example',
      name: { givenName: 'Olga', familyName: 'Okta' },
      emails: [{ primary: true, value: 'olga@acme.example', type: 'work' }],
      displayName: 'Olga Okta',
      locale: 'en-US',
      externalId: '00u1olga',
      groups: [],
      password: 'sup3r-secret!',
      active: true,
      title: 'Any title at all',
      nickName: 'O',
      userType: 'Employee',
    });
    expect(created.status).toBe(201);
    const id = created.body?.['id'] as string;
    const current = await scim.get(`/Users/${id}`);
    const etag = current.headers.get('etag') ?? '';
    const refused = await scim.put(
      `/Users/${id}`,
      { ...current.body, schemas: [USER], userType: 'Intern' },
      {
        'if-match': etag,
      },
    );
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ scimType: 'invalidValue' });
    expect(refused.body?.['detail']).toContain('attribute "userType"');
    const accepted = await scim.put(
      `/Users/${id}`,
      { ...current.body, schemas: [USER], userType: 'Contractor', title: 'Another title' },
      { 'if-match': etag },
    );
    expect(accepted.status).toBe(200);
    expect(accepted.body).toMatchObject({ userType: 'Contractor', title: 'Another title' });
  });
});

describe('policy uploads typed by the catalog', () => {
  it('refuses a policy reading a misspelt attribute, with file and line', async () => {
    const r = await upload('package tenants.acme\n\nallow if {\n\tinput.subject.attributes.departmnet == "R&D"\n}\n');
    expect(r.status).toBe(422);
    expect(r.body).toMatchObject({ code: 'ERR_POLICY_COMPILE_FAILED' });
    expect((r.body['problems'] as unknown[])[0]).toMatchObject({
      file: 'authz.rego',
      row: 4,
      code: 'rego_type_error',
      message: 'undefined ref: input.subject.attributes.departmnet',
    });
  });

  it('refuses comparing the integer clearance_level with a string, with file and line', async () => {
    const r = await upload(
      'package tenants.acme\n\nallow if {\n\tinput.subject.attributes.clearance_level == "high"\n}\n',
    );
    expect(r.status).toBe(422);
    expect((r.body['problems'] as unknown[])[0]).toMatchObject({ file: 'authz.rego', row: 4, code: 'rego_type_error' });
  });

  it('accepts a policy that uses the catalogued attributes as typed', async () => {
    const r = await upload(
      'package tenants.acme\n\nallow if {\n\tinput.subject.attributes.clearance_level >= 2\n\tinput.subject.attributes.department == "R&D"\n}\n',
    );
    expect(r.status).toBe(201);
  });

  it('leaves a tenant without a declared catalog untyped', async () => {
    const r = await admin(
      'POST',
      '/policies',
      { modules: { 'authz.rego': 'package tenants.globex\n\nallow if input.subject.attributes.anything == 1\n' } },
      OTHER_ADMIN,
      'globex',
    );
    expect(r.status).toBe(201);
  });
});

/** A gateway started with this catalog must refuse to start: its error (one that started is stopped). */
async function refusedStart(attributes: unknown[]): Promise<Error & { code?: string }> {
  let started: TestGateway;
  try {
    started = await startTestGateway(nats.url, tenants(attributes));
  } catch (error) {
    return error as Error & { code?: string };
  }
  await started.stop();
  throw new Error('the gateway started');
}

describe('catalog versions and breaking changes', () => {
  const active = 'package tenants.acme\n\nallow if {\n\tinput.subject.attributes.clearance_level >= 2\n}\n';

  it('refuses to start with a catalog that removes or retypes an attribute the active policy reads, naming it and the version', async () => {
    const uploaded = await upload(active);
    expect(uploaded.status).toBe(201);
    const version = uploaded.body['version'] as string;
    expect((await admin('POST', `/policies/${version}/activate`, {})).status).toBe(200);

    const removed = await refusedStart([department, userType]);
    expect(removed).toMatchObject({ code: 'ERR_CATALOG_ATTRIBUTES_BREAKING' });
    expect(removed.message).toContain(`breaks its active policy ${version} (clearance_level (integer) was removed)`);
    expect(removed.message).toContain('authz.rego:4: undefined ref: input.subject.attributes.clearance_level');
    const retyped = await refusedStart([department, userType, { ...clearance, type: 'string', enum: ['high'] }]);
    expect(retyped).toMatchObject({ code: 'ERR_CATALOG_ATTRIBUTES_BREAKING' });
    expect(retyped.message).toMatch(/clearance_level changed from integer to string\): authz\.rego:4: /);
    // Nothing was kept of the refused catalogs.
    expect(((await admin('GET', '/attributes/versions')).body['versions'] as unknown[]).length).toBe(1);
  });

  it('keeps a compatible change as the next version, and every earlier one', async () => {
    const more = { name: 'projects', type: 'string[]', description: 'projects', source: { claim: 'projects' } };
    const next = await startTestGateway(nats.url, tenants([department, userType, clearance, more]));
    try {
      const r = await fetch(`${next.origin}/admin/v1/acme/attributes`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const served = (await r.json()) as { version: number; attributes: { name: string; version: number }[] };
      expect(served.version).toBe(2);
      // Each attribute says which catalog version its definition dates from.
      expect(served.attributes.find((a) => a.name === 'projects')?.version).toBe(2);
      expect(served.attributes.find((a) => a.name === 'department')?.version).toBe(1);
      const versions = (await admin('GET', '/attributes/versions')).body['versions'] as Record<string, unknown>[];
      expect(versions.map((v) => v['version'])).toEqual([2, 1]);
      expect(JSON.stringify(versions[1])).not.toContain('projects');
      expect((await admin('GET', '/attributes/versions/1')).body).toMatchObject({ version: 1 });
      expect((await admin('GET', '/attributes/versions/9')).status).toBe(404);
    } finally {
      await next.stop();
    }
  });

  it('refuses to activate a stored version that no longer fits the catalog, with file and line', async () => {
    const call = async (origin: string, path: string, body: unknown): Promise<Answer> => {
      const response = await fetch(`${origin}/admin/v1/acme/policies${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const projects = { name: 'projects', type: 'string[]', description: 'projects', source: { claim: 'projects' } };
    // Uploaded under the catalog with projects (version 2); never activated.
    const withProjects = await startTestGateway(nats.url, tenants([department, userType, clearance, projects]));
    let stale: Answer;
    let fits: Answer;
    try {
      stale = await call(withProjects.origin, '', {
        modules: {
          'authz.rego': 'package tenants.acme\n\nallow if {\n\t"apollo" in input.subject.attributes.projects\n}\n',
        },
      });
      expect(stale.status).toBe(201);
      fits = await call(withProjects.origin, '', {
        modules: {
          'authz.rego': 'package tenants.acme\n\nallow if {\n\tinput.subject.attributes.clearance_level == 3\n}\n',
        },
      });
      expect(fits.status).toBe(201);
    } finally {
      await withProjects.stop();
    }
    // The active policy does not read projects: removing it is a compatible change for it (version 3).
    const next = await startTestGateway(nats.url, tenants([department, userType, clearance]));
    try {
      const refused = await call(next.origin, `/${String(stale.body['version'])}/activate`, {});
      expect(refused.status).toBe(422);
      expect((refused.body['problems'] as unknown[])[0]).toMatchObject({
        file: 'authz.rego',
        row: 4,
        message: 'undefined ref: input.subject.attributes.projects',
      });
      expect((await call(next.origin, `/${String(fits.body['version'])}/activate`, {})).status).toBe(200);
      // Rolling back to the version active before, which fits, is allowed.
      expect((await call(next.origin, '/rollback', {})).status).toBe(200);
      const versions = (await admin('GET', '/attributes/versions')).body['versions'] as Record<string, unknown>[];
      expect(versions.map((v) => v['version'])).toEqual([3, 2, 1]);
    } finally {
      await next.stop();
    }
  });
});
