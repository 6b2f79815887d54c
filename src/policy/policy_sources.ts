import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { PolicyModuleRejectedError } from './errors.js';
import type { TenantPolicySource } from './opa_compiler.js';

/**
 * Reads a folder laid out as `<dir>/<tenant>/**\/*.rego` into one source per
 * tenant (a standalone sidecar's start-up path; uploaded policies arrive
 * through the catalog).
 */
export async function loadTenantPolicySources(dir: string): Promise<TenantPolicySource[]> {
  const sources: TenantPolicySource[] = [];
  for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory()) continue;
    sources.push(await loadPolicyDirectory(join(dir, entry.name), entry.name));
  }
  return sources;
}

/**
 * One tenant's policy folder: every `**\/*.rego`, and `data.json` (static
 * data, `data.static`) when present.
 *
 * @throws {PolicyModuleRejectedError} `data.json` is not a JSON object
 */
export async function loadPolicyDirectory(root: string, tenantId: string): Promise<TenantPolicySource> {
  const modules = new Map<string, string>();
  let data: Record<string, unknown> | undefined;
  for (const file of (await readdir(root, { recursive: true })).sort()) {
    if (file.endsWith('.rego')) modules.set(relative(root, join(root, file)), await readFile(join(root, file), 'utf8'));
    if (file === 'data.json') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(join(root, file), 'utf8'));
      } catch (cause) {
        throw new PolicyModuleRejectedError(`${join(root, file)} is not JSON`, { cause });
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new PolicyModuleRejectedError(`${join(root, file)} must hold a JSON object`);
      }
      data = parsed as Record<string, unknown>;
    }
  }
  return { tenantId, modules, ...(data === undefined ? {} : { data }) };
}
