/**
 * PATCH (RFC 7644 §3.5.2) in the forms Microsoft Entra ID and Okta send
 * (shared/reference/standards.md §4.2, §4.3), and what a hostile
 * provisioning client could send instead.
 */
import { describe, expect, it } from 'vitest';
import { applyPatch } from '../../src/scim/patch.js';
import type { Json } from '../../src/scim/resource.js';
import { ENTERPRISE_USER_SCHEMA, PATCH_OP_SCHEMA, RESOURCE_TYPES } from '../../src/scim/schema.js';
import type { ScimErrorCode } from '../../src/scim/errors.js';

const USER = RESOURCE_TYPES.User;
const GROUP = RESOURCE_TYPES.Group;

const BABS: Json = {
  userName: 'bjensen@example.com',
  active: true,
  externalId: 'bjensen',
  name: { givenName: 'Barbara', familyName: 'Jensen' },
  emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
  [ENTERPRISE_USER_SCHEMA]: { department: 'Tour Operations' },
};

const ENGINEERING: Json = {
  displayName: 'Engineering',
  members: [
    { value: 'u-1', display: 'alice' },
    { value: 'u-2', display: 'bob' },
  ],
};

const patchOp = (...operations: unknown[]): Json => ({ schemas: [PATCH_OP_SCHEMA], Operations: operations });
const patchUser = (...operations: unknown[]): Json => applyPatch(USER, BABS, patchOp(...operations));
const patchGroup = (...operations: unknown[]): Json => applyPatch(GROUP, ENGINEERING, patchOp(...operations));
/** The code of the error `fn` throws; undefined when it does not throw. */
function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return undefined;
}

const memberIds = (group: Json): unknown[] => ((group['members'] as Json[] | undefined) ?? []).map((m) => m['value']);

describe('PATCH as Microsoft Entra ID sends it', () => {
  it.each([
    ['Replace', 'False', false],
    ['Replace', 'True', true],
    ['replace', 'false', false],
    ['REPLACE', 'FALSE', false],
  ])('%s active with the string %j sets a boolean (the default job sends strings)', (op, value, active) => {
    expect(patchUser({ op, path: 'active', value })['active']).toBe(active);
  });

  it('applies one operation per attribute, core, complex, filtered and enterprise paths alike', () => {
    const out = patchUser(
      { op: 'Replace', path: 'name.givenName', value: 'Babs' },
      { op: 'Replace', path: 'emails[type eq "work"].value', value: 'babs@example.com' },
      { op: 'Add', path: `${ENTERPRISE_USER_SCHEMA}:employeeNumber`, value: '701984' },
      { op: 'Replace', path: 'title', value: 'Tour Guide' },
    );
    expect(out).toMatchObject({
      name: { givenName: 'Babs', familyName: 'Jensen' },
      emails: [{ value: 'babs@example.com', type: 'work', primary: true }],
      title: 'Tour Guide',
      [ENTERPRISE_USER_SCHEMA]: { department: 'Tour Operations', employeeNumber: '701984' },
    });
  });

  it('creates the work e-mail when emails[type eq "work"].value finds none', () => {
    const out = applyPatch(
      USER,
      { userName: 'x@example.com' },
      patchOp({ op: 'Add', path: 'emails[type eq "work"].value', value: 'x@example.com' }),
    );
    expect(out['emails']).toEqual([{ type: 'work', value: 'x@example.com' }]);
  });

  it('creates the element from every equality of an and-filter', () => {
    const out = applyPatch(
      USER,
      { userName: 'x@example.com' },
      patchOp({
        op: 'replace',
        path: 'phoneNumbers[type eq "mobile" and primary eq true].value',
        value: '+1 555 0100',
      }),
    );
    expect(out['phoneNumbers']).toEqual([{ type: 'mobile', primary: true, value: '+1 555 0100' }]);
  });

  it('reads a path-less replace whose keys are dotted and URN-prefixed paths (aadOptscim062020)', () => {
    const out = patchUser({
      op: 'replace',
      value: {
        'name.givenName': 'Babs',
        [`${ENTERPRISE_USER_SCHEMA}:employeeNumber`]: '701984',
        active: false,
        'emails[type eq "work"].value': 'babs@example.com',
      },
    });
    expect(out).toMatchObject({
      active: false,
      name: { givenName: 'Babs', familyName: 'Jensen' },
      emails: [{ value: 'babs@example.com', type: 'work', primary: true }],
      [ENTERPRISE_USER_SCHEMA]: { department: 'Tour Operations', employeeNumber: '701984' },
    });
  });

  it('reads a path-less value keyed by the extension URN as that extension’s attributes', () => {
    const out = patchUser({
      op: 'replace',
      value: { [ENTERPRISE_USER_SCHEMA]: { department: 'R&D', costCenter: '4130' } },
    });
    expect(out[ENTERPRISE_USER_SCHEMA]).toEqual({ department: 'R&D', costCenter: '4130' });
  });

  it('adds a member sent with "$ref": null, dropping the null', () => {
    const out = patchGroup({ op: 'Add', path: 'members', value: [{ $ref: null, value: 'u-3' }] });
    expect(out['members']).toEqual([...(ENGINEERING['members'] as Json[]), { value: 'u-3' }]);
  });

  it('removes exactly the members named in a value array (the default job’s removal)', () => {
    expect(memberIds(patchGroup({ op: 'Remove', path: 'members', value: [{ value: 'u-1' }] }))).toEqual(['u-2']);
  });

  it('removes a member named by a value filter (aadOptscim062020)', () => {
    expect(memberIds(patchGroup({ op: 'remove', path: 'members[value eq "u-2"]' }))).toEqual(['u-1']);
  });

  it('treats removing a member that is not one as done: IdPs resend removals on retries', () => {
    expect(memberIds(patchGroup({ op: 'remove', path: 'members[value eq "u-9"]' }))).toEqual(['u-1', 'u-2']);
    expect(memberIds(patchGroup({ op: 'Remove', path: 'members', value: [{ value: 'u-9' }] }))).toEqual(['u-1', 'u-2']);
  });

  it('does not add a member twice when the same add is resent', () => {
    const once = patchGroup({ op: 'add', path: 'members', value: [{ value: 'u-3' }] });
    const twice = applyPatch(GROUP, once, patchOp({ op: 'add', path: 'members', value: [{ value: 'u-3' }] }));
    expect(memberIds(twice)).toEqual(['u-1', 'u-2', 'u-3']);
  });
});

describe('PATCH as Okta sends it', () => {
  it('deactivates with a path-less replace of active', () => {
    expect(patchUser({ op: 'replace', value: { active: false } })['active']).toBe(false);
  });

  it('renames a group with a path-less replace that repeats the read-only id', () => {
    const out = patchGroup({ op: 'replace', value: { id: 'g-1', displayName: 'Platform' } });
    expect(out).toEqual({ ...ENGINEERING, displayName: 'Platform' });
  });

  it('removes by filter and adds by value array in one request, in order', () => {
    const out = patchGroup(
      { op: 'replace', value: { id: 'g-1', displayName: 'Engineering' } },
      { op: 'remove', path: 'members[value eq "u-1"]' },
      { op: 'add', path: 'members', value: [{ value: 'u-3', display: 'carol' }] },
    );
    expect(memberIds(out)).toEqual(['u-2', 'u-3']);
  });

  it('replaces the whole member list with replace on members', () => {
    expect(memberIds(patchGroup({ op: 'replace', path: 'members', value: [{ value: 'u-7' }] }))).toEqual(['u-7']);
  });

  it('removes every member with remove on members and no value', () => {
    expect(patchGroup({ op: 'remove', path: 'members' })).toEqual({ displayName: 'Engineering' });
  });

  it('accepts "operations" spelled in lower case', () => {
    expect(
      applyPatch(USER, BABS, {
        schemas: [PATCH_OP_SCHEMA],
        operations: [{ op: 'replace', path: 'title', value: 'T' }],
      })['title'],
    ).toBe('T');
  });
});

describe('PATCH refuses', () => {
  it.each([
    ['a body that is not an object', [], 'ERR_SCIM_INVALID_SYNTAX'],
    ['a body that is a string', 'replace active', 'ERR_SCIM_INVALID_SYNTAX'],
    ['no schemas', { Operations: [{ op: 'replace', path: 'title', value: 'T' }] }, 'ERR_SCIM_INVALID_SYNTAX'],
    [
      'the wrong schema',
      {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        Operations: [{ op: 'replace', path: 'title', value: 'T' }],
      },
      'ERR_SCIM_INVALID_SYNTAX',
    ],
    [
      'schemas as a string',
      { schemas: PATCH_OP_SCHEMA, Operations: [{ op: 'replace', path: 'title', value: 'T' }] },
      'ERR_SCIM_INVALID_SYNTAX',
    ],
    ['no operations', { schemas: [PATCH_OP_SCHEMA] }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['an empty operation list', { schemas: [PATCH_OP_SCHEMA], Operations: [] }, 'ERR_SCIM_INVALID_SYNTAX'],
    [
      'operations as an object',
      { schemas: [PATCH_OP_SCHEMA], Operations: { op: 'replace' } },
      'ERR_SCIM_INVALID_SYNTAX',
    ],
  ] as [string, unknown, ScimErrorCode][])('%s', (_what, body, code) => {
    expect(codeOf(() => applyPatch(USER, BABS, body))).toBe(code);
  });

  it.each([
    ['an operation that is not an object', 'replace', 'ERR_SCIM_INVALID_SYNTAX'],
    ['an operation that is null', null, 'ERR_SCIM_INVALID_SYNTAX'],
    ['no op', { path: 'title', value: 'T' }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['an op RFC 6902 has but SCIM not', { op: 'move', path: 'title', value: 'T' }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['an op that is not a string', { op: 1, path: 'title', value: 'T' }, 'ERR_SCIM_INVALID_SYNTAX'],
    ['an empty path', { op: 'replace', path: '', value: 'T' }, 'ERR_SCIM_INVALID_PATH'],
    ['a blank path', { op: 'replace', path: '   ', value: 'T' }, 'ERR_SCIM_INVALID_PATH'],
    ['a path that is not a string', { op: 'replace', path: ['title'], value: 'T' }, 'ERR_SCIM_INVALID_PATH'],
    ['an unknown attribute', { op: 'replace', path: 'salary', value: 1 }, 'ERR_SCIM_INVALID_PATH'],
    ['a path too deep', { op: 'replace', path: 'name.givenName.first', value: 'B' }, 'ERR_SCIM_INVALID_PATH'],
    [
      'a filter on a single-valued attribute',
      { op: 'replace', path: 'name[givenName eq "B"].familyName', value: 'J' },
      'ERR_SCIM_INVALID_PATH',
    ],
    ['an unclosed filter', { op: 'replace', path: 'emails[type eq "work"', value: 'x' }, 'ERR_SCIM_INVALID_PATH'],
    [
      'text after the path',
      { op: 'replace', path: 'emails[type eq "work"].value extra', value: 'x' },
      'ERR_SCIM_INVALID_PATH',
    ],
    [
      'a sub-attribute of a multi-valued attribute without a filter',
      { op: 'replace', path: 'emails.value', value: 'x' },
      'ERR_SCIM_INVALID_PATH',
    ],
    ['a path named __proto__', { op: 'replace', path: '__proto__', value: { active: false } }, 'ERR_SCIM_INVALID_PATH'],
    [
      'a path into another extension',
      { op: 'replace', path: 'urn:example:params:scim:schemas:extension:acme:2.0:User:level', value: '9' },
      'ERR_SCIM_INVALID_PATH',
    ],
    ['remove without a path', { op: 'remove' }, 'ERR_SCIM_NO_TARGET'],
    ['remove of an e-mail that is not there', { op: 'remove', path: 'emails[type eq "home"]' }, 'ERR_SCIM_NO_TARGET'],
    [
      'a filtered replace that matches nothing and names no value to create',
      { op: 'replace', path: 'emails[value sw "z"].type', value: 'home' },
      'ERR_SCIM_NO_TARGET',
    ],
    ['a path-less add whose value is not an object', { op: 'add', value: 'bjensen' }, 'ERR_SCIM_INVALID_VALUE'],
    [
      'a path-less replace whose value is a list',
      { op: 'replace', value: [{ active: false }] },
      'ERR_SCIM_INVALID_VALUE',
    ],
    ['writing the id', { op: 'replace', path: 'id', value: 'other-user' }, 'ERR_SCIM_MUTABILITY'],
    ['writing meta', { op: 'replace', path: 'meta.created', value: '2020-01-01T00:00:00Z' }, 'ERR_SCIM_MUTABILITY'],
    [
      'joining a group through the user',
      { op: 'add', path: 'groups', value: [{ value: 'g-admins' }] },
      'ERR_SCIM_MUTABILITY',
    ],
    ['removing the userName', { op: 'remove', path: 'userName' }, 'ERR_SCIM_INVALID_VALUE'],
    ['replacing the userName with null', { op: 'replace', path: 'userName', value: null }, 'ERR_SCIM_INVALID_VALUE'],
    [
      'active that is neither true nor false',
      { op: 'replace', path: 'active', value: 'yes' },
      'ERR_SCIM_INVALID_VALUE',
    ],
    ['active as a number', { op: 'replace', path: 'active', value: 0 }, 'ERR_SCIM_INVALID_VALUE'],
    ['a name that is a string', { op: 'replace', path: 'name', value: 'Barbara Jensen' }, 'ERR_SCIM_INVALID_VALUE'],
    ['a list for a single value', { op: 'replace', path: 'title', value: ['a', 'b'] }, 'ERR_SCIM_INVALID_VALUE'],
    [
      'a string over 4096 characters',
      { op: 'replace', path: 'title', value: 'x'.repeat(4097) },
      'ERR_SCIM_INVALID_VALUE',
    ],
    [
      'two primary e-mails',
      {
        op: 'add',
        path: 'emails',
        value: [
          { value: 'a@x', primary: true },
          { value: 'b@x', primary: true },
        ],
      },
      'ERR_SCIM_INVALID_VALUE',
    ],
    ['an e-mail that is not an object', { op: 'add', path: 'emails', value: ['a@x'] }, 'ERR_SCIM_INVALID_VALUE'],
    [
      'an unknown sub-attribute in a value',
      { op: 'replace', path: 'name', value: { nickname: 'B' } },
      'ERR_SCIM_INVALID_SYNTAX',
    ],
  ] as [string, unknown, ScimErrorCode][])('%s', (_what, operation, code) => {
    expect(codeOf(() => patchUser(operation))).toBe(code);
  });

  it.each([
    ['removing the displayName', { op: 'remove', path: 'displayName' }, 'ERR_SCIM_INVALID_VALUE'],
    [
      'a member’s display (read-only)',
      { op: 'replace', path: 'members[value eq "u-1"].display', value: 'mallory' },
      'ERR_SCIM_MUTABILITY',
    ],
    ['a path-less key that is no attribute', { op: 'replace', value: { owner: 'mallory' } }, 'ERR_SCIM_INVALID_PATH'],
  ] as [string, unknown, ScimErrorCode][])('on a group, %s', (_what, operation, code) => {
    expect(codeOf(() => patchGroup(operation))).toBe(code);
  });

  it('a path-less key named __proto__, parsed from JSON as an own key', () => {
    const body = JSON.parse(
      `{"schemas":["${PATCH_OP_SCHEMA}"],"Operations":[{"op":"replace","value":{"__proto__":{"active":false}}}]}`,
    ) as unknown;
    expect(codeOf(() => applyPatch(USER, BABS, body))).toBe('ERR_SCIM_INVALID_PATH');
  });

  it('up to 1000 operations, and refuses one more', () => {
    const ops = (n: number): unknown[] =>
      Array.from({ length: n }, (_, i) => ({ op: 'replace', path: 'title', value: `t${i}` }));
    expect(applyPatch(USER, BABS, patchOp(...ops(1_000)))['title']).toBe('t999');
    expect(codeOf(() => applyPatch(USER, BABS, patchOp(...ops(1_001))))).toBe('ERR_SCIM_INVALID_SYNTAX');
  });

  it('the whole request when a later operation fails, leaving the document as it was', () => {
    const before = structuredClone(BABS);
    expect(
      codeOf(() =>
        applyPatch(
          USER,
          BABS,
          patchOp({ op: 'replace', path: 'active', value: false }, { op: 'replace', path: 'id', value: 'x' }),
        ),
      ),
    ).toBe('ERR_SCIM_MUTABILITY');
    expect(BABS).toEqual(before);
  });
});

describe('PATCH paths and values', () => {
  it('match attribute names in any case (RFC 7643 §2.1) and write them canonically', () => {
    const out = patchUser(
      { op: 'replace', path: 'NAME.GIVENNAME', value: 'B' },
      { op: 'replace', path: 'Emails[Type eq "work"].Value', value: 'b@example.com' },
      { op: 'replace', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:DEPARTMENT', value: 'R&D' },
    );
    expect(out['name']).toEqual({ givenName: 'B', familyName: 'Jensen' });
    expect(out['emails']).toEqual([{ value: 'b@example.com', type: 'work', primary: true }]);
    expect(out[ENTERPRISE_USER_SCHEMA]).toEqual({ department: 'R&D' });
  });

  it('keeps unicode values exactly as sent', () => {
    const out = patchUser({ op: 'replace', path: 'displayName', value: 'Bárbara Jénsen 👩‍💻\u200d' });
    expect(out['displayName']).toBe('Bárbara Jénsen 👩‍💻\u200d');
  });

  it('creates the extension object on the first write into it, and drops an emptied one', () => {
    const plain = { userName: 'x@example.com' };
    const written = applyPatch(
      USER,
      plain,
      patchOp({ op: 'add', path: `${ENTERPRISE_USER_SCHEMA}:costCenter`, value: '7' }),
    );
    expect(written[ENTERPRISE_USER_SCHEMA]).toEqual({ costCenter: '7' });
    expect(applyPatch(USER, plain, patchOp({ op: 'remove', path: `${ENTERPRISE_USER_SCHEMA}:costCenter` }))).toEqual(
      plain,
    );
  });

  it('reads a null value on replace as removal of an optional attribute', () => {
    expect(patchUser({ op: 'replace', path: 'externalId', value: null })).not.toHaveProperty('externalId');
  });

  it('removes the last e-mail by filter and drops the emptied list', () => {
    expect(patchUser({ op: 'remove', path: 'emails[type eq "work"]' })).not.toHaveProperty('emails');
  });
});
