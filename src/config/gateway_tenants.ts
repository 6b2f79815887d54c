import { ConfigInvalidError } from './errors.js';

/** One tenant as the gateway knows it: how its IdP authenticates, and its limits. */
export interface GatewayTenant {
  readonly id: string;
  readonly displayName: string;
  readonly scim: {
    /** SHA-256 (hex) of each accepted static bearer token. */
    readonly bearerTokenSha256: readonly string[];
    /** RFC 7523 / OAuth access tokens from the tenant's authorization server. */
    readonly oauth: { readonly issuer: string; readonly jwksUri: string; readonly audience: string } | undefined;
    readonly rateLimit: { readonly requestsPerSecond: number; readonly burst: number };
  };
}

export const DEFAULT_SCIM_RATE_LIMIT = { requestsPerSecond: 50, burst: 100 } as const;

const TENANT_ID = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Parses the gateway's tenants file (JSON):
 *
 * ```json
 * { "tenants": { "acme": { "display_name": "Acme",
 *     "scim": { "bearer_token_sha256": ["<64 hex>"],
 *               "oauth": { "issuer": "…", "jwks_uri": "https://…", "audience": "…" },
 *               "rate_limit": { "requests_per_second": 50, "burst": 100 } } } } }
 * ```
 *
 * @throws {ConfigInvalidError} naming the file's variable and the path inside it
 */
export function parseGatewayTenants(text: string, key: string): GatewayTenant[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigInvalidError([key], 'the tenants file is not valid JSON');
  }
  const at = (path: string, problem: string): ConfigInvalidError => new ConfigInvalidError([key], `${path} ${problem}`);
  const tenants = isObject(parsed) ? parsed['tenants'] : undefined;
  if (!isObject(tenants)) throw at('tenants', 'must be an object of tenant id -> settings');
  return Object.entries(tenants).map(([id, raw]): GatewayTenant => {
    const base = `tenants.${id}`;
    if (!TENANT_ID.test(id)) throw at(base, 'is not a valid tenant id ([a-z][a-z0-9_]{0,62})');
    if (!isObject(raw)) throw at(base, 'must be an object');
    const displayName = raw['display_name'] ?? id;
    if (typeof displayName !== 'string') throw at(`${base}.display_name`, 'must be a string');
    const scim = raw['scim'] ?? {};
    if (!isObject(scim)) throw at(`${base}.scim`, 'must be an object');
    const hashes = scim['bearer_token_sha256'] ?? [];
    if (!Array.isArray(hashes)) throw at(`${base}.scim.bearer_token_sha256`, 'must be an array');
    hashes.forEach((h, i) => {
      if (typeof h !== 'string' || !/^[0-9a-f]{64}$/i.test(h)) {
        throw at(`${base}.scim.bearer_token_sha256[${i}]`, 'must be 64 hex characters (a SHA-256, not the token)');
      }
    });
    let oauth: GatewayTenant['scim']['oauth'];
    if (scim['oauth'] !== undefined) {
      const o = scim['oauth'];
      if (!isObject(o)) throw at(`${base}.scim.oauth`, 'must be an object');
      const field = (name: string): string => {
        const v = o[name];
        if (typeof v !== 'string' || v === '') throw at(`${base}.scim.oauth.${name}`, 'is required');
        return v;
      };
      const jwksUri = field('jwks_uri');
      if (!/^https?:\/\//.test(jwksUri)) throw at(`${base}.scim.oauth.jwks_uri`, 'must be an http(s) URL');
      oauth = { issuer: field('issuer'), jwksUri, audience: field('audience') };
    }
    if (hashes.length === 0 && oauth === undefined) {
      throw at(`${base}.scim`, 'needs bearer_token_sha256 or oauth: a tenant without credentials cannot provision');
    }
    const limit = scim['rate_limit'] ?? {};
    if (!isObject(limit)) throw at(`${base}.scim.rate_limit`, 'must be an object');
    const positive = (name: string, fallback: number): number => {
      const v = limit[name] ?? fallback;
      if (typeof v !== 'number' || !(v > 0)) throw at(`${base}.scim.rate_limit.${name}`, 'must be a positive number');
      return v;
    };
    return {
      id,
      displayName,
      scim: {
        bearerTokenSha256: hashes as string[],
        oauth,
        rateLimit: {
          requestsPerSecond: positive('requests_per_second', DEFAULT_SCIM_RATE_LIMIT.requestsPerSecond),
          burst: positive('burst', DEFAULT_SCIM_RATE_LIMIT.burst),
        },
      },
    };
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
