import { describe, expect, it } from 'vitest';
import {
  attributeCatalog,
  attributesJsonSchema,
  breakingChanges,
  PLATFORM_ATTRIBUTES,
  valueProblem,
} from '../src/attribute_catalog.js';
import type { CatalogAttribute } from '../src/attribute_catalog.js';
import { parseConfig } from '../src/config/index.js';
import type { TenantSettings } from '../src/config/index.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

function tenants(acme: unknown): readonly TenantSettings[] {
  return parseConfig({ IPSIE_TENANTS_FILE: JSON.stringify({ tenants: { acme } }) }, (t) => t).tenants;
}

function refusal(acme: unknown): string {
  try {
    tenants(acme);
  } catch (error) {
    expect(error).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    return (error as Error).message;
  }
  throw new Error('accepted');
}

const department = {
  name: 'department',
  type: 'string',
  enum: ['R&D', 'Sales'],
  description: 'the department',
  data_use: 'authorization',
  source: { scim: `${ENTERPRISE}:department` },
};
const clearance = {
  name: 'clearance_level',
  type: 'integer',
  enum: [1, 2, 3],
  description: 'clearance',
  source: { claim: 'clearance_level' },
};

describe('the attribute catalog in the tenants file', () => {
  it('a tenant without a catalog has the platform defaults, undeclared', () => {
    const catalog = tenants({}).at(0)?.attributeCatalog;
    expect(catalog?.declared).toBe(false);
    expect(catalog?.attributes.map((a) => a.name).sort()).toEqual(PLATFORM_ATTRIBUTES.map((a) => a.name).sort());
  });

  it("a tenant's attribute replaces the default of the same name and others are added", () => {
    const catalog = tenants({ attribute_catalog: { attributes: [department, clearance] } }).at(0)?.attributeCatalog;
    expect(catalog?.declared).toBe(true);
    expect(catalog?.attributes.find((a) => a.name === 'department')).toMatchObject({
      enum: ['R&D', 'Sales'],
      dataUse: 'authorization',
      origin: 'tenant',
    });
    expect(catalog?.attributes.find((a) => a.name === 'clearance_level')).toMatchObject({
      type: 'integer',
      source: { claim: 'clearance_level' },
    });
    expect(catalog?.attributes.find((a) => a.name === 'title')?.origin).toBe('platform');
  });

  it.each([
    [{ ...department, type: 'date' }, 'attributes[0].type must be one of string'],
    [{ ...department, enum: ['R&D', 7] }, 'attributes[0].enum[1] must be a string'],
    [{ ...clearance, enum: [1, 'high'] }, 'attributes[0].enum[1] must be an integer'],
    [{ ...department, source: {} }, 'attributes[0].source needs exactly one of scim or claim'],
    [{ ...department, source: { scim: 'x', claim: 'y' } }, 'attributes[0].source needs exactly one of scim or claim'],
    [{ ...department, name: 'dept' }, 'attributes[0].source.scim names SCIM attribute department'],
    [{ ...department, name: 'a-b', source: { claim: 'c' } }, 'attributes[0].name must be a letter'],
    [{ ...department, colour: 'red' }, 'attributes[0].colour is not a known setting'],
  ])('refuses a malformed attribute, naming its path: %j', (attribute, message) => {
    expect(refusal({ attribute_catalog: { attributes: [attribute] } })).toContain(
      `tenants.acme.attribute_catalog.${message}`,
    );
  });

  it('refuses an attribute named twice', () => {
    expect(refusal({ attribute_catalog: { attributes: [department, department] } })).toContain(
      'names department twice',
    );
  });

  it('equal catalogs have equal digests; a change changes it', () => {
    const one = attributeCatalog(
      tenants({ attribute_catalog: { attributes: [department] } })
        .at(0)
        ?.attributeCatalog.attributes.filter((a) => a.origin === 'tenant'),
    );
    const same = tenants({ attribute_catalog: { attributes: [department] } }).at(0)?.attributeCatalog;
    const other = tenants({ attribute_catalog: { attributes: [{ ...department, enum: ['R&D'] }] } }).at(
      0,
    )?.attributeCatalog;
    expect(same?.digest).toBe(one.digest);
    expect(other?.digest).not.toBe(one.digest);
  });
});

describe('values against the catalog', () => {
  const attr = (type: CatalogAttribute['type'], values?: CatalogAttribute['enum']): CatalogAttribute => ({
    name: 'a',
    type,
    enum: values,
    description: 'a',
    source: { claim: 'a' },
    origin: 'tenant',
  });
  it.each([
    [attr('string'), 7, 'must be a string'],
    [attr('integer'), 1.5, 'must be an integer'],
    [attr('integer'), '3', 'must be an integer'],
    [attr('number'), true, 'must be a number'],
    [attr('boolean'), 'true', 'must be a boolean'],
    [attr('string[]'), 'x', 'must be an array of strings'],
    [attr('string[]'), ['x', 1], 'must be an array of strings'],
    [attr('string', ['R&D']), 'Finance', '"Finance" is not an allowed value (allowed: "R&D")'],
    [attr('string[]', ['a', 'b']), ['a', 'c'], '"c" is not an allowed value'],
  ])('refuses %j with %j', (attribute, value, problem) => {
    expect(valueProblem(attribute, value)).toContain(problem);
  });

  it.each([
    [attr('string', ['R&D']), 'R&D'],
    [attr('integer'), 3],
    [attr('number'), 1.5],
    [attr('boolean'), false],
    [attr('integer[]', [1, 2]), [2, 1]],
  ])('accepts %j with %j', (attribute, value) => {
    expect(valueProblem(attribute, value)).toBeUndefined();
  });
});

describe('the JSON Schema of input.subject.attributes', () => {
  it('is closed and types every attribute', () => {
    const schema = attributesJsonSchema(attributeCatalog([]));
    expect(schema).toMatchObject({ type: 'object', additionalProperties: false });
    expect((schema['properties'] as Record<string, unknown>)['department']).toMatchObject({ type: 'string' });
  });
});

describe('breaking changes', () => {
  it('names removed and retyped attributes, not added ones', () => {
    expect(
      breakingChanges(
        [
          { name: 'a', type: 'string' },
          { name: 'b', type: 'integer' },
          { name: 'c', type: 'string' },
        ],
        [
          { name: 'b', type: 'string' },
          { name: 'c', type: 'string' },
          { name: 'd', type: 'string' },
        ],
      ),
    ).toEqual([
      { name: 'a', change: 'removed', detail: 'a (string) was removed' },
      { name: 'b', change: 'type changed', detail: 'b changed from integer to string' },
    ]);
  });
});
