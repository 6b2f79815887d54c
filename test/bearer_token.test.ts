import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bearerToken, REMEMBERED_TOKENS, TokenDigests } from '../src/bearer_token.js';

const sha256Hex = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

describe('bearerToken', () => {
  it.each([
    ['Bearer abc.def-ghi_~+/=', 'abc.def-ghi_~+/='],
    ['bearer abc', 'abc'],
    ['BEARER abc', 'abc'],
    ['Bearer    abc', 'abc'],
    ['Bearer abc  ', 'abc'],
  ])('reads the token of %j (the scheme is case-insensitive, RFC 7235 §2.1)', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each([
    ['no header', undefined],
    ['an empty header', ''],
    ['the scheme alone', 'Bearer'],
    ['the scheme and a space', 'Bearer '],
    ['another scheme', 'Basic YWxhZGRpbjpvcGVuc2VzYW1l'],
    ['a scheme that only starts with Bearer', 'Bearerabc'],
    ['two tokens', 'Bearer abc def'],
    ['a token before the scheme', 'abc Bearer def'],
    ['a comma-joined second credential', 'Bearer abc, Bearer def'],
  ])('finds no token in %s', (_what, header) => {
    expect(bearerToken(header)).toBeUndefined();
  });
});

describe('TokenDigests', () => {
  const configured = ['s3cret-token', 'second-token'];
  const digests = new TokenDigests(configured.map(sha256Hex));

  it('accepts each configured token, by its SHA-256 digest', () => {
    for (const token of configured) expect(digests.accepts(token)).toBe(true);
  });

  it('accepts a digest configured in upper-case hex', () => {
    expect(new TokenDigests([sha256Hex('t').toUpperCase()]).accepts('t')).toBe(true);
  });

  it.each([
    ['no token', undefined],
    ['an empty token', ''],
    ['another token', 'guess'],
    ['a configured token with a trailing space', 's3cret-token '],
    ['a configured token in another case', 'S3CRET-TOKEN'],
    ['the digest itself', sha256Hex('s3cret-token')],
  ])('refuses %s', (_what, token) => {
    expect(digests.accepts(token)).toBe(false);
  });

  it('hashes a token as UTF-8: a token with non-ASCII characters matches only itself', () => {
    const unicode = new TokenDigests([sha256Hex('tökén-🔑')]);
    expect(unicode.accepts('tökén-🔑')).toBe(true);
    expect(unicode.accepts('token-🔑')).toBe(false);
    // The same characters in another Unicode normal form are another byte sequence.
    expect(unicode.accepts('tökén-🔑'.normalize('NFD'))).toBe(false);
  });

  it('accepts nothing with no digests configured', () => {
    expect(new TokenDigests([]).accepts('')).toBe(false);
    expect(new TokenDigests([]).accepts('anything')).toBe(false);
  });

  it.each([
    ['truncated', sha256Hex('t').slice(0, 32)],
    ['of odd length', sha256Hex('t').slice(0, 63)],
    ['not hex', 'z'.repeat(64)],
    ['empty', ''],
  ])('a malformed digest (%s) accepts no token, not even the empty one', (_what, digest) => {
    const malformed = new TokenDigests([digest]);
    expect(malformed.accepts('t')).toBe(false);
    expect(malformed.accepts('')).toBe(false);
  });
});

describe('TokenDigests remembering accepted tokens', () => {
  it('remembers an accepted token once, never a refused one, and at most REMEMBERED_TOKENS', () => {
    const tokens = Array.from({ length: REMEMBERED_TOKENS + 10 }, (_, i) => `token-${i}`);
    const digests = new TokenDigests(tokens.map(sha256Hex));
    expect(digests.accepts('token-0')).toBe(true);
    expect(digests.accepts('token-0')).toBe(true);
    expect(digests.remembered).toBe(1);
    expect(digests.accepts('not-configured')).toBe(false);
    expect(digests.accepts('not-configured')).toBe(false);
    expect(digests.remembered).toBe(1);
    for (const token of tokens) expect(digests.accepts(token)).toBe(true);
    expect(digests.remembered).toBe(REMEMBERED_TOKENS);
    // Forgotten ones are accepted again by their digest.
    expect(digests.accepts('token-0')).toBe(true);
  });
});
