/**
 * Tenant ids are `[a-z][a-z0-9_]{0,62}` and not a Rego keyword: they double
 * as Rego package names (`tenants.<tenant>`) and NATS subject tokens
 * (`ipsie.state.<tenant>.…`). A keyword (`if`, `not`, ...) is not a plain
 * package name: `package tenants.if` is `tenants["if"]`, so its policy could
 * never be checked as the tenant's.
 */
export const TENANT_ID_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

/** Rego v1's keywords and reserved names, which a package path cannot hold as plain identifiers. */
const REGO_RESERVED: ReadonlySet<string> = new Set([
  'as',
  'contains',
  'data',
  'default',
  'else',
  'every',
  'false',
  'if',
  'import',
  'in',
  'input',
  'not',
  'null',
  'package',
  'some',
  'true',
  'with',
]);

export function isTenantId(value: unknown): boolean {
  return typeof value === 'string' && TENANT_ID_PATTERN.test(value) && !REGO_RESERVED.has(value);
}

/** What a tenant id must be, for error messages. */
export const TENANT_ID_RULE = '[a-z][a-z0-9_]{0,62}, not a Rego keyword';
