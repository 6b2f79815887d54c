import { describe, expect, it } from 'vitest';
import { applyPatch, matches, parseFilter, RESOURCE_TYPES } from '../../src/scim/index.js';

const USER = RESOURCE_TYPES.User;
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const babs = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
  id: '2819c223-7f76-453a-919d-413861904646',
  externalId: 'bjensen',
  userName: 'bjensen@example.com',
  name: { familyName: "O'Malley", givenName: 'Barbara' },
  title: 'Tour Guide',
  userType: 'Employee',
  active: true,
  emails: [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@jensen.org', type: 'home' },
  ],
  [ENTERPRISE]: { department: 'Tour Operations', employeeNumber: '701984' },
  meta: { lastModified: '2011-05-13T04:42:34Z', created: '2010-01-23T04:56:22Z' },
};

const test = (filter: string): boolean => matches(USER, babs, parseFilter(USER, filter));

describe('SCIM filters (RFC 7644 §3.4.2.2 examples)', () => {
  it.each([
    ['userName eq "bjensen@example.com"', true],
    ['USERNAME EQ "BJensen@Example.com"', true], // names, operators and userName values are case-insensitive
    ['name.familyName co "O\'Malley"', true],
    ['userName sw "bjen"', true],
    ['title pr', true],
    ['nickName pr', false],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', false],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', true],
    ['meta.lastModified lt "2011-05-13T04:42:35Z"', true],
    ['title pr and userType eq "Employee"', true],
    ['title pr or userType eq "Intern"', true],
    ['userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")', true],
    ['userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")', false],
    ['userType eq "Employee" and (emails.type eq "work")', true],
    ['userType eq "Employee" and emails[type eq "work" and value co "@example.com"]', true],
    ['emails[type eq "home" and value co "@example.com"]', false],
    ['emails[type eq "work"].value eq "bjensen@example.com"', true],
    ['externalId eq "BJENSEN"', false], // externalId is caseExact
    ['id eq "2819c223-7f76-453a-919d-413861904646"', true],
    ['active eq true', true],
    ['active ne true', false],
    [`${ENTERPRISE}:department eq "tour operations"`, true],
    ['department eq "Tour Operations"', true],
    ['title eq null', false],
    ['nickName eq null', true],
  ])('%s -> %s', (filter, expected) => {
    expect(test(filter)).toBe(expected);
  });

  it('binds and tighter than or', () => {
    // false and false or true = (false and false) or true = true
    expect(test('title eq "x" and title eq "y" or userType eq "Employee"')).toBe(true);
    // true or false and false = true or (false and false) = true
    expect(test('userType eq "Employee" or title eq "x" and title eq "y"')).toBe(true);
    expect(test('(userType eq "Employee" or title eq "x") and title eq "y"')).toBe(false);
  });

  it.each([
    ['', 'empty'],
    ['userName', 'unexpected end'],
    ['userName "a"', 'expected an operator'],
    ['userName eq', 'unexpected end'],
    ['userName regex "a"', 'unknown operator'],
    ['shoeSize gt 3', 'unknown attribute'],
    ['name.middle eq "x"', 'unknown attribute'],
    ['emails[shoe eq "x"]', 'no sub-attribute'],
    ['emails[type eq "work"', 'unexpected end'],
    ['emails[type eq "work")', 'expected "]"'],
    ['active gt false', 'only eq and ne'],
    ['userName co 5', 'needs a string'],
    ['userName eq "a" extra', 'unexpected text'],
    ['userName eq "unterminated', 'unexpected character'],
    ['('.repeat(40) + 'title pr' + ')'.repeat(40), 'nested too deeply'],
  ])('refuses %j (%s)', (filter, problem) => {
    expect(() => parseFilter(USER, filter)).toThrow(expect.objectContaining({ code: 'ERR_SCIM_INVALID_FILTER' }));
    expect(() => parseFilter(USER, filter)).toThrow(problem);
  });
});

describe('PATCH semantics', () => {
  const patch = (doc: Record<string, unknown>, ...operations: unknown[]): Record<string, unknown> =>
    applyPatch(USER, doc, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: operations });
  const doc = { userName: 'a@x', name: { givenName: 'A', familyName: 'B' }, emails: [{ value: 'a@x', type: 'work' }] };

  it('replace on a complex attribute merges sub-attributes; it does not drop the others', () => {
    expect(patch(doc, { op: 'replace', path: 'name', value: { givenName: 'Z' } })['name']).toEqual({
      givenName: 'Z',
      familyName: 'B',
    });
  });

  it('add to a multi-valued attribute appends, without duplicating an equal value', () => {
    const out = patch(doc, {
      op: 'add',
      path: 'emails',
      value: [
        { value: 'a@x', type: 'work' },
        { value: 'h@x', type: 'home' },
      ],
    });
    expect(out['emails']).toEqual([
      { value: 'a@x', type: 'work' },
      { value: 'h@x', type: 'home' },
    ]);
  });

  it('a new primary value clears the old one', () => {
    const withPrimary = { ...doc, emails: [{ value: 'a@x', type: 'work', primary: true }] };
    const out = patch(withPrimary, {
      op: 'add',
      path: 'emails',
      value: [{ value: 'n@x', type: 'home', primary: true }],
    });
    expect((out['emails'] as { primary?: boolean }[]).map((e) => e.primary)).toEqual([false, true]);
  });

  it('replace with a filter and sub-attribute changes only the matching element', () => {
    const two = {
      ...doc,
      emails: [
        { value: 'a@x', type: 'work' },
        { value: 'h@x', type: 'home' },
      ],
    };
    const out = patch(two, { op: 'replace', path: 'emails[type eq "home"].value', value: 'new@x' });
    expect(out['emails']).toEqual([
      { value: 'a@x', type: 'work' },
      { value: 'new@x', type: 'home' },
    ]);
  });

  it('remove with a filter removes only matching elements; a sub-attribute path removes only it', () => {
    const two = {
      ...doc,
      emails: [
        { value: 'a@x', type: 'work' },
        { value: 'h@x', type: 'home' },
      ],
    };
    expect(patch(two, { op: 'remove', path: 'emails[type eq "work"]' })['emails']).toEqual([
      { value: 'h@x', type: 'home' },
    ]);
    expect(patch(two, { op: 'remove', path: 'emails[type eq "work"].type' })['emails']).toEqual([
      { value: 'a@x' },
      { value: 'h@x', type: 'home' },
    ]);
  });

  it('does not change the input document', () => {
    const before = JSON.stringify(doc);
    patch(doc, { op: 'replace', path: 'name.givenName', value: 'Q' }, { op: 'remove', path: 'emails' });
    expect(JSON.stringify(doc)).toBe(before);
  });

  it('applies operations in order, all or nothing (a later failure throws)', () => {
    expect(() => patch(doc, { op: 'replace', path: 'title', value: 'T' }, { op: 'remove' })).toThrow(
      expect.objectContaining({ code: 'ERR_SCIM_NO_TARGET' }),
    );
  });
});
