/**
 * The tenant's attribute catalog at the SCIM edge (docs/attributes.md): its
 * SCIM-sourced attributes refine the User schemas a tenant's `/Schemas`
 * describes, and a user write whose catalogued attribute does not fit is
 * refused (`invalidValue`) naming the attribute.
 */
import { attributeCatalog, scimSourceOf, valueProblem } from '../attribute_catalog.js';
import type { AttributeCatalog, AttributeType, CatalogAttribute } from '../attribute_catalog.js';
import { ScimError } from './errors.js';
import type { Json } from './resource.js';
import { ENTERPRISE_USER, ENTERPRISE_USER_SCHEMA, findAttribute, USER } from './schema.js';
import type { Attribute, Schema } from './schema.js';

const CATALOG_TYPE: Readonly<Partial<Record<Attribute['type'], AttributeType>>> = {
  string: 'string',
  boolean: 'boolean',
  integer: 'integer',
  decimal: 'number',
  reference: 'string',
  dateTime: 'string',
};

/** The SCIM attribute a catalogued attribute names, with its schema; undefined for a claim. */
function scimAttributeOf(
  attribute: CatalogAttribute,
): { schema: Schema; attribute: Attribute | undefined } | undefined {
  const source = scimSourceOf(attribute);
  if (source === undefined) return undefined;
  const schema = source.schema === ENTERPRISE_USER_SCHEMA ? ENTERPRISE_USER : USER;
  return { schema, attribute: findAttribute(schema.attributes, source.name) };
}

/**
 * The tenants' catalogs, checked against the SCIM schemas: each SCIM source names a single-valued,
 * writable attribute of User or the enterprise extension, by its canonical name, of the catalogued type.
 *
 * @throws {TypeError} naming the tenant and the attribute that does not fit (a configuration mistake)
 */
export class ScimCatalogs {
  readonly #byTenant: ReadonlyMap<string, AttributeCatalog>;
  readonly #defaults = attributeCatalog(undefined);

  constructor(byTenant: ReadonlyMap<string, AttributeCatalog>) {
    for (const [tenant, catalog] of byTenant) {
      for (const entry of catalog.attributes) {
        const found = scimAttributeOf(entry);
        if (found === undefined) continue;
        const { attribute, schema } = found;
        const where = `tenant ${tenant}: attribute_catalog ${entry.name} (source ${'scim' in entry.source ? entry.source.scim : ''})`;
        if (attribute?.name !== entry.name) {
          throw new TypeError(`${where} is not an attribute of ${schema.id}`);
        }
        if (attribute.multiValued || attribute.mutability === 'readOnly' || attribute.subAttributes !== undefined) {
          throw new TypeError(`${where}: only single-valued, writable simple SCIM attributes can be catalogued`);
        }
        if (CATALOG_TYPE[attribute.type] !== entry.type) {
          throw new TypeError(`${where} is a SCIM ${attribute.type}, not ${entry.type}`);
        }
      }
    }
    this.#byTenant = byTenant;
  }

  catalog(tenant: string): AttributeCatalog {
    return this.#byTenant.get(tenant) ?? this.#defaults;
  }

  /**
   * @throws {ScimError} `ERR_SCIM_INVALID_VALUE` naming the first catalogued attribute whose value does not fit
   */
  checkUser(tenant: string, scim: Json): void {
    for (const entry of this.catalog(tenant).attributes) {
      const found = scimAttributeOf(entry);
      if (found === undefined) continue;
      const container = found.schema === ENTERPRISE_USER ? scim[ENTERPRISE_USER_SCHEMA] : scim;
      if (container === null || typeof container !== 'object') continue;
      const value = (container as Json)[entry.name];
      if (value === undefined || value === null) continue;
      const problem = valueProblem(entry, value);
      if (problem !== undefined) {
        const path = found.schema === ENTERPRISE_USER ? `${ENTERPRISE_USER_SCHEMA}:${entry.name}` : entry.name;
        throw new ScimError('ERR_SCIM_INVALID_VALUE', `attribute "${path}" ${problem} (attribute catalog)`);
      }
    }
  }

  /**
   * A User schema as this tenant's catalog describes it: the descriptions and allowed values of the attributes
   * the tenant catalogued (the platform defaults leave the RFC 7643 definitions as they are).
   */
  refine(tenant: string, schema: Schema): Schema {
    const catalogued = new Map(
      this.catalog(tenant)
        .attributes.filter((a) => a.origin === 'tenant' && scimAttributeOf(a)?.schema === schema)
        .map((a) => [a.name, a]),
    );
    if (catalogued.size === 0) return schema;
    return {
      ...schema,
      attributes: schema.attributes.map((attribute) => {
        const entry = catalogued.get(attribute.name);
        if (entry === undefined) return attribute;
        return {
          ...attribute,
          description: entry.description,
          ...(entry.enum === undefined ? {} : { canonicalValues: entry.enum.map(String) }),
        };
      }),
    };
  }
}
