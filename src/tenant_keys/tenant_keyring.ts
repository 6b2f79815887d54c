import { createHash, randomBytes } from 'node:crypto';
import type { CustomerManagedKeySettings } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { RegisterEntry } from '../stream/index.js';
import { TenantKeyError } from './errors.js';
import type { KeyContext, KeyProvider, KeyProviderOf } from './key_provider.js';
import { TenantCipher } from './tenant_cipher.js';
import { isRevoked, MAX_DATA_KEYS, parseTenantKeyRecord, TENANT_KEYS_BUCKET } from './tenant_key_record.js';
import type { ActiveTenantKeyRecord, TenantKeyRecord } from './tenant_key_record.js';
import type { TenantKeys } from './tenant_keys.js';

/** What the keyring needs of the bucket (`KvRegister`): create-only, compare-and-set, and a watch. */
export interface TenantKeyStore {
  read(key: string): Promise<RegisterEntry | undefined>;
  /** The new revision, or undefined when the key holds a value already. */
  create(key: string, value: string): Promise<number | undefined>;
  /** The new revision, or undefined when the key moved past `revision`. */
  replace(key: string, value: string, revision: number): Promise<number | undefined>;
  keys(): Promise<Set<string>>;
  watch(
    onEntry: (key: string, entry: RegisterEntry | undefined) => void,
  ): Promise<{ stop(): void; readonly closed: Promise<void> }>;
}

/** The bucket's settings: one value per tenant and no history, so a shredded key leaves no older revision. */
export function TENANT_KEYS_BUCKET_OPTIONS(replicas: number): {
  bucket: string;
  description: string;
  replicas: number;
  history: number;
} {
  return {
    bucket: TENANT_KEYS_BUCKET,
    description: "each customer-managed-key tenant's data keys, wrapped by its key (never in clear)",
    replicas,
    history: 1,
  };
}

/** What the keyring records on a tenant's audit trail. */
export type TenantKeyAuditKind = 'tenant_key.created' | 'tenant_key.rotated' | 'tenant_key.revoked';

export interface TenantKeyAuditRecord {
  readonly tenant: string;
  readonly kind: TenantKeyAuditKind;
  /** Stable for one event, so the processes that all notice it store it once (the stream's `Nats-Msg-Id`). */
  readonly id: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface TenantKeyringOptions {
  readonly store: TenantKeyStore;
  /** The tenants file's customer-managed-key tenants and their keys. */
  readonly tenants: ReadonlyMap<string, CustomerManagedKeySettings>;
  readonly providers: KeyProviderOf;
  /**
   * Whether this process creates the keys of the tenants file's tenants when they have none, and re-wraps
   * them when the file names another key (the gateway); the others only read.
   */
  readonly creates: boolean;
  /** How often each tenant's record is read again and its key checked with its provider, in ms. */
  readonly revalidateMs: number;
  readonly logger: Logger;
  /**
   * Whether the tenant was crypto-shredded, as a record outside the bucket says (the gateway's audit trail):
   * a shredded tenant whose record was deleted from the bucket is not given new keys, which would serve it
   * again. @defaultValue never asked
   */
  readonly shredded?: (tenant: string) => Promise<boolean>;
  /** Records key events on the tenant's audit trail; its failures are logged, never thrown. */
  readonly audit?: (record: TenantKeyAuditRecord) => Promise<void>;
  /** Unix ms. @defaultValue Date.now */
  readonly clock?: () => number;
}

/** What GET `/admin/v1/<tenant>/keys` answers: the keys' ids and dates, never their material. */
export interface TenantKeyStatus {
  readonly tenant: string;
  /**
   * `active`: in use; `revoked`: crypto-shredded (for good); `key_revoked`: the key service refuses the key
   * (disabled, deleted: until it is restored); `unavailable`: not loaded in this process (see `problem`);
   * `absent`: no keys created yet.
   */
  readonly state: 'active' | 'revoked' | 'key_revoked' | 'unavailable' | 'absent';
  readonly provider: string;
  readonly key_id: string | undefined;
  readonly current_data_key: string | undefined;
  readonly data_keys: readonly { readonly id: string; readonly created_at: string; readonly current: boolean }[];
  readonly revoked_at: string | undefined;
  readonly problem: string | undefined;
}

/** Each CMK tenant's readiness, and the component's (down only when no such tenant can be served). */
export interface TenantKeysReadiness {
  readonly ok: boolean;
  readonly detail: string;
  readonly tenants: Readonly<Record<string, { readonly ready: boolean; readonly detail: string }>>;
}

/** A tenant as this process holds it. */
interface Held {
  /** Of the record the cipher (or the revocation) comes from; 0 before any. */
  readonly revision: number;
  readonly record: TenantKeyRecord | undefined;
  readonly cipher: TenantCipher | undefined;
  /** `shredded`: the record says so (for good); `key`: the provider refuses the key (until restored). */
  readonly revoked: 'shredded' | 'key' | undefined;
  /** Why the keys are not (or not freshly) loaded. */
  readonly problem: TenantKeyError | undefined;
}

const NOTHING_HELD: Held = {
  revision: 0,
  record: undefined,
  cipher: undefined,
  revoked: undefined,
  problem: undefined,
};
/** Compare-and-set attempts before a write gives up (another writer keeps winning). */
const WRITE_ATTEMPTS = 5;

/**
 * Customer-managed keys, as every process (gateway and sidecar) holds them:
 * each CMK tenant's wrapped data keys and lookup key in one KV record,
 * unwrapped through its key provider into a {@link TenantCipher} kept in
 * memory. The bucket is watched, and every `revalidateMs` each tenant's
 * record is read again and its key checked with the provider, so a rotation,
 * a crypto-shred or a key disabled in the KMS reaches every process within
 * that time. A record that does not parse, or whose keys do not unwrap, is
 * refused (logged) and the keys already held keep serving.
 *
 * The gateway (`creates`) also writes: it creates a tenant's record when
 * absent (create-only: of replicas starting together one wins, the others
 * load its keys), re-wraps under a new key when the tenants file names one,
 * and rotates or revokes on an administrator's request (compare-and-set).
 */
export class TenantKeyring implements TenantKeys {
  readonly #options: TenantKeyringOptions;
  readonly #logger: Logger;
  readonly #clock: () => number;
  /** Every tenant known to have a customer-managed key: configured here, or with a record in the bucket. */
  readonly #cmk = new Set<string>();
  readonly #held = new Map<string, Held>();
  readonly #listeners = new Set<(tenant: string) => void>();
  /** Each tenant's work, one at a time: loads and writes never interleave. */
  readonly #queues = new Map<string, Promise<void>>();
  #watch: { stop(): void; readonly closed: Promise<void> } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #revalidating: Promise<void> | undefined;
  #stopped = false;

  constructor(options: TenantKeyringOptions) {
    if (!Number.isInteger(options.revalidateMs) || options.revalidateMs <= 0) {
      throw new TypeError('revalidateMs must be a positive integer');
    }
    this.#options = options;
    this.#logger = options.logger.child({ component: 'tenant-keys' });
    this.#clock = options.clock ?? Date.now;
    for (const tenant of options.tenants.keys()) this.#cmk.add(tenant);
  }

  /**
   * Loads every CMK tenant's keys (creating them first, in the gateway), then follows the bucket. A tenant
   * whose keys cannot be loaded now (its key service down) is retried at each re-validation; its
   * `cipherOf` throws `ERR_TENANT_KEY_UNAVAILABLE` meanwhile. Throws only when the bucket cannot be read.
   */
  async start(): Promise<void> {
    for (const tenant of await this.#options.store.keys()) this.#cmk.add(tenant);
    await this.#refreshAll();
    await this.#follow();
    this.#timer = setInterval(() => {
      this.revalidate().catch((error: unknown) => {
        this.#logger.error({ err: error }, 'tenant keys not re-validated');
      });
    }, this.#options.revalidateMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#watch?.stop();
    await this.#revalidating;
    await Promise.all(this.#queues.values());
  }

  cipherOf(tenant: string): TenantCipher | undefined {
    if (!this.#cmk.has(tenant)) return undefined;
    const held = this.#held.get(tenant);
    if (held?.revoked !== undefined) {
      throw new TenantKeyError(
        'ERR_TENANT_KEY_REVOKED',
        tenant,
        held.revoked === 'shredded'
          ? `the keys of ${tenant} were revoked (crypto-shredded)`
          : `the customer-managed key of ${tenant} is refused by its key service (disabled or deleted)`,
      );
    }
    if (held?.cipher !== undefined) return held.cipher;
    throw new TenantKeyError(
      'ERR_TENANT_KEY_UNAVAILABLE',
      tenant,
      `the keys of ${tenant} are not loaded${held?.problem === undefined ? ' yet' : `: ${held.problem.message}`}`,
      { retryAfterS: 5 },
    );
  }

  onChange(listener: (tenant: string) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Reads every CMK tenant's record again and checks its key with its provider; what the timer runs. */
  async revalidate(): Promise<void> {
    if (this.#revalidating !== undefined) {
      await this.#revalidating;
      return;
    }
    this.#revalidating = (async () => {
      if (this.#watch === undefined && !this.#stopped) await this.#follow().catch(() => undefined);
      for (const tenant of await this.#options.store.keys().catch(() => new Set<string>())) this.#cmk.add(tenant);
      await this.#refreshAll();
    })();
    try {
      await this.#revalidating;
    } finally {
      this.#revalidating = undefined;
    }
  }

  /** The CMK tenants and whether each can be served here. */
  readiness(): TenantKeysReadiness {
    const tenants: Record<string, { ready: boolean; detail: string }> = {};
    const notLoaded: string[] = [];
    let expected = 0;
    for (const tenant of [...this.#cmk].sort()) {
      const held = this.#held.get(tenant) ?? NOTHING_HELD;
      if (held.revoked !== undefined) {
        tenants[tenant] = {
          ready: false,
          detail: held.revoked === 'shredded' ? 'keys revoked' : 'key refused by its key service',
        };
        continue;
      }
      expected++;
      if (held.cipher === undefined) {
        notLoaded.push(tenant);
        tenants[tenant] = {
          ready: false,
          detail: `keys not loaded${held.problem === undefined ? '' : `: ${held.problem.message}`}`,
        };
      } else {
        tenants[tenant] = { ready: true, detail: `data key ${held.cipher.currentKeyId}` };
      }
    }
    const ok = notLoaded.length === 0 || notLoaded.length < expected;
    const detail =
      notLoaded.length === 0
        ? `${expected} customer-managed-key tenants loaded`
        : `keys not loaded for ${notLoaded.join(', ')}${ok ? ' (the other tenants are served)' : ''}`;
    return { ok, detail, tenants };
  }

  /**
   * The tenant's keys as stored now (ids and dates, never material), and whether this process holds them.
   *
   * @throws {TenantKeyError} `ERR_TENANT_KEY_NOT_CONFIGURED`, `ERR_TENANT_KEY_UNAVAILABLE` (the bucket)
   */
  async status(tenant: string): Promise<TenantKeyStatus> {
    const entry = await this.#read(tenant);
    const configured = this.#options.tenants.get(tenant);
    if (entry === undefined && configured === undefined) throw notConfigured(tenant);
    const parsed = entry === undefined ? undefined : parseTenantKeyRecord(entry.value);
    const record = parsed === undefined || 'problem' in parsed ? undefined : parsed;
    const held = this.#held.get(tenant) ?? NOTHING_HELD;
    const iso = (ms: number): string => new Date(ms).toISOString();
    const current = record === undefined || isRevoked(record) ? undefined : record.current;
    return {
      tenant,
      state:
        record === undefined
          ? parsed === undefined
            ? 'absent'
            : 'unavailable'
          : isRevoked(record)
            ? 'revoked'
            : held.revoked === 'key'
              ? 'key_revoked'
              : held.cipher === undefined || held.revision !== entry?.revision
                ? 'unavailable'
                : 'active',
      provider: record?.provider ?? configured?.provider ?? 'unknown',
      key_id: record?.key_id ?? configured?.keyId,
      current_data_key: current,
      data_keys: Object.entries(record?.data_keys ?? {})
        .map(([id, key]) => ({ id, created_at: iso(key.created_at), current: id === current }))
        .sort((a, b) => (a.created_at < b.created_at ? -1 : 1)),
      revoked_at: record !== undefined && isRevoked(record) ? iso(record.revoked_at) : undefined,
      problem:
        parsed !== undefined && 'problem' in parsed
          ? `the stored record is refused: ${parsed.problem}`
          : held.problem?.message,
    };
  }

  /**
   * Rotates the tenant's keys, without downtime: `dataKey` adds a new data key that seals from now on (the
   * older ones still open); `keyId` re-wraps every data key and the lookup key under another customer-managed
   * key of the same provider. Every process loads the result from the bucket.
   *
   * @throws {TenantKeyError} `ERR_TENANT_KEY_NOT_CONFIGURED`, `ERR_TENANT_KEY_REVOKED`, `ERR_TENANT_KEY_UNAVAILABLE`,
   *   `ERR_TENANT_KEY_PROVIDER_FAILED` (the new key id is refused)
   */
  async rotate(
    tenant: string,
    what: { readonly dataKey?: boolean; readonly keyId?: string },
  ): Promise<TenantKeyStatus> {
    await this.#serial(tenant, async () => {
      await this.#write(tenant, 'tenant_key.rotated', async (record) => {
        let next = record;
        const done: Record<string, unknown> = {};
        if (what.keyId !== undefined && what.keyId !== record.key_id) {
          await this.#usable(tenant, record, what.keyId);
          next = await this.#rewrapped(tenant, next, what.keyId, next.file_key_id);
          done['key_id'] = { from: record.key_id, to: what.keyId };
        }
        if (what.dataKey === true) {
          next = await this.#withNewDataKey(tenant, next);
          done['data_key'] = { from: record.current, to: next.current };
        }
        return Object.keys(done).length === 0 ? undefined : { record: next, data: done };
      });
    });
    return await this.status(tenant);
  }

  /**
   * Crypto-shreds the tenant: its wrapped keys are deleted from the bucket (no history is kept) and the
   * record says when; every process drops the tenant's keys and its data stays unreadable for good.
   *
   * @throws {TenantKeyError} `ERR_TENANT_KEY_NOT_CONFIGURED`, `ERR_TENANT_KEY_UNAVAILABLE`
   */
  async revoke(tenant: string): Promise<TenantKeyStatus> {
    await this.#serial(tenant, async () => {
      await this.#write(
        tenant,
        'tenant_key.revoked',
        async (record) =>
          await Promise.resolve({
            record: {
              v: 1,
              provider: record.provider,
              key_id: record.key_id,
              file_key_id: record.file_key_id,
              data_keys: {},
              revoked_at: this.#clock(),
            } satisfies TenantKeyRecord,
            data: {
              key_id: record.key_id,
              reason: 'revoked by a tenant administrator (crypto-shredded)',
              crypto_shredded: true,
            },
          }),
      );
    });
    return await this.status(tenant);
  }

  /** Reads, changes and compare-and-sets the tenant's record; then holds, and audits, what was stored. */
  async #write(
    tenant: string,
    kind: TenantKeyAuditKind,
    change: (
      record: ActiveTenantKeyRecord,
    ) => Promise<{ record: TenantKeyRecord; data: Record<string, unknown> } | undefined>,
  ): Promise<void> {
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      const entry = await this.#read(tenant);
      if (entry === undefined) throw notConfigured(tenant);
      const record = this.#parsed(tenant, entry);
      if (isRevoked(record)) {
        throw new TenantKeyError(
          'ERR_TENANT_KEY_REVOKED',
          tenant,
          `the keys of ${tenant} were revoked (crypto-shredded)`,
        );
      }
      const changed = await change(record);
      if (changed === undefined) return;
      const revision = await this.#call(tenant, () =>
        this.#options.store.replace(tenant, JSON.stringify(changed.record), entry.revision),
      );
      if (revision === undefined) continue;
      this.#cmk.add(tenant);
      await this.#apply(tenant, { value: JSON.stringify(changed.record), revision, storedAt: this.#clock() });
      await this.#audit({ tenant, kind, id: `${tenant}:${kind}:${revision}`, data: changed.data });
      return;
    }
    throw new TenantKeyError('ERR_TENANT_KEY_UNAVAILABLE', tenant, `the keys of ${tenant} keep changing; try again`, {
      retryAfterS: 1,
    });
  }

  async #refreshAll(): Promise<void> {
    await Promise.all(
      [...this.#cmk].map(async (tenant) => {
        await this.#serial(tenant, async () => {
          await this.#refresh(tenant);
        });
      }),
    );
  }

  /** Reads the tenant's record and holds what it says (creating it first, in the gateway, when due). */
  async #refresh(tenant: string): Promise<void> {
    const configured = this.#options.tenants.get(tenant);
    let entry: RegisterEntry | undefined;
    try {
      entry = await this.#read(tenant);
      if (this.#options.creates && configured !== undefined) {
        // Asked before creating: unreachable, nothing is created (the tenant stays unavailable).
        if (entry === undefined && (await this.#options.shredded?.(tenant)) === true) {
          this.#logger.error({ tenant }, 'the record of a crypto-shredded tenant was deleted from the key bucket');
          const held = this.#held.get(tenant);
          this.#set(tenant, { ...NOTHING_HELD, revoked: 'shredded' });
          if (held?.cipher !== undefined) this.#changed(tenant);
          return;
        }
        entry = await this.#ensure(tenant, configured, entry);
      }
    } catch (error) {
      this.#problem(tenant, asKeyError(tenant, error));
      return;
    }
    if (entry === undefined) {
      const held = this.#held.get(tenant);
      // A record deleted by hand: nothing held is trusted any more (a crypto-shred keeps its record).
      this.#set(tenant, {
        ...NOTHING_HELD,
        problem: new TenantKeyError('ERR_TENANT_KEY_UNAVAILABLE', tenant, `${tenant} has no keys in the bucket yet`),
      });
      if (held?.cipher !== undefined) this.#changed(tenant);
      return;
    }
    await this.#apply(tenant, entry);
  }

  /**
   * The gateway's part: creates the tenant's record when absent (create-only: the first replica wins, the
   * others read its record), and re-wraps it under the tenants file's key when the file names a new one.
   */
  async #ensure(
    tenant: string,
    configured: CustomerManagedKeySettings,
    found: RegisterEntry | undefined,
  ): Promise<RegisterEntry | undefined> {
    let entry = found;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      if (entry === undefined) {
        const record = await this.#created(tenant, configured);
        const value = JSON.stringify(record);
        const revision = await this.#call(tenant, () => this.#options.store.create(tenant, value));
        if (revision !== undefined) {
          this.#logger.info({ tenant, key_id: configured.keyId, provider: configured.provider }, 'tenant keys created');
          await this.#audit({
            tenant,
            kind: 'tenant_key.created',
            id: `${tenant}:tenant_key.created:${revision}`,
            data: { key_id: configured.keyId, provider: configured.provider, data_key: record.current },
          });
          return { value, revision, storedAt: this.#clock() };
        }
        // Another replica created it first: its keys are the tenant's.
        entry = await this.#read(tenant);
        continue;
      }
      const parsed = parseTenantKeyRecord(entry.value);
      if ('problem' in parsed || isRevoked(parsed) || parsed.file_key_id === configured.keyId) return entry;
      if (parsed.provider !== configured.provider) {
        this.#logger.error(
          { tenant, stored: parsed.provider, configured: configured.provider },
          'the tenants file names another key provider; keys cannot move between providers: kept as stored',
        );
        return entry;
      }
      const next = await this.#rewrapped(tenant, parsed, configured.keyId, configured.keyId);
      const revisionBefore = entry.revision;
      const revision = await this.#call(tenant, () =>
        this.#options.store.replace(tenant, JSON.stringify(next), revisionBefore),
      );
      if (revision !== undefined) {
        this.#logger.info(
          { tenant, from: parsed.key_id, to: configured.keyId },
          'tenant keys re-wrapped under the key the tenants file names',
        );
        await this.#audit({
          tenant,
          kind: 'tenant_key.rotated',
          id: `${tenant}:tenant_key.rotated:${revision}`,
          data: { key_id: { from: parsed.key_id, to: configured.keyId }, by: 'tenants file' },
        });
        return { value: JSON.stringify(next), revision, storedAt: this.#clock() };
      }
      entry = await this.#read(tenant);
    }
    throw new TenantKeyError('ERR_TENANT_KEY_UNAVAILABLE', tenant, `the keys of ${tenant} keep changing; try again`);
  }

  /** Holds what `entry` says: a revocation, new keys (unwrapped), or the same keys checked with the provider. */
  async #apply(tenant: string, entry: RegisterEntry): Promise<void> {
    const held = this.#held.get(tenant) ?? NOTHING_HELD;
    let record: TenantKeyRecord;
    try {
      record = this.#parsed(tenant, entry);
    } catch (error) {
      this.#problem(tenant, asKeyError(tenant, error));
      return;
    }
    if (isRevoked(record)) {
      if (held.revoked === 'shredded') return;
      this.#set(tenant, { ...NOTHING_HELD, revision: entry.revision, record, revoked: 'shredded' });
      this.#logger.warn({ tenant, revoked_at: record.revoked_at }, 'tenant keys revoked (crypto-shredded)');
      this.#changed(tenant);
      return;
    }
    const provider = this.#providerOf(tenant, record);
    try {
      if (held.cipher !== undefined && held.revision === entry.revision) {
        // The same keys: only ask the provider whether the key is still usable.
        await provider.unwrap(record.key_id, record.lookup_key.wrapped, lookupContext(tenant));
        if (held.problem !== undefined) this.#set(tenant, { ...held, problem: undefined });
        return;
      }
      const keys = new Map<string, Uint8Array>();
      for (const [id, key] of Object.entries(record.data_keys)) {
        keys.set(id, await provider.unwrap(record.key_id, key.wrapped, dataKeyContext(tenant, id)));
      }
      const lookupKey = await provider.unwrap(record.key_id, record.lookup_key.wrapped, lookupContext(tenant));
      const cipher = new TenantCipher(tenant, keys, record.current, lookupKey);
      this.#set(tenant, { revision: entry.revision, record, cipher, revoked: undefined, problem: undefined });
      if (held.revoked === 'key')
        this.#logger.warn({ tenant, key_id: record.key_id }, 'customer-managed key usable again');
      this.#logger.info(
        { tenant, key_id: record.key_id, data_key: record.current, revision: entry.revision },
        'tenant keys loaded',
      );
      this.#changed(tenant);
    } catch (caught) {
      const error = asKeyError(tenant, caught);
      if (error.code === 'ERR_TENANT_KEY_REVOKED') {
        await this.#keyRevoked(tenant, entry.revision, record, error);
        return;
      }
      // A transient failure, or keys that do not unwrap (a forged record): what is held keeps serving.
      this.#problem(tenant, error);
    }
  }

  /** The provider refuses the tenant's key (disabled, pending deletion, gone): drop its keys, audit it once. */
  async #keyRevoked(tenant: string, revision: number, record: TenantKeyRecord, error: TenantKeyError): Promise<void> {
    const held = this.#held.get(tenant) ?? NOTHING_HELD;
    this.#set(tenant, { ...NOTHING_HELD, revision, record, revoked: 'key', problem: error });
    if (held.revoked === 'key') return;
    this.#logger.warn(
      { tenant, key_id: record.key_id, err: error },
      'customer-managed key refused by its key service: the tenant fails closed',
    );
    this.#changed(tenant);
    // The same id from every process noticing it at this revision: the audit stream keeps one record.
    const id = createHash('sha256').update(`${tenant}\0${record.key_id}\0${revision}\0key_revoked`).digest('hex');
    await this.#audit({
      tenant,
      kind: 'tenant_key.revoked',
      id,
      data: {
        key_id: record.key_id,
        reason: 'refused by its key service (disabled or deleted)',
        detail: error.message,
      },
    });
  }

  async #created(tenant: string, configured: CustomerManagedKeySettings): Promise<ActiveTenantKeyRecord> {
    const provider = this.#options.providers(configured);
    const id = newDataKeyId();
    const dataKey = await provider.generateDataKey(configured.keyId, dataKeyContext(tenant, id));
    const lookupKey = await provider.generateDataKey(configured.keyId, lookupContext(tenant));
    return {
      v: 1,
      provider: configured.provider,
      key_id: configured.keyId,
      file_key_id: configured.keyId,
      current: id,
      data_keys: { [id]: { wrapped: dataKey.wrapped, created_at: this.#clock() } },
      lookup_key: { wrapped: lookupKey.wrapped },
    };
  }

  async #withNewDataKey(tenant: string, record: ActiveTenantKeyRecord): Promise<ActiveTenantKeyRecord> {
    // Older data keys cannot be dropped while values they sealed may be kept: a record has room for so many.
    if (Object.keys(record.data_keys).length >= MAX_DATA_KEYS) {
      throw new TenantKeyError(
        'ERR_TENANT_KEY_REQUEST_INVALID',
        tenant,
        `${tenant} has ${MAX_DATA_KEYS} data keys, the most a record holds: rotate the customer-managed key instead`,
      );
    }
    const id = newDataKeyId();
    const generated = await this.#providerOf(tenant, record).generateDataKey(record.key_id, dataKeyContext(tenant, id));
    return {
      ...record,
      current: id,
      data_keys: { ...record.data_keys, [id]: { wrapped: generated.wrapped, created_at: this.#clock() } },
    };
  }

  /**
   * Whether `keyId` wraps for this tenant, asked before anything is re-wrapped under it: a key the provider
   * refuses is the request's fault, not the tenant's key being revoked.
   */
  async #usable(tenant: string, record: ActiveTenantKeyRecord, keyId: string): Promise<void> {
    try {
      await this.#providerOf(tenant, record).generateDataKey(keyId, { tenant, key: 'probe' });
    } catch (error) {
      const refused = asKeyError(tenant, error);
      if (refused.code !== 'ERR_TENANT_KEY_REVOKED') throw refused;
      throw new TenantKeyError(
        'ERR_TENANT_KEY_PROVIDER_FAILED',
        tenant,
        `the key "${keyId.slice(0, 256)}" cannot be used: ${refused.message}`,
        { cause: refused },
      );
    }
  }

  async #rewrapped(
    tenant: string,
    record: ActiveTenantKeyRecord,
    keyId: string,
    fileKeyId: string,
  ): Promise<ActiveTenantKeyRecord> {
    const provider = this.#providerOf(tenant, record);
    const dataKeys: ActiveTenantKeyRecord['data_keys'] = {};
    for (const [id, key] of Object.entries(record.data_keys)) {
      dataKeys[id] = {
        ...key,
        wrapped: await provider.rewrap(key.wrapped, record.key_id, keyId, dataKeyContext(tenant, id)),
      };
    }
    const lookup = await provider.rewrap(record.lookup_key.wrapped, record.key_id, keyId, lookupContext(tenant));
    return { ...record, key_id: keyId, file_key_id: fileKeyId, data_keys: dataKeys, lookup_key: { wrapped: lookup } };
  }

  /** The record `entry` holds, or a refusal: not parseable, or naming another provider than the tenants file. */
  #parsed(tenant: string, entry: RegisterEntry): TenantKeyRecord {
    const parsed = parseTenantKeyRecord(entry.value);
    if ('problem' in parsed) {
      this.#logger.error({ tenant, revision: entry.revision, problem: parsed.problem }, 'tenant key record refused');
      throw new TenantKeyError(
        'ERR_TENANT_KEY_PROVIDER_FAILED',
        tenant,
        `the key record of ${tenant} is refused: ${parsed.problem}`,
      );
    }
    const configured = this.#options.tenants.get(tenant);
    if (configured !== undefined && configured.provider !== parsed.provider) {
      throw new TenantKeyError(
        'ERR_TENANT_KEY_PROVIDER_FAILED',
        tenant,
        `the key record of ${tenant} names provider ${parsed.provider}, the tenants file ${configured.provider}`,
      );
    }
    return parsed;
  }

  #providerOf(tenant: string, record: TenantKeyRecord): KeyProvider {
    const configured = this.#options.tenants.get(tenant);
    return this.#options.providers({
      provider: record.provider,
      endpoint: configured?.endpoint,
      region: configured?.region,
    });
  }

  async #follow(): Promise<void> {
    const watch = await this.#options.store.watch((tenant, entry) => {
      if (this.#stopped) return;
      // Every process notices its own writes and the values it already holds: skip those.
      if (entry !== undefined && (this.#held.get(tenant)?.revision ?? 0) >= entry.revision) return;
      this.#cmk.add(tenant);
      this.#serial(tenant, async () => {
        if (entry === undefined) await this.#refresh(tenant);
        else if ((this.#held.get(tenant)?.revision ?? 0) < entry.revision) await this.#apply(tenant, entry);
      }).catch((error: unknown) => {
        // A bug, not a refusal (those are held as the tenant's problem): the watch must go on.
        this.#logger.error({ err: error, tenant }, 'tenant key record not applied');
      });
    });
    this.#watch = watch;
    void watch.closed.then(() => {
      // Picked up again at the next re-validation.
      if (this.#watch === watch) this.#watch = undefined;
    });
  }

  async #read(tenant: string): Promise<RegisterEntry | undefined> {
    return await this.#call(tenant, () => this.#options.store.read(tenant));
  }

  async #call<T>(tenant: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (cause) {
      if (cause instanceof TenantKeyError) throw cause;
      throw new TenantKeyError('ERR_TENANT_KEY_UNAVAILABLE', tenant, 'the tenant key bucket cannot be reached', {
        cause,
        retryAfterS: 5,
      });
    }
  }

  async #serial(tenant: string, work: () => Promise<void>): Promise<void> {
    const before = this.#queues.get(tenant) ?? Promise.resolve();
    const run = before.then(work);
    const settled = run.catch(() => undefined);
    this.#queues.set(tenant, settled);
    try {
      await run;
    } finally {
      if (this.#queues.get(tenant) === settled) this.#queues.delete(tenant);
    }
  }

  #problem(tenant: string, error: TenantKeyError): void {
    const held = this.#held.get(tenant) ?? NOTHING_HELD;
    this.#logger.warn({ tenant, err: error, holding: held.cipher !== undefined }, 'tenant keys not (re)loaded');
    this.#set(tenant, { ...held, problem: error });
  }

  #set(tenant: string, held: Held): void {
    this.#held.set(tenant, held);
  }

  #changed(tenant: string): void {
    for (const listener of this.#listeners) {
      try {
        listener(tenant);
      } catch (error) {
        this.#logger.error({ err: error, tenant }, 'a tenant key listener failed');
      }
    }
  }

  async #audit(record: TenantKeyAuditRecord): Promise<void> {
    await this.#options.audit?.(record).catch((error: unknown) => {
      this.#logger.error({ err: error, tenant: record.tenant, kind: record.kind }, 'audit record not stored');
    });
  }
}

/** A wrapped data key is bound to its tenant and its id: moved to another slot or tenant, it does not unwrap. */
function dataKeyContext(tenant: string, id: string): KeyContext {
  return { tenant, key: `data:${id}` };
}

function lookupContext(tenant: string): KeyContext {
  return { tenant, key: 'lookup' };
}

function newDataKeyId(): string {
  return `dk_${randomBytes(9).toString('base64url')}`;
}

function notConfigured(tenant: string): TenantKeyError {
  return new TenantKeyError('ERR_TENANT_KEY_NOT_CONFIGURED', tenant, `${tenant} has no customer-managed key`);
}

function asKeyError(tenant: string, error: unknown): TenantKeyError {
  if (error instanceof TenantKeyError) return error;
  return new TenantKeyError('ERR_TENANT_KEY_PROVIDER_FAILED', tenant, `the keys of ${tenant} could not be loaded`, {
    cause: error,
  });
}
