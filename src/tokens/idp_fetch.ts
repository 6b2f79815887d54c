import { IdentityProviderUnavailableError } from './errors.js';

/** The largest metadata or key-set document read from an IdP, in bytes: a hostile one cannot exhaust memory. */
export const MAX_IDP_DOCUMENT_BYTES = 256 * 1024;

/** A document an IdP served, and how long it said it stays fresh. */
export interface IdpDocument {
  readonly document: unknown;
  /** From `Cache-Control` (`max-age`; 0 for `no-cache` / `no-store`), in s; undefined when it says nothing. */
  readonly maxAgeS: number | undefined;
}

/**
 * How long a response says it stays fresh (RFC 9111 §5.2.2): `no-store` and `no-cache` are 0, else
 * `max-age`; undefined when the header says neither (or is malformed).
 */
export function freshnessOf(cacheControl: string | null): number | undefined {
  if (cacheControl === null) return undefined;
  const directives = cacheControl.split(',').map((d) => d.trim().toLowerCase());
  if (directives.some((d) => d === 'no-store' || d === 'no-cache')) return 0;
  for (const directive of directives) {
    const match = /^max-age\s*=\s*"?(\d{1,10})"?$/.exec(directive);
    if (match !== null) return Number(match[1]);
  }
  return undefined;
}

/**
 * GETs a JSON document of an IdP (discovery metadata, a JWKS): no redirects, a time limit, a size limit.
 *
 * @throws {IdentityProviderUnavailableError} unreachable, not 200, too large or not JSON
 */
export async function fetchIdpJson(url: string, timeoutMs: number): Promise<unknown> {
  return (await fetchIdpDocument(url, timeoutMs)).document;
}

/**
 * {@link fetchIdpJson}, with the freshness the IdP gave it (`Cache-Control`).
 *
 * @throws {IdentityProviderUnavailableError} unreachable, not 200, too large or not JSON
 */
export async function fetchIdpDocument(url: string, timeoutMs: number): Promise<IdpDocument> {
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
    return {
      document: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
      maxAgeS: freshnessOf(response.headers.get('cache-control')),
    };
  } catch (cause) {
    throw new IdentityProviderUnavailableError(`${url} could not be read`, { cause });
  }
}
