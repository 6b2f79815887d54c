import { ScimError } from './errors.js';
import { resolveAttribute } from './schema.js';
import type { AttributeTarget, ResourceType } from './schema.js';

/**
 * The comma-separated attribute list of `attributes` / `excludedAttributes`
 * (RFC 7644 §3.4.2.5).
 *
 * @throws {ScimError} `ERR_SCIM_INVALID_PATH` for an unknown attribute
 */
export function parseAttributePaths(type: ResourceType, list: string): AttributeTarget[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((path) => {
      const target = resolveAttribute(type, path);
      if (target === undefined) throw new ScimError('ERR_SCIM_INVALID_PATH', `unknown attribute "${path}"`);
      return target;
    });
}
