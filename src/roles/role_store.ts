import type { SealerOf } from '../changes/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { EntitlementStore } from '../store/index.js';
import type { CheckedStore } from '../store/index.js';

/**
 * Opens a role's store, checked first: an unreadable file is moved aside and
 * the store starts empty, to be rebuilt by the normal replay of the state
 * stream from sequence 1 (until then a sidecar is not caught up and does not
 * allow). Logged at error: an operator should look at the file kept aside.
 *
 * @throws {StoreUnavailableError} `ERR_STORE_UNAVAILABLE` (the path itself cannot be used)
 */
export async function openRoleStore(
  config: Config,
  logger: Logger,
  options: { readonly directoryIndexes?: boolean; readonly sealerOf?: SealerOf } = {},
): Promise<CheckedStore> {
  const opened = await EntitlementStore.openChecked(config.store.path, {
    subjectCacheSize: config.store.subjectCacheSize,
    checkBudgetMs: config.store.checkMs,
    setAsideKept: config.store.setAsideKept,
    ...options,
  });
  const { setAside } = opened;
  if (setAside !== undefined) {
    logger.error(
      { path: config.store.path, moved_to: setAside.movedTo, reason: setAside.reason, detail: setAside.detail },
      config.nats.servers === undefined
        ? 'entitlement store unreadable: moved aside; standalone, so it stays empty and every subject is unknown'
        : 'entitlement store unreadable: moved aside; rebuilding it from the state stream',
    );
  }
  return opened;
}
