import type { Context } from 'koa';
import { describe, expect, it } from 'vitest';
import { RequestBodyTooLargeError } from '../../src/http/errors.js';
import { readRequestBody } from '../../src/http/request_body.js';

/**
 * The two things readRequestBody reads of a koa context: a header and the
 * request stream. `pulled` counts the chunks the reader asked for, so a test
 * sees how much of an oversized body was read.
 */
function request(chunks: readonly (string | Buffer)[], contentLength?: string): { ctx: Context; pulled: () => number } {
  let pulled = 0;
  async function* body(): AsyncGenerator<Buffer> {
    for (const chunk of chunks) {
      pulled++;
      await Promise.resolve();
      yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'utf8');
    }
  }
  const ctx = {
    get: (name: string): string => (name.toLowerCase() === 'content-length' ? (contentLength ?? '') : ''),
    req: body(),
  } as unknown as Context;
  return { ctx, pulled: () => pulled };
}

const TOO_LARGE = { code: 'ERR_HTTP_BODY_TOO_LARGE', kind: 'payload_too_large' };

describe('readRequestBody', () => {
  it('returns the whole body, chunks joined in order', async () => {
    const { ctx } = request(['{"a":', '1}']);
    expect((await readRequestBody(ctx, 1024)).toString('utf8')).toBe('{"a":1}');
  });

  it('accepts a body of exactly the limit', async () => {
    const { ctx } = request(['x'.repeat(6), 'y'.repeat(4)], '10');
    expect(await readRequestBody(ctx, 10)).toHaveLength(10);
  });

  it('returns an empty body as an empty buffer', async () => {
    expect(await readRequestBody(request([]).ctx, 10)).toEqual(Buffer.alloc(0));
  });

  it('counts bytes, not characters: multi-byte UTF-8 over the limit is refused', async () => {
    // 4 characters, 8 bytes.
    await expect(readRequestBody(request(['éééé']).ctx, 7)).rejects.toMatchObject(TOO_LARGE);
    expect(await readRequestBody(request(['éééé']).ctx, 8)).toHaveLength(8);
  });

  it('refuses a declared Content-Length over the limit without reading any of the body', async () => {
    const { ctx, pulled } = request(['x'], '1048577');
    await expect(readRequestBody(ctx, 1_048_576)).rejects.toMatchObject(TOO_LARGE);
    expect(pulled()).toBe(0);
  });

  it('stops reading at the chunk that passes the limit when the length is not declared (chunked)', async () => {
    const { ctx, pulled } = request(['x'.repeat(8), 'x'.repeat(8), 'x'.repeat(8), 'x'.repeat(8)]);
    await expect(readRequestBody(ctx, 10)).rejects.toBeInstanceOf(RequestBodyTooLargeError);
    expect(pulled()).toBe(2);
  });

  it('does not trust a Content-Length that understates the body', async () => {
    const { ctx, pulled } = request(['x'.repeat(8), 'x'.repeat(8), 'x'.repeat(8)], '4');
    await expect(readRequestBody(ctx, 10)).rejects.toMatchObject(TOO_LARGE);
    expect(pulled()).toBe(2);
  });

  it('refuses a declared length too large to be a number of bytes', async () => {
    const { ctx, pulled } = request(['x'], '1e400');
    await expect(readRequestBody(ctx, 10)).rejects.toMatchObject(TOO_LARGE);
    expect(pulled()).toBe(0);
  });

  it.each(['abc', '-1', ' ', ''])('enforces the limit on the bytes when Content-Length is %j', async (declared) => {
    await expect(readRequestBody(request(['x'.repeat(11)], declared).ctx, 10)).rejects.toMatchObject(TOO_LARGE);
    expect(await readRequestBody(request(['x'.repeat(10)], declared).ctx, 10)).toHaveLength(10);
  });
});
