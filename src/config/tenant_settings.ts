import { ConfigInvalidError } from './errors.js';

/** An OpenID Provider a tenant signs its users in with. */
export interface IdentityProviderSettings {
  /** Exact `iss` of its tokens. */
  readonly issuer: string;
  /** Our client id at this IdP: the one `aud` an ID token must carry (IPSIE SL1: a single string). */
  readonly clientId: string;
  /** Where its keys are; undefined when `discovery` finds them. */
  readonly jwksUri: string | undefined;
  /** Read `jwks_uri` from `<issuer>/.well-known/openid-configuration` (whose `issuer` must match). */
  readonly discovery: boolean;
  /** Accepted signature algorithms. @defaultValue PS256, ES256, EdDSA (RS256 only when listed) */
  readonly algorithms: readonly string[];
  /**
   * How a first sign-in is linked to a user provisioned by SCIM: the token claim to read and the user field it
   * must equal. Undefined: no linking (IPSIE: account linking is off unless configured).
   */
  readonly link: { readonly claim: string; readonly field: 'externalId' | 'userName' } | undefined;
  /** Session lifetime when the assertion has no `session_expiry`, in s. @defaultValue 3600 */
  readonly defaultSessionLifetimeS: number;
  /** No session lasts longer than this after authentication, whatever the assertion says, in s. @defaultValue 43200 */
  readonly maxSessionLifetimeS: number;
}

/** One tenant's settings from the tenants file (`IPSIE_TENANTS_FILE`). */
export interface TenantSettings {
  readonly id: string;
  readonly displayName: string;
  /** Absent: this tenant does not provision over SCIM. */
  readonly scim:
    | {
        /** SHA-256 (hex) of each accepted static bearer token. */
        readonly bearerTokenSha256: readonly string[];
        /** RFC 7523 / OAuth access tokens from the tenant's authorization server. */
        readonly oauth: { readonly issuer: string; readonly jwksUri: string; readonly audience: string } | undefined;
        readonly rateLimit: { readonly requestsPerSecond: number; readonly burst: number };
      }
    | undefined;
  /** SHA-256 (hex) of the tenant administrators' bearer tokens (admin API). */
  readonly adminTokenSha256: readonly string[];
  readonly idps: readonly IdentityProviderSettings[];
  /** IPSIE P1: create the user at first sign-in when no provisioned user matches. @defaultValue false */
  readonly jitProvisioning: boolean;
}

export const DEFAULT_SCIM_RATE_LIMIT = { requestsPerSecond: 50, burst: 100 } as const;
export const DEFAULT_ALGORITHMS = ['PS256', 'ES256', 'EdDSA'] as const;
const ALLOWED_ALGORITHMS = new Set([
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'RS256',
  'RS384',
  'RS512',
]);
const TENANT_ID = /^[a-z][a-z0-9_]{0,62}$/;

/**
 * Parses the tenants file (JSON); see docs/scim.md and docs/sessions.md.
 *
 * @throws {ConfigInvalidError} naming the file's variable and the path inside it
 */
export function parseTenantSettings(text: string, key: string): TenantSettings[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigInvalidError([key], 'the tenants file is not valid JSON');
  }
  const at = (path: string, problem: string): ConfigInvalidError => new ConfigInvalidError([key], `${path} ${problem}`);
  const tenants = isObject(parsed) ? parsed['tenants'] : undefined;
  if (!isObject(tenants)) throw at('tenants', 'must be an object of tenant id -> settings');
  return Object.entries(tenants).map(([id, raw]): TenantSettings => {
    const base = `tenants.${id}`;
    if (!TENANT_ID.test(id)) throw at(base, 'is not a valid tenant id ([a-z][a-z0-9_]{0,62})');
    if (!isObject(raw)) throw at(base, 'must be an object');
    const r = new Reader(raw, base, at).allow('display_name', 'scim', 'admin', 'idps', 'jit_provisioning');
    const idps = r.array('idps').map((v, i) => parseIdp(new Reader(v, `${base}.idps[${i}]`, at)));
    const issuers = idps.map((i) => i.issuer);
    const duplicate = issuers.find((issuer, i) => issuers.indexOf(issuer) !== i);
    if (duplicate !== undefined) throw at(`${base}.idps`, `lists issuer ${duplicate} twice`);
    return {
      id,
      displayName: r.string('display_name') ?? id,
      scim: raw['scim'] === undefined ? undefined : parseScim(r.reader('scim'), at),
      adminTokenSha256:
        raw['admin'] === undefined
          ? []
          : hashes(r.reader('admin').allow('bearer_token_sha256'), 'bearer_token_sha256', true),
      idps,
      jitProvisioning: r.boolean('jit_provisioning') ?? false,
    };
  });
}

function parseScim(
  r: Reader,
  at: (path: string, problem: string) => ConfigInvalidError,
): NonNullable<TenantSettings['scim']> {
  r.allow('bearer_token_sha256', 'oauth', 'rate_limit');
  const bearer = hashes(r, 'bearer_token_sha256', false);
  let oauth: NonNullable<TenantSettings['scim']>['oauth'];
  if (r.has('oauth')) {
    const o = r.reader('oauth').allow('issuer', 'jwks_uri', 'audience');
    oauth = { issuer: o.required('issuer'), jwksUri: o.url('jwks_uri'), audience: o.required('audience') };
  }
  if (bearer.length === 0 && oauth === undefined) {
    throw at(r.path, 'needs bearer_token_sha256 or oauth: a tenant without credentials cannot provision');
  }
  const limit = r.has('rate_limit') ? r.reader('rate_limit').allow('requests_per_second', 'burst') : undefined;
  return {
    bearerTokenSha256: bearer,
    oauth,
    rateLimit: {
      requestsPerSecond: limit?.positive('requests_per_second') ?? DEFAULT_SCIM_RATE_LIMIT.requestsPerSecond,
      burst: limit?.positive('burst') ?? DEFAULT_SCIM_RATE_LIMIT.burst,
    },
  };
}

function parseIdp(r: Reader): IdentityProviderSettings {
  r.allow('issuer', 'client_id', 'jwks_uri', 'discovery', 'algorithms', 'link', 'session');
  const issuer = r.url('issuer');
  const discovery = r.boolean('discovery') ?? false;
  const jwksUri = r.has('jwks_uri') ? r.url('jwks_uri') : undefined;
  if (jwksUri === undefined && !discovery) throw r.fail('', 'needs jwks_uri or "discovery": true');
  const algorithms = r.has('algorithms') ? r.strings('algorithms') : [...DEFAULT_ALGORITHMS];
  for (const alg of algorithms) {
    // Never "none", never HMAC: a public key must not be usable as a shared secret.
    if (!ALLOWED_ALGORITHMS.has(alg)) throw r.fail('algorithms', `cannot include ${alg}`);
  }
  let link: IdentityProviderSettings['link'];
  if (r.has('link')) {
    const l = r.reader('link').allow('claim', 'to');
    const field = l.required('to');
    if (field !== 'externalId' && field !== 'userName') throw l.fail('to', 'must be externalId or userName');
    link = { claim: l.required('claim'), field };
  }
  const session = r.has('session') ? r.reader('session').allow('default_lifetime_s', 'max_lifetime_s') : undefined;
  const defaultSessionLifetimeS = session?.positive('default_lifetime_s') ?? 3_600;
  const maxSessionLifetimeS = session?.positive('max_lifetime_s') ?? 43_200;
  if (defaultSessionLifetimeS > maxSessionLifetimeS)
    throw r.fail('session', 'default_lifetime_s exceeds max_lifetime_s');
  return {
    issuer,
    clientId: r.required('client_id'),
    jwksUri,
    discovery,
    algorithms,
    link,
    defaultSessionLifetimeS,
    maxSessionLifetimeS,
  };
}

function hashes(r: Reader, name: string, required: boolean): string[] {
  if (!r.has(name)) {
    if (required) throw r.fail(name, 'is required');
    return [];
  }
  const list = r.strings(name);
  list.forEach((h, i) => {
    if (!/^[0-9a-f]{64}$/i.test(h))
      throw r.fail(`${name}[${i}]`, 'must be 64 hex characters (a SHA-256, not the token)');
  });
  return list;
}

/** Typed reads of one object of the file; every error names its path. */
class Reader {
  readonly path: string;
  readonly #object: Record<string, unknown>;
  readonly #at: (path: string, problem: string) => ConfigInvalidError;

  constructor(value: unknown, path: string, at: (path: string, problem: string) => ConfigInvalidError) {
    if (!isObject(value)) throw at(path, 'must be an object');
    this.path = path;
    this.#object = value;
    this.#at = at;
  }

  fail(name: string, problem: string): ConfigInvalidError {
    return this.#at(name === '' ? this.path : `${this.path}.${name}`, problem);
  }

  /** Refuses keys other than these: a misspelt setting must not be silently ignored. */
  allow(...names: string[]): this {
    const unknown = Object.keys(this.#object).find((k) => !names.includes(k));
    if (unknown !== undefined) throw this.fail(unknown, `is not a known setting (known: ${names.join(', ')})`);
    return this;
  }

  has(name: string): boolean {
    return this.#object[name] !== undefined;
  }

  reader(name: string): Reader {
    return new Reader(this.#object[name], `${this.path}.${name}`, this.#at);
  }

  array(name: string): unknown[] {
    const value = this.#object[name] ?? [];
    if (!Array.isArray(value)) throw this.fail(name, 'must be an array');
    return value;
  }

  string(name: string): string | undefined {
    const value = this.#object[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw this.fail(name, 'must be a non-empty string');
    return value;
  }

  required(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw this.fail(name, 'is required');
    return value;
  }

  url(name: string): string {
    const value = this.required(name);
    if (!/^https?:\/\/\S+$/.test(value)) throw this.fail(name, 'must be an http(s) URL');
    return value;
  }

  strings(name: string): string[] {
    const value = this.#object[name];
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string'))
      throw this.fail(name, 'must be an array of strings');
    return value;
  }

  boolean(name: string): boolean | undefined {
    const value = this.#object[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') throw this.fail(name, 'must be true or false');
    return value;
  }

  positive(name: string): number | undefined {
    const value = this.#object[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !(value > 0)) throw this.fail(name, 'must be a positive number');
    return value;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
