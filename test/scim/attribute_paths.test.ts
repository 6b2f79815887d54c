import { describe, expect, it } from 'vitest';
import { parseAttributePaths } from '../../src/scim/attribute_paths.js';
import { ENTERPRISE_USER_SCHEMA, RESOURCE_TYPES, USER_SCHEMA } from '../../src/scim/schema.js';

const USER = RESOURCE_TYPES.User;
const GROUP = RESOURCE_TYPES.Group;

/** Each target as `schema#attribute[.sub]`. */
const named = (type: typeof USER, list: string): string[] =>
  parseAttributePaths(type, list).map(
    (t) => `${t.schema.id}#${t.attribute.name}${t.subAttribute === undefined ? '' : `.${t.subAttribute.name}`}`,
  );

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return undefined;
}

describe('parseAttributePaths (RFC 7644 §3.4.2.5)', () => {
  it('reads a comma-separated list of attributes and sub-attributes', () => {
    expect(named(USER, 'userName,name.givenName,emails.value')).toEqual([
      `${USER_SCHEMA}#userName`,
      `${USER_SCHEMA}#name.givenName`,
      `${USER_SCHEMA}#emails.value`,
    ]);
  });

  it('reads names in any case, and returns them canonically', () => {
    expect(named(USER, 'USERNAME,Name.GivenName')).toEqual([
      `${USER_SCHEMA}#userName`,
      `${USER_SCHEMA}#name.givenName`,
    ]);
  });

  it('finds an enterprise attribute by its URN or by its bare name', () => {
    expect(named(USER, `${ENTERPRISE_USER_SCHEMA}:department,employeeNumber,manager.value`)).toEqual([
      `${ENTERPRISE_USER_SCHEMA}#department`,
      `${ENTERPRISE_USER_SCHEMA}#employeeNumber`,
      `${ENTERPRISE_USER_SCHEMA}#manager.value`,
    ]);
  });

  it('reads the common attributes (id, externalId, meta) of every resource', () => {
    expect(named(GROUP, 'id,externalId,meta.lastModified')).toHaveLength(3);
  });

  it('reads excludedAttributes=members as Entra sends it on group reads', () => {
    expect(named(GROUP, 'members')).toEqual(['urn:ietf:params:scim:schemas:core:2.0:Group#members']);
  });

  it('ignores blanks around names and empty entries', () => {
    expect(named(USER, ' userName , ,, emails ')).toEqual([`${USER_SCHEMA}#userName`, `${USER_SCHEMA}#emails`]);
    expect(parseAttributePaths(USER, '')).toEqual([]);
    expect(parseAttributePaths(USER, ' , ')).toEqual([]);
  });

  it.each([
    ['an unknown attribute', 'salary'],
    ['an unknown sub-attribute', 'name.nickname'],
    ['a path too deep', 'name.givenName.first'],
    ['a group attribute on a user', 'members'],
    ['a user attribute on a group', 'userName', GROUP],
    ['an unknown schema URN', 'urn:example:acme:2.0:User:level'],
    ['a core attribute under the enterprise URN', `${ENTERPRISE_USER_SCHEMA}:userName`],
    ['__proto__', '__proto__'],
    ['constructor', 'constructor'],
    ['a filter (not allowed here)', 'emails[type eq "work"]'],
    ['one bad name among good ones', 'userName,nope,emails'],
  ])('refuses %s with invalidPath', (_what, list, type = USER) => {
    expect(codeOf(() => parseAttributePaths(type, list))).toBe('ERR_SCIM_INVALID_PATH');
  });
});
