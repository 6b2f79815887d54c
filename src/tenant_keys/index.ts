export { TenantKeyError } from './errors.js';
export { DATA_KEY_ID, isSealed, KEY_BYTES, LOOKUP_PREFIX, SEALED_PREFIX, TenantCipher } from './tenant_cipher.js';
export { CLEAR_TENANT_KEYS } from './tenant_keys.js';
export type { TenantKeys } from './tenant_keys.js';
export type { GeneratedDataKey, KeyContext, KeyProvider, KeyProviderOf } from './key_provider.js';
export { LocalKeyProvider } from './local_key_provider.js';
export { AwsKmsProvider } from './aws_kms_provider.js';
export type { AwsKmsProviderOptions } from './aws_kms_provider.js';
export { customerManagedKeysOf, keyProviders } from './key_providers.js';
export type { KeyProvidersOptions } from './key_providers.js';
export { MAX_DATA_KEYS, parseTenantKeyRecord, TENANT_KEYS_BUCKET } from './tenant_key_record.js';
export type { TenantKeyRecord } from './tenant_key_record.js';
export { TENANT_KEYS_BUCKET_OPTIONS, TenantKeyring } from './tenant_keyring.js';
export type {
  TenantKeyAuditKind,
  TenantKeyAuditRecord,
  TenantKeyringOptions,
  TenantKeysReadiness,
  TenantKeyStatus,
  TenantKeyStore,
} from './tenant_keyring.js';
export { createTenantKeyRoutes } from './tenant_key_routes.js';
export type { TenantKeyRoutesOptions } from './tenant_key_routes.js';
