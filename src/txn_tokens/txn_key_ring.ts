import { exportJWK, generateKeyPair, importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import type { KvRegisterOptions, RegisterEntry } from '../stream/index.js';
import { TxnKeysUnavailableError } from './errors.js';

/** The one signing algorithm: the verifier refuses every other (RFC 8725 §3.1). */
export const TXN_TOKEN_ALGORITHM = 'ES256';

/** The KV bucket holding every tenant's transaction-token keys, one key per tenant. */
export const TXN_KEYS_BUCKET = 'ipsie_txn_keys';

/** The bucket's settings; the history keeps the last rotations for operators to read. */
export function TXN_KEYS_BUCKET_OPTIONS(replicas: number): KvRegisterOptions {
  return {
    bucket: TXN_KEYS_BUCKET,
    description: 'transaction-token signing keys per tenant (private: the cluster only)',
    replicas,
    history: 5,
  };
}

/** What the ring needs of the bucket: read, create-only, compare-and-set (`KvRegister`). */
export interface TxnKeyStore {
  read(key: string): Promise<RegisterEntry | undefined>;
  /** The new revision, or undefined when the key holds a value already. */
  create(key: string, value: string): Promise<number | undefined>;
  /** The new revision, or undefined when the key moved past `revision`. */
  replace(key: string, value: string, revision: number): Promise<number | undefined>;
}

/** One key as the bucket stores it: the private JWK and the window it signs in (Unix s). */
export interface StoredTxnKey {
  readonly kid: string;
  readonly alg: string;
  readonly jwk: JWK;
  readonly sign_from: number;
  readonly sign_until: number;
  /**
   * How long after `sign_until` the key still verifies, in s: the longest token lifetime (plus tolerance) of
   * any sidecar that signed with it, raised by such a sidecar before it signs. Sidecars configured with
   * different lifetimes thus never drop a key another one's tokens still need.
   */
  readonly retain_s: number;
}

/** A tenant's value in the bucket. */
export interface StoredTxnKeys {
  readonly v: 1;
  readonly keys: readonly StoredTxnKey[];
}

export interface TxnKeyRingOptions {
  readonly store: TxnKeyStore;
  /** How long one key signs, in s; its successor is published this long ahead of use. */
  readonly rotationS: number;
  /** Token lifetime plus clock tolerance, in s: a key verifies this long after it stopped signing. */
  readonly retainS: number;
  /** Least time between two reads of a tenant's keys for an unknown `kid`, in ms. @defaultValue 1000 */
  readonly minRereadMs?: number;
  /** Unix seconds. @defaultValue the system clock */
  readonly clock?: () => number;
}

/** A tenant's keys as this process holds them: imported, with the revision they were read at. */
interface Loaded {
  readonly revision: number;
  readonly stored: StoredTxnKeys;
  readonly signing: ReadonlyMap<string, CryptoKey>;
  readonly verifying: ReadonlyMap<string, CryptoKey>;
}

export interface TxnSigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly key: CryptoKey;
}

/**
 * The transaction-token keys every sidecar of a tenant shares, from one KV
 * key per tenant. Whoever needs a key first creates the tenant's keys
 * (create-only: one writer wins, the others read its keys); whoever finds the
 * current key's window over rotates them with a compare-and-set. The value
 * always holds the key signing now, its successor (published a whole rotation
 * ahead of use, so every verifier has it before any token it signs), and the
 * keys that stopped signing less than a token lifetime ago (they still
 * verify). Private keys live only in the bucket and in the processes' memory.
 */
export class TxnKeyRing {
  readonly #store: TxnKeyStore;
  readonly #rotationS: number;
  readonly #retainS: number;
  readonly #minRereadMs: number;
  readonly #clock: () => number;
  readonly #loaded = new Map<string, Loaded>();
  readonly #loading = new Map<string, Promise<Loaded | undefined>>();
  /** When each tenant's keys were last read, in ms, whether or not there were any. */
  readonly #readAtMs = new Map<string, number>();

  constructor(options: TxnKeyRingOptions) {
    if (!Number.isInteger(options.rotationS) || options.rotationS <= 0) {
      throw new TypeError('rotationS must be a positive integer');
    }
    this.#store = options.store;
    this.#rotationS = options.rotationS;
    this.#retainS = options.retainS;
    this.#minRereadMs = options.minRereadMs ?? 1_000;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * The key that signs now for `tenant`, creating or rotating the tenant's keys first when due.
   *
   * @throws {TxnKeysUnavailableError} `ERR_TXN_KEYS_UNAVAILABLE`
   */
  async signingKey(tenantId: string): Promise<TxnSigningKey> {
    const now = this.#clock();
    let loaded = this.#loaded.get(tenantId);
    if (loaded === undefined || maintained(loaded.stored, now, this.#rotationS, this.#retainS) !== undefined) {
      loaded = await this.#maintain(tenantId, now);
    }
    const current = signingKeyAt(loaded.stored, now);
    const key = current === undefined ? undefined : loaded.signing.get(current.kid);
    if (current === undefined || key === undefined) {
      throw new TxnKeysUnavailableError(`no transaction-token key of ${tenantId} signs at ${now}`);
    }
    return { kid: current.kid, alg: current.alg, key };
  }

  /**
   * The public key `kid` of `tenant`, or undefined when the tenant has no such key. An unknown `kid` makes
   * the tenant's keys be read again (at most once per `minRereadMs`, waiting for the next read when one was
   * just made): a key another sidecar just added.
   *
   * @throws {TxnKeysUnavailableError} `ERR_TXN_KEYS_UNAVAILABLE`
   */
  async verificationKey(tenantId: string, kid: string): Promise<CryptoKey | undefined> {
    const held = (): CryptoKey | undefined => this.#loaded.get(tenantId)?.verifying.get(kid);
    const known = held();
    if (known !== undefined) return known;
    // Made-up kids (or a tenant without keys) cost at most one read per interval, however many arrive; a real
    // new key (created or rotated just after this process's last read) waits for the next read, not refused.
    const readAt = this.#readAtMs.get(tenantId);
    const waitMs = readAt === undefined ? 0 : readAt + this.#minRereadMs - Date.now();
    if (waitMs > 0) {
      await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (this.#readAtMs.get(tenantId) !== readAt) {
        // Another waiter read (or is reading) since: share its answer.
        await this.#loading.get(tenantId);
        return held();
      }
    }
    return (await this.#read(tenantId))?.verifying.get(kid);
  }

  /**
   * The tenant's public keys as a JWKS (no private member), read from the bucket now; empty when none.
   *
   * @throws {TxnKeysUnavailableError} `ERR_TXN_KEYS_UNAVAILABLE`
   */
  async publicJwks(tenantId: string): Promise<{ keys: JWK[] }> {
    return await readPublicJwks(this.#store, tenantId);
  }

  /** Reads the tenant's keys; one read at a time per tenant. */
  async #read(tenantId: string): Promise<Loaded | undefined> {
    const pending = this.#loading.get(tenantId);
    if (pending !== undefined) return await pending;
    const reading = (async (): Promise<Loaded | undefined> => {
      this.#readAtMs.set(tenantId, Date.now());
      const entry = await this.#call(() => this.#store.read(tenantId));
      if (entry === undefined) return undefined;
      const loaded = await importStored(entry.revision, parseStored(entry.value, tenantId));
      this.#keep(tenantId, loaded);
      return loaded;
    })();
    this.#loading.set(tenantId, reading);
    try {
      return await reading;
    } finally {
      this.#loading.delete(tenantId);
    }
  }

  /** Keeps the newer of what this process holds and what it just read (reads may finish out of order). */
  #keep(tenantId: string, loaded: Loaded): void {
    const held = this.#loaded.get(tenantId);
    if (held === undefined || held.revision <= loaded.revision) this.#loaded.set(tenantId, loaded);
  }

  /** Creates or rotates the tenant's keys as due at `now`; a lost race reads the winner's keys and tries again. */
  async #maintain(tenantId: string, now: number): Promise<Loaded> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.#read(tenantId);
      const next = maintained(current?.stored ?? { v: 1, keys: [] }, now, this.#rotationS, this.#retainS);
      if (current !== undefined && next === undefined) return current;
      const value = await withNewKeys(next ?? { v: 1, keys: [] });
      const text = JSON.stringify(value);
      const revision = await this.#call(() =>
        current === undefined
          ? this.#store.create(tenantId, text)
          : this.#store.replace(tenantId, text, current.revision),
      );
      if (revision !== undefined) {
        const loaded = await importStored(revision, value);
        this.#keep(tenantId, loaded);
        return loaded;
      }
    }
    throw new TxnKeysUnavailableError(`the transaction-token keys of ${tenantId} keep changing; try again`);
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (cause) {
      if (cause instanceof TxnKeysUnavailableError) throw cause;
      throw new TxnKeysUnavailableError('the transaction-token key bucket cannot be reached', { cause });
    }
  }
}

/**
 * A tenant's public keys as a JWKS, read from the bucket now (the gateway's, which neither creates nor
 * rotates keys); empty when the tenant has none yet.
 *
 * @throws {TxnKeysUnavailableError} `ERR_TXN_KEYS_UNAVAILABLE`
 */
export async function readPublicJwks(store: Pick<TxnKeyStore, 'read'>, tenantId: string): Promise<{ keys: JWK[] }> {
  let entry: RegisterEntry | undefined;
  try {
    entry = await store.read(tenantId);
  } catch (cause) {
    throw new TxnKeysUnavailableError('the transaction-token key bucket cannot be reached', { cause });
  }
  return { keys: entry === undefined ? [] : parseStored(entry.value, tenantId).keys.map(publicJwk) };
}

/** A key without its private material marks one still to be generated (see {@link withNewKeys}). */
const PENDING_JWK: JWK = {};

/**
 * The keys as they should be at `now`, or undefined when they need no change: keys whose tokens have all
 * expired dropped, a key signing now, and its successor published ahead. New keys are placeholders
 * ({@link PENDING_JWK}) filled by {@link withNewKeys}.
 */
export function maintained(
  stored: StoredTxnKeys,
  now: number,
  rotationS: number,
  retainS: number,
): StoredTxnKeys | undefined {
  let changed = false;
  const keys = stored.keys.filter((k) => k.sign_until + Math.max(k.retain_s, retainS) > now);
  if (keys.length !== stored.keys.length) changed = true;
  const pending = (from: number): StoredTxnKey => ({
    kid: '',
    alg: TXN_TOKEN_ALGORITHM,
    jwk: PENDING_JWK,
    sign_from: from,
    sign_until: from + rotationS,
    retain_s: retainS,
  });
  let current = signingKeyAt({ v: 1, keys }, now);
  if (current === undefined) {
    current = pending(now);
    keys.push(current);
    changed = true;
  } else if (current.retain_s < retainS) {
    // This sidecar's tokens live longer than the key was kept for: keep it longer before signing with it.
    const index = keys.indexOf(current);
    current = { ...current, retain_s: retainS };
    keys[index] = current;
    changed = true;
  }
  const until = current.sign_until;
  if (!keys.some((k) => k.sign_from >= until)) {
    keys.push(pending(until));
    changed = true;
  }
  return changed ? { v: 1, keys } : undefined;
}

/** The key signing at `now`: of those whose window holds it, the latest started. */
export function signingKeyAt(stored: StoredTxnKeys, now: number): StoredTxnKey | undefined {
  let found: StoredTxnKey | undefined;
  for (const key of stored.keys) {
    if (key.sign_from <= now && now < key.sign_until && (found === undefined || key.sign_from > found.sign_from)) {
      found = key;
    }
  }
  return found;
}

async function withNewKeys(stored: StoredTxnKeys): Promise<StoredTxnKeys> {
  const keys = await Promise.all(
    stored.keys.map(async (k) => {
      if (k.jwk !== PENDING_JWK) return k;
      const pair = await generateKeyPair(TXN_TOKEN_ALGORITHM, { extractable: true });
      const jwk = await exportJWK(pair.privateKey);
      const kid = crypto.randomUUID();
      return { ...k, kid, jwk: { ...jwk, kid, alg: TXN_TOKEN_ALGORITHM } };
    }),
  );
  return { v: 1, keys };
}

function parseStored(text: string, tenantId: string): StoredTxnKeys {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new TxnKeysUnavailableError(`the transaction-token keys of ${tenantId} are not JSON`, { cause });
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if ((parsed as { v?: unknown }).v !== 1 || !Array.isArray(keys)) {
    throw new TxnKeysUnavailableError(`the transaction-token keys of ${tenantId} are not version 1`);
  }
  for (const key of keys as Partial<StoredTxnKey>[]) {
    if (
      typeof key.kid !== 'string' ||
      key.alg !== TXN_TOKEN_ALGORITHM ||
      typeof key.jwk !== 'object' ||
      typeof key.sign_from !== 'number' ||
      typeof key.sign_until !== 'number' ||
      typeof key.retain_s !== 'number'
    ) {
      throw new TxnKeysUnavailableError(`a transaction-token key of ${tenantId} is malformed`);
    }
  }
  return { v: 1, keys: keys as StoredTxnKey[] };
}

async function importStored(revision: number, stored: StoredTxnKeys): Promise<Loaded> {
  const signing = new Map<string, CryptoKey>();
  const verifying = new Map<string, CryptoKey>();
  for (const key of stored.keys) {
    signing.set(key.kid, (await importJWK(key.jwk, key.alg)) as CryptoKey);
    verifying.set(key.kid, (await importJWK(publicJwk(key), key.alg)) as CryptoKey);
  }
  return { revision, stored, signing, verifying };
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

function publicJwk(key: StoredTxnKey): JWK {
  const copy: Record<string, unknown> = { ...key.jwk, kid: key.kid, alg: key.alg, use: 'sig' };
  for (const member of PRIVATE_MEMBERS) Reflect.deleteProperty(copy, member);
  return copy;
}
