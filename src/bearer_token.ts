import { createHash, timingSafeEqual } from 'node:crypto';

/** The token of an `Authorization: Bearer <token>` header, when that is what it holds. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

/** Accepted tokens a {@link TokenDigests} remembers (the oldest forgotten first). */
export const REMEMBERED_TOKENS = 64;

/**
 * Tokens as they are configured: SHA-256 digests (hex), never the tokens
 * themselves. A presented token is hashed and compared in constant time; the
 * few accepted ones are remembered, so a caller's every request is not hashed
 * again (a refused token is hashed each time: nothing a caller sends fills memory).
 */
export class TokenDigests {
  readonly #digests: readonly Buffer[];
  /** Accepted tokens, oldest first (a Set keeps insertion order). */
  readonly #accepted = new Set<string>();

  constructor(sha256Hex: readonly string[]) {
    this.#digests = sha256Hex.map((h) => Buffer.from(h, 'hex'));
  }

  /** How many accepted tokens are remembered (at most {@link REMEMBERED_TOKENS}). */
  get remembered(): number {
    return this.#accepted.size;
  }

  accepts(token: string | undefined): boolean {
    if (token === undefined) return false;
    if (this.#accepted.has(token)) return true;
    const hash = createHash('sha256').update(token).digest();
    if (!this.#digests.some((d) => d.length === hash.length && timingSafeEqual(d, hash))) return false;
    if (this.#accepted.size >= REMEMBERED_TOKENS) {
      const oldest = this.#accepted.values().next();
      if (oldest.done !== true) this.#accepted.delete(oldest.value);
    }
    this.#accepted.add(token);
    return true;
  }
}
