import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logging/index.js';
import { SigningKeyRing, SigningKeysInvalidError } from '../../src/transmit/index.js';
import { makeTempDir } from '../harness/temp_dir.js';

const dir = makeTempDir('ipsie-keys-');
const logger = createLogger('silent');
afterAll(() => {
  dir.remove();
});

async function key(alg: 'RS256' | 'ES256', kid: string): Promise<{ private: JWK; public: JWK }> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return {
    private: { ...(await exportJWK(pair.privateKey)), kid, alg },
    public: { ...(await exportJWK(pair.publicKey)), kid, alg },
  };
}

function file(name: string, content: unknown): string {
  const path = join(dir.path, name);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

describe('SigningKeyRing', () => {
  it('signs with the first key and publishes every public half, without private members', async () => {
    const a = await key('ES256', 'a');
    const b = await key('RS256', 'b');
    const ring = await SigningKeyRing.load(file('good.json', { keys: [a.private, b.public] }), logger);
    expect(ring.signing).toMatchObject({ kid: 'a', alg: 'ES256' });
    const published = ring.jwks().keys;
    expect(published.map((k) => k.kid)).toEqual(['a', 'b']);
    for (const k of published) {
      expect(k).not.toHaveProperty('d');
      expect(k.use).toBe('sig');
    }
  });

  it.each([
    ['a missing file', undefined, /cannot be read/],
    ['not JSON', 'nope', /cannot be read/],
    ['no keys', { keys: [] }, /no "keys"/],
  ])('refuses %s', async (name, content, message) => {
    const path = content === undefined ? join(dir.path, 'absent.json') : file(`${name}.json`, content);
    await expect(SigningKeyRing.load(path, logger)).rejects.toThrow(message);
    await expect(SigningKeyRing.load(path, logger)).rejects.toBeInstanceOf(SigningKeysInvalidError);
  });

  it('refuses a public first key, a symmetric key, a duplicate kid, an unsupported or missing alg', async () => {
    const a = await key('ES256', 'a');
    const cases: [unknown, RegExp][] = [
      [{ keys: [a.public] }, /must be a private key/],
      [{ keys: [a.private, { kty: 'oct', k: 'c2VjcmV0', kid: 's', alg: 'RS256' }] }, /symmetric/],
      [{ keys: [a.private, a.public] }, /appears twice/],
      [{ keys: [{ ...a.private, alg: 'HS256' }] }, /needs "alg"/],
      [{ keys: [{ ...a.private, alg: undefined }] }, /needs "alg"/],
      [{ keys: [{ ...a.private, kid: undefined }] }, /no kid/],
    ];
    for (const [i, [content, message]] of cases.entries()) {
      await expect(SigningKeyRing.load(file(`bad-${i}.json`, content), logger)).rejects.toThrow(message);
    }
  });

  it('reload picks up a rotation; a broken file keeps the keys in use', async () => {
    const a = await key('ES256', 'a');
    const b = await key('ES256', 'b');
    const path = file('rotating.json', { keys: [a.private] });
    const ring = await SigningKeyRing.load(path, logger);
    file('rotating.json', { keys: [b.private, a.public] });
    await ring.reload();
    expect(ring.signing.kid).toBe('b');
    file('rotating.json', '{ broken');
    await expect(ring.reload()).rejects.toBeInstanceOf(SigningKeysInvalidError);
    expect(ring.signing.kid).toBe('b');
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual(['b', 'a']);
  });
});
