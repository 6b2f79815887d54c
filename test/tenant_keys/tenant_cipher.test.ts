import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSealed, TenantCipher, TenantKeyError } from '../../src/tenant_keys/index.js';

function cipher(
  tenant = 'acme',
  keys = new Map([['k1', randomBytes(32)]]),
  current = 'k1',
  lookupKey = randomBytes(32),
): TenantCipher {
  return new TenantCipher(tenant, keys, current, lookupKey);
}

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(TenantKeyError);
    return (error as TenantKeyError).code;
  }
  throw new Error('expected a refusal');
}

describe('TenantCipher', () => {
  it('opens what it sealed, and the sealed form holds none of the plaintext', () => {
    const acme = cipher();
    const sealed = acme.seal('{"email":"ada@acme.example"}', 'user:u1');
    expect(isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('ada');
    expect(Buffer.from(sealed.split('.')[3]!, 'base64url').toString('latin1')).not.toContain('ada');
    expect(acme.open(sealed, 'user:u1')).toBe('{"email":"ada@acme.example"}');
  });

  it('seals the same plaintext differently each time (a fresh iv)', () => {
    const acme = cipher();
    expect(acme.seal('x', 'user:u1')).not.toBe(acme.seal('x', 'user:u1'));
  });

  it("refuses a value sealed for another entity, another tenant, or under another tenant's key", () => {
    const keys = new Map([['k1', randomBytes(32)]]);
    const lookupKey = randomBytes(32);
    const acme = cipher('acme', keys, 'k1', lookupKey);
    const globex = cipher('globex', keys, 'k1', lookupKey);
    const sealed = acme.seal('secret', 'user:u1');
    expect(refusal(() => acme.open(sealed, 'user:u2'))).toBe('ERR_TENANT_KEY_SEALED_INVALID');
    expect(refusal(() => globex.open(sealed, 'user:u1'))).toBe('ERR_TENANT_KEY_SEALED_INVALID');
    expect(refusal(() => cipher().open(sealed, 'user:u1'))).toBe('ERR_TENANT_KEY_SEALED_INVALID');
  });

  it('refuses an altered, truncated or malformed value', () => {
    const acme = cipher();
    const sealed = acme.seal('secret', 'user:u1');
    const [version, keyId, iv, body] = sealed.split('.') as [string, string, string, string];
    const flipped = Buffer.from(body, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    for (const forged of [
      `${version}.${keyId}.${iv}.${flipped.toString('base64url')}`,
      `${version}.${keyId}.${iv}.${body.slice(0, 8)}`,
      `${version}.${keyId}.${iv.slice(0, 4)}.${body}`,
      `${version}.k2.${iv}.${body}`,
      `s2.${keyId}.${iv}.${body}`,
      'secret',
      `${sealed}.x`,
    ]) {
      expect(refusal(() => acme.open(forged, 'user:u1'))).toBe('ERR_TENANT_KEY_SEALED_INVALID');
    }
  });

  it('opens values sealed by an earlier data key after the current one changed (rotation)', () => {
    const k1 = randomBytes(32);
    const lookupKey = randomBytes(32);
    const before = cipher('acme', new Map([['k1', k1]]), 'k1', lookupKey);
    const sealed = before.seal('kept', 'user:u1');
    const after = cipher(
      'acme',
      new Map([
        ['k1', k1],
        ['k2', randomBytes(32)],
      ]),
      'k2',
      lookupKey,
    );
    expect(after.open(sealed, 'user:u1')).toBe('kept');
    expect(after.seal('new', 'user:u1').startsWith('s1.k2.')).toBe(true);
    expect(after.lookup('ada')).toBe(before.lookup('ada'));
  });

  it('hashes lookups with the tenant key: stable for one tenant, unrelated across tenants', () => {
    const acme = cipher();
    expect(acme.lookup('ada@acme.example')).toBe(acme.lookup('ada@acme.example'));
    expect(acme.lookup('ada@acme.example')).not.toBe(cipher().lookup('ada@acme.example'));
    expect(acme.matches(acme.lookup('ada'), 'ada')).toBe(true);
    expect(acme.matches(acme.lookup('ada'), 'bob')).toBe(false);
  });

  it('refuses keys of the wrong size and a current key it does not hold', () => {
    expect(() => cipher('acme', new Map([['k1', randomBytes(16)]]))).toThrow(RangeError);
    expect(() => cipher('acme', new Map([['k.1', randomBytes(32)]]), 'k.1')).toThrow(RangeError);
    expect(() => cipher('acme', new Map([['k1', randomBytes(32)]]), 'k2')).toThrow(RangeError);
    expect(() => cipher('acme', undefined, 'k1', randomBytes(31))).toThrow(RangeError);
  });
});
