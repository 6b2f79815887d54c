import { IdentityProviderUnavailableError } from './errors.js';

/** The largest metadata or key-set document read from an IdP, in bytes: a hostile one cannot exhaust memory. */
export const MAX_IDP_DOCUMENT_BYTES = 256 * 1024;

/**
 * GETs a JSON document of an IdP (discovery metadata, a JWKS): no redirects, a time limit, a size limit.
 *
 * @throws {IdentityProviderUnavailableError} unreachable, not 200, too large or not JSON
 */
export async function fetchIdpJson(url: string, timeoutMs: number): Promise<unknown> {
  try {
    const response = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'error',
      headers: { accept: 'application/json' },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > MAX_IDP_DOCUMENT_BYTES) throw new Error(`${declared} bytes is over ${MAX_IDP_DOCUMENT_BYTES}`);
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > MAX_IDP_DOCUMENT_BYTES) throw new Error(`the document is over ${MAX_IDP_DOCUMENT_BYTES} bytes`);
      chunks.push(chunk);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (cause) {
    throw new IdentityProviderUnavailableError(`${url} could not be read`, { cause });
  }
}
