import { createHash, timingSafeEqual } from 'node:crypto';

/** The token of an `Authorization: Bearer <token>` header, when that is what it holds. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

/**
 * Tokens as they are configured: SHA-256 digests (hex), never the tokens
 * themselves. A presented token is hashed and compared in constant time.
 */
export class TokenDigests {
  readonly #digests: readonly Buffer[];

  constructor(sha256Hex: readonly string[]) {
    this.#digests = sha256Hex.map((h) => Buffer.from(h, 'hex'));
  }

  accepts(token: string | undefined): boolean {
    if (token === undefined) return false;
    const hash = createHash('sha256').update(token).digest();
    return this.#digests.some((d) => d.length === hash.length && timingSafeEqual(d, hash));
  }
}
