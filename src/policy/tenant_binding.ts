import { TENANT_RULES } from './tenant_rules_contract.js';

/**
 * The platform module that stands for the tenant's rules in a one-tenant
 * bundle. `policies/ipsie/tenant.rego` picks the tenant from
 * `input.tenant` (for `opa test` over many tenants); in a compiled bundle it
 * is replaced by this, which names the package statically, so `opa check`
 * type-checks the tenant's rules where the platform uses them and only the
 * rules the platform reads are evaluated.
 */
export const TENANT_BINDING_FILE = 'tenant.rego';

export function tenantBindingModule(tenantId: string): string {
  const rules = Object.keys(TENANT_RULES)
    .map((name) => `${name} := data.tenants.${tenantId}.${name}\n`)
    .join('\n');
  return `# Generated for tenant "${tenantId}" (src/policy/tenant_binding.ts).\npackage ipsie.tenant\n\n${rules}`;
}
