import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';

export type SigningAlgorithm = 'PS256' | 'ES256' | 'EdDSA' | 'RS256';

interface SigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

/**
 * A test party's signing keys: real key pairs, some published in its JWKS,
 * rotated the way a real issuer rotates them.
 */
export class TestKeySet {
  #keys: SigningKey[] = [];
  #published: SigningKey[] = [];

  /** Creates a key, publishes it in the JWKS (unless `publish` is false), and returns its kid. */
  async addKey(alg: SigningAlgorithm, publish = true): Promise<string> {
    const { privateKey, publicKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519' } : {});
    const kid = `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`;
    const key: SigningKey = {
      kid,
      alg,
      privateKey,
      publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
    };
    this.#keys.push(key);
    if (publish) this.#published.push(key);
    return kid;
  }

  /** Publishes a key created unpublished (a rotation the JWKS catches up with). */
  publish(kid: string): void {
    const key = this.#keys.find((k) => k.kid === kid);
    if (key !== undefined && !this.#published.includes(key)) this.#published.push(key);
  }

  /** Stops publishing a key (rotation done). */
  retire(kid: string): void {
    this.#published = this.#published.filter((k) => k.kid !== kid);
  }

  jwks(): { keys: JWK[] } {
    return { keys: this.#published.map((k) => k.publicJwk) };
  }

  publicJwk(kid?: string): JWK {
    return this.#key(kid).publicJwk;
  }

  /** Signs `claims` as a JWT with the given (or first) key; `typ: null` leaves the header without one. */
  async sign(claims: JWTPayload, options: { kid?: string | undefined; typ?: string | null } = {}): Promise<string> {
    const key = this.#key(options.kid);
    const typ = options.typ === null ? {} : { typ: options.typ ?? 'JWT' };
    return await new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...typ }).sign(key.privateKey);
  }

  #key(kid?: string): SigningKey {
    const key = kid === undefined ? this.#keys[0] : this.#keys.find((k) => k.kid === kid);
    if (key === undefined) throw new Error(`no key ${String(kid)}`);
    return key;
  }
}
