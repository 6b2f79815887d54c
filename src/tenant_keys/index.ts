export { TenantKeyError } from './errors.js';
export { DATA_KEY_ID, isSealed, KEY_BYTES, LOOKUP_PREFIX, SEALED_PREFIX, TenantCipher } from './tenant_cipher.js';
export { CLEAR_TENANT_KEYS } from './tenant_keys.js';
export type { TenantKeys } from './tenant_keys.js';
