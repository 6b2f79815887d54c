import type { CustomerManagedKeySettings, KeyProviderKind } from '../config/index.js';

/**
 * What a wrapped key is bound to: the tenant (always) and the slot it fills (`data:<id>`, `lookup`). The
 * provider authenticates it (AES-GCM additional data, a KMS encryption context), so a wrapped key moved to
 * another tenant or another slot does not unwrap.
 */
export interface KeyContext {
  readonly tenant: string;
  readonly [name: string]: string;
}

/** A fresh data key: its 32 bytes, for memory only, and the same wrapped by the customer-managed key. */
export interface GeneratedDataKey {
  readonly plaintext: Uint8Array;
  /** Base64; only the provider unwraps it, and only under the same key and context. */
  readonly wrapped: string;
}

/**
 * A key service holding customer-managed keys (CMKs): it wraps and unwraps
 * the data keys a tenant's personal data is sealed with, and never lets its
 * CMK out. One implementation per kind (`KEY_PROVIDER_KINDS` in src/config).
 *
 * Every method throws a {@link TenantKeyError}:
 * - `ERR_TENANT_KEY_REVOKED`: the CMK is disabled, pending deletion, not
 *   found, or this process may no longer use it (the tenant's data is
 *   unreadable until an operator restores it);
 * - `ERR_TENANT_KEY_UNAVAILABLE`: the service cannot be reached, timed out
 *   or throttles (retry);
 * - `ERR_TENANT_KEY_PROVIDER_FAILED`: anything else (a wrapped key that is
 *   not the service's, a refused argument).
 */
export interface KeyProvider {
  readonly kind: KeyProviderKind;
  /** A new 32-byte data key, wrapped by `keyId` under `context`. */
  generateDataKey(keyId: string, context: KeyContext): Promise<GeneratedDataKey>;
  /** The 32 bytes `wrapped` holds, when `keyId` wrapped it under `context`. */
  unwrap(keyId: string, wrapped: string, context: KeyContext): Promise<Uint8Array>;
  /** `wrapped` (by `fromKeyId`) wrapped by `toKeyId` instead, under the same `context` (CMK rotation). */
  rewrap(wrapped: string, fromKeyId: string, toKeyId: string, context: KeyContext): Promise<string>;
}

/** The provider of a tenant's customer-managed key (its kind, and for a KMS its endpoint and region). */
export type KeyProviderOf = (key: Omit<CustomerManagedKeySettings, 'keyId'>) => KeyProvider;
