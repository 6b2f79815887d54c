import type { Context } from 'koa';
import { RequestBodyTooLargeError } from './errors.js';

/**
 * Reads the request body, refusing it as soon as it (or its declared
 * length) passes `limit` bytes, so an oversized body never sits in memory.
 *
 * @throws {RequestBodyTooLargeError}
 */
export async function readRequestBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > limit) throw new RequestBodyTooLargeError(`the body is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new RequestBodyTooLargeError(`the body is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
