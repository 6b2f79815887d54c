import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadTenantPolicySources } from '../../src/policy/index.js';
import type { TenantPolicySource } from '../../src/policy/index.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PLATFORM_POLICY_DIR = `${PROJECT_ROOT}policies/ipsie`;
export const EXAMPLE_POLICY_DIR = `${PROJECT_ROOT}policies/examples`;

/** The pinned `opa` that scripts/setup.sh builds; tests need the real compiler. */
export function opaPath(): string {
  const path = `${PROJECT_ROOT}.tools/bin/opa`;
  if (!existsSync(path)) throw new Error(`${path} is missing: run "npm test" (scripts/setup.sh builds it)`);
  return path;
}

export async function examplePolicy(tenantId: string): Promise<TenantPolicySource> {
  const source = (await loadTenantPolicySources(EXAMPLE_POLICY_DIR)).find((s) => s.tenantId === tenantId);
  if (source === undefined) throw new Error(`no example policy for ${tenantId}`);
  return source;
}
