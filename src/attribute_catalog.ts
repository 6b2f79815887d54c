/**
 * The attribute catalog: the user attributes an app understands, per tenant
 * (the tenants file's `attribute_catalog`) on top of the platform defaults.
 * One table from which the served catalog (`GET /admin/v1/<tenant>/attributes`),
 * the tenant's SCIM `/Schemas`, the checks of SCIM user writes and the JSON
 * Schema of `input.subject.attributes` (policy uploads) all derive
 * (docs/attributes.md).
 */
import { createHash } from 'node:crypto';

export const ATTRIBUTE_TYPES = [
  'string',
  'boolean',
  'integer',
  'number',
  'string[]',
  'boolean[]',
  'integer[]',
  'number[]',
] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

export const SCIM_CORE_USER_URN = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_ENTERPRISE_USER_URN = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

/** Where an attribute's value comes from: a SCIM User attribute (by path), or an OIDC claim. */
export type AttributeSource = { readonly scim: string } | { readonly claim: string };

export interface CatalogAttribute {
  /** Its key in `input.subject.attributes`. */
  readonly name: string;
  readonly type: AttributeType;
  /** The values it may take; absent: any value of its type. */
  readonly enum?: readonly (string | number | boolean)[] | undefined;
  readonly description: string;
  /** What the app uses it for (free text: "authorization", "audit", ...). */
  readonly dataUse?: string | undefined;
  readonly source: AttributeSource;
  /** Declared by the platform (a default) or by the tenant. */
  readonly origin: 'platform' | 'tenant';
}

/** A tenant's catalog. */
export interface AttributeCatalog {
  /** True when the tenants file declares one for the tenant: only then are policy uploads typed by it. */
  readonly declared: boolean;
  readonly attributes: readonly CatalogAttribute[];
  /** Content hash of the attributes: equal catalogs, equal digest. */
  readonly digest: string;
}

const enterprise = (name: string, description: string): CatalogAttribute => ({
  name,
  type: 'string',
  description,
  source: { scim: `${SCIM_ENTERPRISE_USER_URN}:${name}` },
  origin: 'platform',
});
const core = (name: string, description: string): CatalogAttribute => ({
  name,
  type: 'string',
  description,
  source: { scim: name },
  origin: 'platform',
});

/** What every tenant's catalog starts from: the SCIM single-valued strings IdPs commonly provision. */
export const PLATFORM_ATTRIBUTES: readonly CatalogAttribute[] = [
  core('title', "the user's title (SCIM core)"),
  core('userType', 'the relationship to the organization, e.g. Employee, Contractor (SCIM core)'),
  core('displayName', 'the name shown to people (SCIM core)'),
  core('preferredLanguage', 'preferred written or spoken language (SCIM core)'),
  core('locale', 'default location for localization (SCIM core)'),
  core('timezone', 'time zone, IANA name (SCIM core)'),
  enterprise('employeeNumber', 'numeric or alphanumeric identifier assigned by the organization (enterprise)'),
  enterprise('costCenter', 'cost center (enterprise)'),
  enterprise('organization', 'organization (enterprise)'),
  enterprise('division', 'division (enterprise)'),
  enterprise('department', 'department (enterprise)'),
];

/** The platform defaults, with the tenant's own attributes replacing a default of the same name. */
export function attributeCatalog(tenant: readonly CatalogAttribute[] | undefined): AttributeCatalog {
  const byName = new Map(PLATFORM_ATTRIBUTES.map((a) => [a.name, a]));
  for (const attribute of tenant ?? []) byName.set(attribute.name, attribute);
  const attributes = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  const digest = `sha256:${createHash('sha256')
    .update(JSON.stringify(attributes.map(({ origin: _origin, ...rest }) => rest)))
    .digest('hex')
    .slice(0, 16)}`;
  return { declared: tenant !== undefined, attributes, digest };
}

/**
 * The SCIM schema URN and attribute name a SCIM source names (`title`,
 * `urn:…:core:2.0:User:title`, `urn:…:enterprise:2.0:User:department`), or undefined for a claim.
 */
export function scimSourceOf(attribute: CatalogAttribute): { schema: string; name: string } | undefined {
  if (!('scim' in attribute.source)) return undefined;
  const path = attribute.source.scim;
  for (const schema of [SCIM_ENTERPRISE_USER_URN, SCIM_CORE_USER_URN]) {
    if (path.toLowerCase().startsWith(`${schema.toLowerCase()}:`))
      return { schema, name: path.slice(schema.length + 1) };
  }
  return { schema: SCIM_CORE_USER_URN, name: path };
}

const isType: Record<'string' | 'boolean' | 'integer' | 'number', (v: unknown) => boolean> = {
  string: (v) => typeof v === 'string',
  boolean: (v) => typeof v === 'boolean',
  integer: (v) => typeof v === 'number' && Number.isInteger(v),
  number: (v) => typeof v === 'number' && Number.isFinite(v),
};

/** Why a value does not fit the attribute (`must be an integer`, `"Finance" is not an allowed value`), or undefined. */
export function valueProblem(attribute: CatalogAttribute, value: unknown): string | undefined {
  const many = attribute.type.endsWith('[]');
  const item = attribute.type.replace('[]', '') as keyof typeof isType;
  const article = item === 'integer' ? 'an' : 'a';
  if (many && !Array.isArray(value)) return `must be an array of ${item}s`;
  const values: readonly unknown[] = many ? (value as unknown[]) : [value];
  for (const v of values) {
    if (!isType[item](v)) return many ? `must be an array of ${item}s` : `must be ${article} ${item}`;
    if (attribute.enum !== undefined && !attribute.enum.includes(v as string)) {
      return `${JSON.stringify(v)} is not an allowed value (allowed: ${attribute.enum.map((e) => JSON.stringify(e)).join(', ')})`;
    }
  }
  return undefined;
}

/** The JSON Schema of one attribute's value. */
function valueSchema(attribute: CatalogAttribute): Record<string, unknown> {
  const item = attribute.type.replace('[]', '');
  const one: Record<string, unknown> = {
    type: item,
    ...(attribute.enum === undefined || attribute.type.endsWith('[]') ? {} : { enum: [...attribute.enum] }),
  };
  const schema = attribute.type.endsWith('[]')
    ? { type: 'array', items: { type: item, ...(attribute.enum === undefined ? {} : { enum: [...attribute.enum] }) } }
    : one;
  return { ...schema, description: attribute.description };
}

/**
 * `input.subject.attributes` as the catalog types it: closed, so a policy
 * reading an attribute the catalog does not name fails `opa check --schema`.
 */
export function attributesJsonSchema(catalog: AttributeCatalog): Record<string, unknown> {
  return {
    type: 'object',
    description: 'the user attributes of the tenant attribute catalog',
    properties: Object.fromEntries(catalog.attributes.map((a) => [a.name, valueSchema(a)])),
    additionalProperties: false,
  };
}

/** One way a newer catalog breaks a policy written for an older one. */
export interface BreakingChange {
  readonly name: string;
  readonly change: 'removed' | 'type changed';
  readonly detail: string;
}

/** Attributes removed or retyped from `before` to `after` (narrowed allowed values are not breaking for typing). */
export function breakingChanges(
  before: readonly Pick<CatalogAttribute, 'name' | 'type'>[],
  after: readonly Pick<CatalogAttribute, 'name' | 'type'>[],
): BreakingChange[] {
  const now = new Map(after.map((a) => [a.name, a.type]));
  const changes: BreakingChange[] = [];
  for (const { name, type } of before) {
    const next = now.get(name);
    if (next === undefined) changes.push({ name, change: 'removed', detail: `${name} (${type}) was removed` });
    else if (next !== type)
      changes.push({ name, change: 'type changed', detail: `${name} changed from ${type} to ${next}` });
  }
  return changes;
}

/** The catalog as served (snake_case JSON). */
export function catalogDocument(catalog: AttributeCatalog): Record<string, unknown> {
  return {
    declared: catalog.declared,
    digest: catalog.digest,
    attributes: catalog.attributes.map((a) => ({
      name: a.name,
      type: a.type,
      ...(a.enum === undefined ? {} : { enum: a.enum }),
      description: a.description,
      ...(a.dataUse === undefined ? {} : { data_use: a.dataUse }),
      source: 'scim' in a.source ? { scim: a.source.scim } : { claim: a.source.claim },
      origin: a.origin,
    })),
  };
}
