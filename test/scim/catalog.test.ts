import { describe, expect, it } from 'vitest';
import { attributeCatalog } from '../../src/attribute_catalog.js';
import type { CatalogAttribute } from '../../src/attribute_catalog.js';
import { ScimCatalogs } from '../../src/scim/catalog.js';
import { ENTERPRISE_USER, USER } from '../../src/scim/schema.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const attribute = (overrides: Partial<CatalogAttribute>): CatalogAttribute => ({
  name: 'department',
  type: 'string',
  description: 'd',
  source: { scim: `${ENTERPRISE}:department` },
  origin: 'tenant',
  ...overrides,
});

const catalogs = (...attributes: CatalogAttribute[]): ScimCatalogs =>
  new ScimCatalogs(new Map([['acme', attributeCatalog(attributes)]]));

describe('ScimCatalogs', () => {
  it.each([
    [attribute({ name: 'dept', source: { scim: `${ENTERPRISE}:dept` } }), 'is not an attribute of'],
    [attribute({ name: 'Department' }), 'is not an attribute of'],
    [attribute({ name: 'emails', source: { scim: 'emails' } }), 'only single-valued, writable simple'],
    [attribute({ name: 'manager', source: { scim: `${ENTERPRISE}:manager` } }), 'only single-valued'],
    [attribute({ name: 'active', type: 'string', source: { scim: 'active' } }), 'is a SCIM boolean, not string'],
    [attribute({ type: 'integer' }), 'is a SCIM string, not integer'],
  ])('refuses at start-up a SCIM source the SCIM schema cannot hold: %j', (entry, message) => {
    expect(() => catalogs(entry)).toThrow(message);
  });

  it('names the attribute and its path when a write does not fit, core or enterprise', () => {
    const scim = catalogs(attribute({ enum: ['R&D'] }), {
      ...attribute({ name: 'userType', source: { scim: 'userType' } }),
      enum: ['Employee'],
    });
    expect(() => {
      scim.checkUser('acme', { [ENTERPRISE]: { department: 'Sales' } });
    }).toThrow(`attribute "${ENTERPRISE}:department" "Sales" is not an allowed value (allowed: "R&D")`);
    expect(() => {
      scim.checkUser('acme', { userType: 'Intern' });
    }).toThrow('attribute "userType"');
    expect(() => {
      scim.checkUser('acme', { userType: 'Employee', [ENTERPRISE]: { department: 'R&D' } });
    }).not.toThrow();
    // Another tenant has the platform defaults: no allowed values.
    expect(() => {
      scim.checkUser('globex', { userType: 'Intern' });
    }).not.toThrow();
  });

  it("describes the tenant's catalogued attributes in its schemas only", () => {
    const scim = catalogs(attribute({ enum: ['R&D', 'Sales'], description: 'where they work' }));
    const refined = scim.refine('acme', ENTERPRISE_USER).attributes.find((a) => a.name === 'department');
    expect(refined).toMatchObject({ canonicalValues: ['R&D', 'Sales'], description: 'where they work' });
    expect(scim.refine('globex', ENTERPRISE_USER).attributes.find((a) => a.name === 'department')).not.toHaveProperty(
      'canonicalValues',
    );
    // The platform defaults leave the RFC 7643 definitions alone.
    expect(scim.refine('acme', USER)).toBe(USER);
  });
});
