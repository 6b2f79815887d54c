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

/**
 * The request body as a JSON object, at most `limit` bytes. `invalid` makes the surface's own error for a body
 * that is not JSON or not an object; with `emptyIsObject`, an empty body is `{}`.
 *
 * @throws {RequestBodyTooLargeError} over `limit`
 */
export async function readJsonObject(
  ctx: Context,
  options: { readonly limit: number; readonly invalid: (message: string) => Error; readonly emptyIsObject?: boolean },
): Promise<Record<string, unknown>> {
  const text = (await readRequestBody(ctx, options.limit)).toString('utf8');
  if (options.emptyIsObject === true && text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw options.invalid('the body is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw options.invalid('the body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
