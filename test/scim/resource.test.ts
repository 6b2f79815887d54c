/**
 * SCIM JSON in and out: request bodies as Entra ID and Okta send them
 * (shared/reference/standards.md §4.2, §4.3), what a hostile provisioning
 * client could send instead, the mapping to store records and back, and
 * `attributes` / `excludedAttributes`.
 */
import { describe, expect, it } from 'vitest';
import {
  etagOf,
  groupDocument,
  groupResource,
  normalizeResource,
  project,
  projectionOf,
  userDocument,
  groupStateOf,
  userStateOf,
  userResource,
} from '../../src/scim/resource.js';
import type { Json } from '../../src/scim/resource.js';
import {
  ENTERPRISE_USER_SCHEMA,
  ENTRA_GROUP_SCHEMA,
  GROUP_SCHEMA,
  RESOURCE_TYPES,
  USER_SCHEMA,
} from '../../src/scim/schema.js';
import type { GroupRecord, UserRecord } from '../../src/store/index.js';

const USER = RESOURCE_TYPES.User;
const GROUP = RESOURCE_TYPES.Group;
const CONTEXT = { baseUrl: 'https://app.example/scim/v2/acme' };

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return undefined;
}

/** Microsoft Entra's create-user request (use-scim-to-provision-users-and-groups.md). */
const ENTRA_USER: Json = {
  schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
  externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
  userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com',
  active: true,
  emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@contoso.com' }],
  meta: { resourceType: 'User' },
  name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
  roles: [],
  [ENTERPRISE_USER_SCHEMA]: { employeeNumber: '701984', department: 'Tour Operations', manager: { value: 'm-1' } },
};

/** Okta's create-user request (reference/scim/scim-20). */
const OKTA_USER: Json = {
  schemas: [USER_SCHEMA],
  userName: 'test.user@okta.local',
  name: { givenName: 'Test', familyName: 'User' },
  emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }],
  displayName: 'Test User',
  locale: 'en-US',
  externalId: '00ujl29u0le5T6Aj10h7',
  groups: [],
  password: '1mz050nq',
  active: true,
};

/** Microsoft Entra's create-group request, with its own schema next to the core one. */
const ENTRA_GROUP: Json = {
  schemas: [GROUP_SCHEMA, ENTRA_GROUP_SCHEMA],
  externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
  displayName: 'displayName',
  meta: { resourceType: 'Group' },
};

describe('normalizeResource', () => {
  it("takes Entra's create-user request, dropping the read-only meta", () => {
    const { schemas: _schemas, meta: _meta, ...expected } = ENTRA_USER;
    expect(normalizeResource(USER, ENTRA_USER, { requireSchemas: true })).toEqual(expected);
  });

  it("takes Okta's create-user request, dropping the read-only groups and never keeping the password", () => {
    const out = normalizeResource(USER, OKTA_USER, { requireSchemas: true });
    expect(out).not.toHaveProperty('password');
    expect(out).not.toHaveProperty('groups');
    expect(out).toMatchObject({ userName: 'test.user@okta.local', displayName: 'Test User', active: true });
  });

  it("takes Entra's create-group request, its Entra schema URN accepted and ignored", () => {
    expect(normalizeResource(GROUP, ENTRA_GROUP, { requireSchemas: true })).toEqual({
      externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
      displayName: 'displayName',
    });
  });

  it('never takes the id from the client: id is the service provider’s', () => {
    expect(
      normalizeResource(USER, { ...OKTA_USER, id: 'chosen-by-client' }, { requireSchemas: true }),
    ).not.toHaveProperty('id');
  });

  it('writes attribute names canonically whatever their case, schemas URNs included', () => {
    const out = normalizeResource(
      USER,
      { schemas: [USER_SCHEMA.toUpperCase()], USERNAME: 'a@x', Name: { GIVENNAME: 'A' }, ACTIVE: 'True' },
      { requireSchemas: true },
    );
    expect(out).toEqual({ userName: 'a@x', name: { givenName: 'A' }, active: true });
  });

  it('reads null as unassigned', () => {
    expect(
      normalizeResource(USER, { userName: 'a@x', title: null, name: { givenName: null } }, { requireSchemas: false }),
    ).toEqual({
      userName: 'a@x',
      name: {},
    });
  });

  it('refuses a single complex value where a list is expected (RFC 7643 §2.4: a JSON array)', () => {
    expect(() =>
      normalizeResource(USER, { userName: 'a@x', emails: { value: 'a@x', type: 'work' } }, { requireSchemas: false }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SCIM_INVALID_VALUE' }));
  });

  it('keeps unicode and a 4096-character string as sent', () => {
    const out = normalizeResource(
      USER,
      { userName: 'Zoë.Ångström@example.com', displayName: '山田 太郎', title: 'x'.repeat(4096) },
      { requireSchemas: false },
    );
    expect(out).toEqual({ userName: 'Zoë.Ångström@example.com', displayName: '山田 太郎', title: 'x'.repeat(4096) });
  });

  it.each([
    ['a body that is a list', [OKTA_USER], 'ERR_SCIM_INVALID_SYNTAX'],
    ['a body that is null', null, 'ERR_SCIM_INVALID_SYNTAX'],
    ['no schemas', { ...OKTA_USER, schemas: undefined }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['schemas without the core schema', { ...OKTA_USER, schemas: [ENTERPRISE_USER_SCHEMA] }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['an unknown schema', { ...OKTA_USER, schemas: [USER_SCHEMA, 'urn:example:acme:User'] }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['the group schema on a user', { ...OKTA_USER, schemas: [USER_SCHEMA, GROUP_SCHEMA] }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['schemas that are not strings', { ...OKTA_USER, schemas: [USER_SCHEMA, 1] }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['schemas as a string', { ...OKTA_USER, schemas: USER_SCHEMA }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['an unknown attribute', { ...OKTA_USER, salary: 1 }, 'ERR_SCIM_INVALID_SYNTAX'],
    [
      'an unknown enterprise attribute',
      { ...OKTA_USER, [ENTERPRISE_USER_SCHEMA]: { clearance: 'top' } },
      'ERR_SCIM_INVALID_SYNTAX',
    ],
    ['an unknown sub-attribute', { ...OKTA_USER, name: { givenName: 'A', nick: 'a' } }, 'ERR_SCIM_INVALID_SYNTAX'],
    [
      'the enterprise extension as a string',
      { ...OKTA_USER, [ENTERPRISE_USER_SCHEMA]: 'R&D' },
      'ERR_SCIM_INVALID_VALUE',
    ],
    ['no userName', { ...OKTA_USER, userName: undefined }, 'ERR_SCIM_INVALID_VALUE'],
    ['an empty userName', { ...OKTA_USER, userName: '' }, 'ERR_SCIM_INVALID_VALUE'],
    ['a userName that is a number', { ...OKTA_USER, userName: 42 }, 'ERR_SCIM_INVALID_VALUE'],
    ['a userName that is a list', { ...OKTA_USER, userName: ['a', 'b'] }, 'ERR_SCIM_INVALID_VALUE'],
    [
      'a userName over 4096 characters',
      { ...OKTA_USER, userName: `${'a'.repeat(4091)}@x.com` },
      'ERR_SCIM_INVALID_VALUE',
    ],
    ['active as "yes"', { ...OKTA_USER, active: 'yes' }, 'ERR_SCIM_INVALID_VALUE'],
    ['active as 1', { ...OKTA_USER, active: 1 }, 'ERR_SCIM_INVALID_VALUE'],
    ['a password that is not a string', { ...OKTA_USER, password: { hash: 'x' } }, 'ERR_SCIM_INVALID_VALUE'],
    [
      'two primary e-mails',
      {
        ...OKTA_USER,
        emails: [
          { value: 'a@x', primary: true },
          { value: 'b@x', primary: 'true' },
        ],
      },
      'ERR_SCIM_INVALID_VALUE',
    ],
    ['an e-mail that is a string', { ...OKTA_USER, emails: ['a@x'] }, 'ERR_SCIM_INVALID_VALUE'],
    ['a name that is a string', { ...OKTA_USER, name: 'Test User' }, 'ERR_SCIM_INVALID_VALUE'],
  ])('refuses a user with %s', (_what, body, code) => {
    expect(codeOf(() => normalizeResource(USER, body, { requireSchemas: true }))).toBe(code);
  });

  it.each([
    ['no displayName', { schemas: [GROUP_SCHEMA] }, 'ERR_SCIM_INVALID_VALUE'],
    [
      'a member that is a string',
      { schemas: [GROUP_SCHEMA], displayName: 'G', members: ['u-1'] },
      'ERR_SCIM_INVALID_VALUE',
    ],
    ['a user attribute', { schemas: [GROUP_SCHEMA], displayName: 'G', userName: 'x' }, 'ERR_SCIM_INVALID_SYNTAX'],
  ])('refuses a group with %s', (_what, body, code) => {
    expect(codeOf(() => normalizeResource(GROUP, body, { requireSchemas: true }))).toBe(code);
  });

  it('refuses a key named __proto__ (parsed from JSON as an own key) as an unknown attribute', () => {
    const body = JSON.parse(`{"userName":"a@x","__proto__":{"active":false}}`) as unknown;
    expect(codeOf(() => normalizeResource(USER, body, { requireSchemas: false }))).toBe('ERR_SCIM_INVALID_SYNTAX');
  });
});

describe('userStateOf', () => {
  it('stores profile attributes flat, core and enterprise, and keeps identifiers apart', () => {
    const scim = normalizeResource(USER, ENTRA_USER, { requireSchemas: true });
    const { state, active } = userStateOf(scim);
    expect(active).toBe(true);
    expect(state).toEqual({
      user_name: ENTRA_USER['userName'],
      external_id: ENTRA_USER['externalId'],
      attributes: {
        emails: ENTRA_USER['emails'],
        name: ENTRA_USER['name'],
        roles: [],
        employeeNumber: '701984',
        department: 'Tour Operations',
        manager: { value: 'm-1' },
      },
      roles: [],
    });
  });

  it('leaves active undefined when the document does not assign it: never a silent true', () => {
    expect(userStateOf({ userName: 'a@x' }).active).toBeUndefined();
  });

  it('reads the role values for policies', () => {
    expect(
      userStateOf({ userName: 'a@x', roles: [{ value: 'admin' }, { display: 'no value' }, { value: 'auditor' }] }).state
        .roles,
    ).toEqual(['admin', 'auditor']);
  });

  it('gives a user without externalId a null one, as the change format has it', () => {
    expect(userStateOf({ userName: 'a@x' }).state.external_id).toBeNull();
  });
});

describe('groupStateOf', () => {
  it('reads the name and externalId of a group, and nothing else', () => {
    expect(groupStateOf({ displayName: 'Eng', externalId: 'e-1', members: [{ value: 'u-1' }] })).toEqual({
      display_name: 'Eng',
      external_id: 'e-1',
    });
    expect(groupStateOf({ displayName: 'Eng' })).toEqual({ display_name: 'Eng', external_id: null });
  });
});

describe('store records and SCIM documents', () => {
  const record = (scim: Json, extra: Partial<UserRecord> = {}): UserRecord => {
    const { state, active } = userStateOf(scim);
    return {
      tenantId: 'acme',
      id: 'u-1',
      userName: state.user_name,
      externalId: state.external_id ?? undefined,
      active: active ?? true,
      attributes: state.attributes,
      roles: state.roles,
      ...extra,
    };
  };

  it('gives PATCH back the document that was stored', () => {
    const scim = normalizeResource(USER, ENTRA_USER, { requireSchemas: true });
    expect(userDocument(record(scim))).toEqual(scim);
  });

  it('leaves stored attributes that are not SCIM attributes out of the document', () => {
    const doc = userDocument(record({ userName: 'a@x' }, { attributes: { clearance: 'top', title: 'T' } }));
    expect(doc).toEqual({ userName: 'a@x', active: true, title: 'T' });
  });

  it('represents a user with its schemas, groups and meta', () => {
    const user = record(normalizeResource(USER, ENTRA_USER, { requireSchemas: true }), {
      version: { sequence: 17, createdAt: Date.UTC(2026, 0, 1), modifiedAt: Date.UTC(2026, 0, 2) },
    });
    const resource = userResource(user, [{ id: 'g-1', displayName: 'Engineering' }], CONTEXT);
    expect(resource).toMatchObject({
      schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
      id: 'u-1',
      groups: [{ value: 'g-1', $ref: `${CONTEXT.baseUrl}/Groups/g-1`, display: 'Engineering', type: 'direct' }],
      meta: {
        resourceType: 'User',
        created: '2026-01-01T00:00:00.000Z',
        lastModified: '2026-01-02T00:00:00.000Z',
        location: `${CONTEXT.baseUrl}/Users/u-1`,
        version: 'W/"17"',
      },
    });
  });

  it('names the enterprise schema only when the user has enterprise attributes', () => {
    expect(userResource(record({ userName: 'a@x' }), [], CONTEXT)['schemas']).toEqual([USER_SCHEMA]);
  });

  it('represents a group with its members, and reads back as its document', () => {
    const group: GroupRecord = { tenantId: 'acme', id: 'g-1', displayName: 'Engineering', externalId: 'ext-g' };
    const members = [{ id: 'u-1', userName: 'alice@x' }];
    expect(groupResource(group, members, CONTEXT)).toMatchObject({
      schemas: [GROUP_SCHEMA],
      id: 'g-1',
      displayName: 'Engineering',
      externalId: 'ext-g',
      members: [{ value: 'u-1', $ref: `${CONTEXT.baseUrl}/Users/u-1`, display: 'alice@x', type: 'User' }],
      meta: { resourceType: 'Group', location: `${CONTEXT.baseUrl}/Groups/g-1`, version: 'W/"0"' },
    });
    expect(normalizeResource(GROUP, groupDocument(group, members), { requireSchemas: false })).toEqual({
      displayName: 'Engineering',
      externalId: 'ext-g',
      members: [{ value: 'u-1' }],
    });
  });

  it('makes a weak ETag of the stream sequence', () => {
    expect(etagOf(0)).toBe('W/"0"');
    expect(etagOf(9_007_199_254_740_991)).toBe('W/"9007199254740991"');
  });
});

describe('attributes and excludedAttributes', () => {
  const resource: Json = {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
    id: 'u-1',
    userName: 'a@x',
    name: { givenName: 'A', familyName: 'B' },
    emails: [
      { value: 'a@x', type: 'work', primary: true },
      { value: 'h@x', type: 'home' },
    ],
    [ENTERPRISE_USER_SCHEMA]: { department: 'R&D', employeeNumber: '7' },
    meta: { resourceType: 'User' },
  };
  const projected = (attributes: string | undefined, excluded: string | undefined): Json =>
    project(USER, resource, projectionOf(USER, attributes, excluded));

  it('returns the resource unchanged with neither parameter', () => {
    expect(projected(undefined, undefined)).toBe(resource);
  });

  it('returns only the named attributes, with id and schemas always', () => {
    expect(projected('userName,department', undefined)).toEqual({
      schemas: resource['schemas'],
      id: 'u-1',
      userName: 'a@x',
      [ENTERPRISE_USER_SCHEMA]: { department: 'R&D' },
    });
  });

  it('returns named sub-attributes of single and multi-valued attributes', () => {
    expect(projected('name.givenName,emails.value', undefined)).toEqual({
      schemas: resource['schemas'],
      id: 'u-1',
      name: { givenName: 'A' },
      emails: [{ value: 'a@x' }, { value: 'h@x' }],
    });
  });

  it('removes excluded attributes and sub-attributes, without changing the resource', () => {
    const before = structuredClone(resource);
    expect(projected(undefined, 'emails.type,name,employeeNumber,meta')).toEqual({
      schemas: resource['schemas'],
      id: 'u-1',
      userName: 'a@x',
      emails: [{ value: 'a@x', primary: true }, { value: 'h@x' }],
      [ENTERPRISE_USER_SCHEMA]: { department: 'R&D' },
    });
    expect(resource).toEqual(before);
  });

  it('never excludes id, which is returned always', () => {
    expect(projected(undefined, 'id')['id']).toBe('u-1');
  });

  it('refuses an unknown attribute in either parameter', () => {
    expect(codeOf(() => projectionOf(USER, 'userName,salary', undefined))).toBe('ERR_SCIM_INVALID_PATH');
    expect(codeOf(() => projectionOf(USER, undefined, 'salary'))).toBe('ERR_SCIM_INVALID_PATH');
  });
});
