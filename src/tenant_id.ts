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

/**
 * Sandboxes. A production tenant `acme` may declare `acme.sandbox`: that is its name in URLs, the CLI, the
 * tenants file and Check's `tenant`. A `.` cannot be part of a NATS subject token (nor of a KV key token), so
 * everything inside (stream subjects, KV keys, store rows, audit, metrics) knows it by its key `acme-sandbox`.
 * A production id can never hold `-`, so no production tenant, however named, shares a sandbox's key, and
 * `ipsie.state.acme.>` never matches a subject of `acme-sandbox`.
 */
export const SANDBOX_NAME_SUFFIX = '.sandbox';
const SANDBOX_KEY_SUFFIX = '-sandbox';

/** The production tenant a sandbox key (`acme-sandbox`) belongs to; undefined for anything else. */
export function productionOfSandbox(key: string): string | undefined {
  if (!key.endsWith(SANDBOX_KEY_SUFFIX)) return undefined;
  const production = key.slice(0, -SANDBOX_KEY_SUFFIX.length);
  return isTenantId(production) ? production : undefined;
}

/** The key of `production`'s sandbox. */
export function sandboxKeyOf(production: string): string {
  return `${production}${SANDBOX_KEY_SUFFIX}`;
}

/** A tenant's key: a production tenant id, or a sandbox key (`acme-sandbox`). */
export function isTenantKey(value: unknown): boolean {
  return isTenantId(value) || (typeof value === 'string' && productionOfSandbox(value) !== undefined);
}

/**
 * The key a tenant name stands for: a production id is its own key, `acme.sandbox` is `acme-sandbox`. A key
 * given as a name is taken as it is (the sandbox's own URLs may carry it). Undefined for anything else.
 */
export function tenantKeyOf(name: string): string | undefined {
  if (isTenantKey(name)) return name;
  if (!name.endsWith(SANDBOX_NAME_SUFFIX)) return undefined;
  const production = name.slice(0, -SANDBOX_NAME_SUFFIX.length);
  return isTenantId(production) ? sandboxKeyOf(production) : undefined;
}

/** The name people use for a tenant key: `acme-sandbox` is `acme.sandbox`. */
export function tenantNameOf(key: string): string {
  const production = productionOfSandbox(key);
  return production === undefined ? key : `${production}${SANDBOX_NAME_SUFFIX}`;
}

/**
 * The tenant whose Rego package (`tenants.<id>`) a tenant's policy is written in: a sandbox's policy is its
 * production's, so a version tested in the sandbox is the very same sources, and the same version, once
 * promoted.
 */
export function policyTenantOf(key: string): string {
  return productionOfSandbox(key) ?? key;
}

/** What a tenant key looks like (docs/schemas): a tenant id, or one followed by `-sandbox`. */
export const TENANT_KEY_PATTERN = /^[a-z][a-z0-9_]{0,62}(-sandbox)?$/;

/** What a tenant key must be, for error messages. */
export const TENANT_KEY_RULE = `${TENANT_ID_RULE}, or such an id followed by -sandbox (a sandbox's key)`;

/**
 * A tenant key as a NATS subject token. Every subject naming a tenant is built through this: a name with its `.`
 * (`acme.sandbox`) or a wildcard would address another tenant's subjects, so it is a programming error, never a
 * subject.
 *
 * @throws {TypeError} not a tenant key
 */
export function tenantSubjectToken(key: string): string {
  if (!isTenantKey(key)) throw new TypeError(`"${key.slice(0, 80)}" is not a tenant key: it names no subject token`);
  return key;
}
