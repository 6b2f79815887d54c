import type { TenantCipher } from './tenant_cipher.js';

/**
 * Where the stores and the stream codec get a tenant's cipher. A tenant
 * without a customer-managed key keeps its data in clear (undefined).
 */
export interface TenantKeys {
  /**
   * @throws {TenantKeyError} `ERR_TENANT_KEY_REVOKED` (crypto-shredded: fail closed for good),
   *   `ERR_TENANT_KEY_UNAVAILABLE` (not loaded yet, or the key service is down: retry)
   */
  cipherOf(tenant: string): TenantCipher | undefined;
  /**
   * Calls `listener` with a tenant whose keys changed (rotated, revoked, loaded): what was opened with the old
   * ones and kept in memory (a subject cache) must go. Returns the unsubscribe.
   */
  onChange(listener: (tenant: string) => void): () => void;
}

/** No tenant has a customer-managed key. */
export const CLEAR_TENANT_KEYS: TenantKeys = { cipherOf: () => undefined, onChange: () => () => undefined };
