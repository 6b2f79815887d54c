import { readFile } from 'node:fs/promises';
import { importJWK } from 'jose';
import type { CryptoKey, JWK, KeyObject } from 'jose';
import type { Logger } from '../logging/index.js';
import { SigningKeysInvalidError } from './errors.js';

const ALGORITHMS = new Set(['RS256', 'PS256', 'ES256', 'EdDSA']);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly key: CryptoKey | KeyObject | Uint8Array;
}

interface KeySet {
  readonly signing: SigningKey;
  readonly publicJwks: readonly JWK[];
}

/**
 * Our SET signing keys, from a JWKS file of private keys. The first key
 * signs; every key's public half is published, so a key added ahead of its
 * use (and kept after) lets receivers verify across a rotation. The file is
 * re-read periodically: rotation needs no restart.
 */
export class SigningKeyRing {
  readonly #path: string;
  readonly #logger: Logger;
  #keys: KeySet;
  #timer: NodeJS.Timeout | undefined;

  private constructor(path: string, keys: KeySet, logger: Logger) {
    this.#path = path;
    this.#keys = keys;
    this.#logger = logger;
  }

  /** @throws {SigningKeysInvalidError} */
  static async load(path: string, logger: Logger): Promise<SigningKeyRing> {
    return new SigningKeyRing(path, await readKeySet(path), logger);
  }

  /** Re-reads the file every `intervalMs`; a bad file is logged and the keys in use stay. */
  reloadEvery(intervalMs: number): void {
    this.#timer ??= setInterval(() => {
      void this.reload().catch((error: unknown) => {
        this.#logger.error({ err: error, path: this.#path }, 'SET signing keys not reloaded; keeping the current ones');
      });
    }, intervalMs);
    this.#timer.unref();
  }

  /** @throws {SigningKeysInvalidError} */
  async reload(): Promise<void> {
    const keys = await readKeySet(this.#path);
    if (keys.signing.kid !== this.#keys.signing.kid) {
      this.#logger.info({ kid: keys.signing.kid, previous: this.#keys.signing.kid }, 'SET signing key rotated');
    }
    this.#keys = keys;
  }

  get signing(): SigningKey {
    return this.#keys.signing;
  }

  jwks(): { keys: readonly JWK[] } {
    return { keys: this.#keys.publicJwks };
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

async function readKeySet(path: string): Promise<KeySet> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (cause) {
    throw new SigningKeysInvalidError(`${path} cannot be read as a JWKS`, { cause });
  }
  const keys = (parsed as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) {
    throw new SigningKeysInvalidError(`${path} has no "keys"`);
  }
  const jwks = keys as JWK[];
  const kids = new Set<string>();
  for (const [i, jwk] of jwks.entries()) {
    if (typeof jwk.kid !== 'string' || jwk.kid === '')
      throw new SigningKeysInvalidError(`${path}: keys[${i}] has no kid`);
    if (kids.has(jwk.kid)) throw new SigningKeysInvalidError(`${path}: kid ${jwk.kid} appears twice`);
    kids.add(jwk.kid);
    if (typeof jwk.alg !== 'string' || !ALGORITHMS.has(jwk.alg)) {
      throw new SigningKeysInvalidError(`${path}: keys[${i}] needs "alg", one of ${[...ALGORITHMS].join(', ')}`);
    }
    if (jwk.kty === 'oct') throw new SigningKeysInvalidError(`${path}: keys[${i}] is symmetric; SETs are signed`);
  }
  const first = jwks[0] as JWK & { kid: string; alg: string };
  if (typeof first.d !== 'string') {
    throw new SigningKeysInvalidError(`${path}: the first key signs, so it must be a private key`);
  }
  let key: SigningKey['key'];
  try {
    key = await importJWK(first, first.alg);
  } catch (cause) {
    throw new SigningKeysInvalidError(`${path}: key ${first.kid} cannot be imported`, { cause });
  }
  const publicJwks = jwks.map((jwk) => {
    const copy: Record<string, unknown> = { ...jwk, use: 'sig' };
    for (const member of PRIVATE_MEMBERS) Reflect.deleteProperty(copy, member);
    return copy;
  });
  return { signing: { kid: first.kid, alg: first.alg, key }, publicJwks };
}
