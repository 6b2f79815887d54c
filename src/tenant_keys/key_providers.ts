import type { CustomerManagedKeySettings, TenantSettings } from '../config/index.js';
import { AwsKmsProvider } from './aws_kms_provider.js';
import { TenantKeyError } from './errors.js';
import type { KeyProvider, KeyProviderOf } from './key_provider.js';
import { LocalKeyProvider } from './local_key_provider.js';

export interface KeyProvidersOptions {
  /** The local provider's key file (`IPSIE_LOCAL_KEY_FILE`); undefined: tenants naming `local` are refused. */
  readonly localKeyFile: string | undefined;
  /** Longest one KMS request may take, in ms. @defaultValue 5000 */
  readonly kmsRequestTimeoutMs?: number;
}

/**
 * The one place a provider kind becomes its implementation: a tenant's
 * `customer_managed_key.provider` selects it, and tenants of the same KMS
 * endpoint and region share one client.
 */
export function keyProviders(options: KeyProvidersOptions): KeyProviderOf & { destroy(): void } {
  const made = new Map<string, KeyProvider>();
  const of = (key: Omit<CustomerManagedKeySettings, 'keyId'>): KeyProvider => {
    const name = JSON.stringify([key.provider, key.endpoint ?? null, key.region ?? null]);
    let provider = made.get(name);
    if (provider === undefined) {
      provider = make(key, options);
      made.set(name, provider);
    }
    return provider;
  };
  return Object.assign(of, {
    destroy: () => {
      for (const provider of made.values()) if (provider instanceof AwsKmsProvider) provider.destroy();
      made.clear();
    },
  });
}

function make(key: Omit<CustomerManagedKeySettings, 'keyId'>, options: KeyProvidersOptions): KeyProvider {
  switch (key.provider) {
    case 'local':
      return options.localKeyFile === undefined
        ? unconfigured('local', 'IPSIE_LOCAL_KEY_FILE is not set')
        : new LocalKeyProvider(options.localKeyFile);
    case 'aws_kms':
      return new AwsKmsProvider({
        endpoint: key.endpoint,
        region: key.region,
        ...(options.kmsRequestTimeoutMs === undefined ? {} : { requestTimeoutMs: options.kmsRequestTimeoutMs }),
      });
  }
}

/** A provider this process cannot use: every call is refused as a configuration fault. */
function unconfigured(kind: 'local', problem: string): KeyProvider {
  const refuse = (tenant: string): never => {
    throw new TenantKeyError('ERR_TENANT_KEY_PROVIDER_FAILED', tenant, `the ${kind} key provider: ${problem}`);
  };
  return {
    kind,
    generateDataKey: async (_keyId, context) => await Promise.resolve(refuse(context.tenant)),
    unwrap: async (_keyId, _wrapped, context) => await Promise.resolve(refuse(context.tenant)),
    rewrap: async (_wrapped, _from, _to, context) => await Promise.resolve(refuse(context.tenant)),
  };
}

/** The tenants file's customer-managed-key tenants and their keys. */
export function customerManagedKeysOf(
  tenants: readonly TenantSettings[],
): ReadonlyMap<string, CustomerManagedKeySettings> {
  return new Map(
    tenants.flatMap((t) => (t.customerManagedKey === undefined ? [] : [[t.id, t.customerManagedKey] as const])),
  );
}
