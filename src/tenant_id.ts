/**
 * Tenant ids are `[a-z][a-z0-9_]{0,62}`: they double as Rego package names
 * (`tenants.<tenant>`) and NATS subject tokens (`ipsie.state.<tenant>.…`).
 */
export const TENANT_ID_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && TENANT_ID_PATTERN.test(value);
}
