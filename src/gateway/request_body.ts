import type { Context } from 'koa';
import { SidecarError } from '../errors.js';

/** A request body over the route's limit; nothing beyond the limit was read. */
export class RequestBodyTooLargeError extends SidecarError {
  readonly code = 'ERR_GATEWAY_BODY_TOO_LARGE';
  readonly httpStatus = 413;
}

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
