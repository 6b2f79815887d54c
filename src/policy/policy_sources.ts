import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { TenantPolicySource } from './opa_compiler.js';

/**
 * Reads a folder laid out as `<dir>/<tenant>/**\/*.rego` into one source per
 * tenant (the start-up path until policies arrive over JetStream).
 */
export async function loadTenantPolicySources(dir: string): Promise<TenantPolicySource[]> {
  const sources: TenantPolicySource[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) continue;
    const root = join(dir, entry.name);
    const modules = new Map<string, string>();
    for (const file of (await readdir(root, { recursive: true })).sort()) {
      if (file.endsWith('.rego'))
        modules.set(relative(root, join(root, file)), await readFile(join(root, file), 'utf8'));
    }
    sources.push({ tenantId: entry.name, modules });
  }
  return sources;
}
