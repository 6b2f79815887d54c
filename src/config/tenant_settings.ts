import { ConfigInvalidError } from './errors.js';
import { isTenantId, TENANT_ID_RULE } from '../tenant_id.js';

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
  /**
   * IPSIE AL2: the ID token claim holding the user's groups (or roles), and how its values map to the app's
   * roles; at every sign-in through this IdP the user's roles become the mapped values. Undefined: roles are
   * not taken from tokens.
   */
  readonly roles: { readonly claim: string; readonly map: Readonly<Record<string, string>> | undefined } | undefined;
  /** Session lifetime when the assertion has no `session_expiry`, in s. @defaultValue 3600 */
  readonly defaultSessionLifetimeS: number;
  /** No session lasts longer than this after authentication, whatever the assertion says, in s. @defaultValue 43200 */
  readonly maxSessionLifetimeS: number;
  /**
   * Every sign-in must carry a nonce, in the request and in the ID token (OIDC Core §3.1.3.7: the RP sent
   * one). Off only for an IdP that cannot echo it. @defaultValue true
   */
  readonly requireNonce: boolean;
  /** A token issued (`iat`) longer ago than this is refused, whatever its `exp`, in s. @defaultValue 86400 */
  readonly maxTokenAgeS: number;
  /**
   * RFC 9068 JWT access tokens (`typ` `at+jwt`) accepted as a Check's `subject.token`, for this audience (the
   * API, not our client id), issued to one of these clients (`client_id` claim; @defaultValue [clientId]).
   * Undefined: only ID tokens are accepted.
   */
  readonly accessTokens: { readonly audience: string; readonly clientIds: readonly string[] } | undefined;
  /**
   * At a multi-tenant IdP (one issuer for several customers), the claim naming the customer and the value
   * this tenant's tokens carry (e.g. `tid`, `org_id`). Required when another tenant has the same issuer and
   * a token for one could pass for the other: the same client id, access-token audience or access-token client.
   */
  readonly tenantClaim: { readonly claim: string; readonly value: string } | undefined;
  /** Which authorization-request parameters a step-up gives for this IdP. @defaultValue ["claims"] */
  readonly stepUpParameters: readonly StepUpParameter[];
  /** OpenID Connect Back-Channel Logout 1.0 accepted from this IdP; undefined: its logout tokens are refused. */
  readonly backchannelLogout?: BackchannelLogoutSettings | undefined;
}

/** How an IdP is asked for an acr at step-up: the OIDC essential `claims` request, or `acr_values`. */
export const STEP_UP_PARAMETERS = ['claims', 'acr_values'] as const;
export type StepUpParameter = (typeof STEP_UP_PARAMETERS)[number];
/** What a stock, certified OpenID Provider is bound by (OIDC Core §5.5.1.1). */
export const DEFAULT_STEP_UP_PARAMETERS: readonly StepUpParameter[] = ['claims'];

/** How an IdP's logout tokens are verified (docs/sessions.md). */
export interface BackchannelLogoutSettings {
  /**
   * The JOSE `typ` must be `logout+jwt`. When false, an absent `typ` or the
   * generic `JWT` is accepted too (for OPs that predate explicit typing);
   * any other `typ` is always refused. @defaultValue true
   */
  readonly typRequired: boolean;
  /** Logout tokens issued longer ago than this are refused (the replay window), in s. @defaultValue 600 */
  readonly maxTokenAgeS: number;
}

/** An SSF transmitter (usually the tenant's IdP) whose security events this tenant receives. */
export interface TransmitterSettings {
  /** Exact `iss` of its SETs; also where its `/.well-known/ssf-configuration` is. */
  readonly issuer: string;
  /** Where its keys are; undefined when `discovery` finds them. */
  readonly jwksUri: string | undefined;
  /** Read `jwks_uri` (and the management endpoints) from its SSF configuration metadata. */
  readonly discovery: boolean;
  /** The `aud` its SETs must carry: how it names this receiver. */
  readonly audience: string;
  /** Accepted signature algorithms. @defaultValue RS256 (CAEP interoperability profile), PS256, ES256, EdDSA */
  readonly algorithms: readonly string[];
  /** SETs issued longer ago than this are refused (the replay window), in s. @defaultValue 86400 */
  readonly maxSetAgeS: number;
  /** The stream's id at the transmitter, which verification events name; learnt from stream management when absent. */
  readonly streamId: string | undefined;
  /** The transmitter's id for this customer: a complex subject's `tenant` member must name it. */
  readonly tenantSubject: string | undefined;
  /** RFC 8935 push accepted from it, authenticated by one of these bearer tokens (SHA-256 hex). */
  readonly push: { readonly bearerTokenSha256: readonly string[] } | undefined;
  /** RFC 8936 poll: the gateway fetches its SETs. */
  readonly poll:
    | {
        readonly endpointUrl: string;
        readonly bearerToken: string | undefined;
        readonly maxEvents: number;
        /** Pause between polls that returned nothing, in ms. */
        readonly intervalMs: number;
      }
    | undefined;
  /** SSF stream management (configuration, status, subjects, verification) with this bearer token. */
  readonly management: { readonly bearerToken: string } | undefined;
}

/** The tenant IdP's SSF receiver, to which the gateway transmits session changes (IPSIE SL3). */
export interface ReceiverSettings {
  /** RFC 8935 push endpoint configured here; a stream the receiver creates (`management`) takes its place. */
  readonly endpointUrl: string | undefined;
  readonly bearerToken: string | undefined;
  /** The `aud` of the SETs we send. */
  readonly audience: string;
  /** What a session seen at a new IP or device is reported as. @defaultValue session-presented */
  readonly sessionChangeEvent: 'session-presented' | 'session-established';
  /**
   * The receiver manages its stream with us (SSF §8: configuration, status, subjects, verification),
   * authenticated by one of these bearer tokens (SHA-256 hex); it may have us push only to these origins.
   */
  readonly management: ReceiverManagementSettings | undefined;
}

/** Stream management offered to a tenant's SSF receiver. */
export interface ReceiverManagementSettings {
  readonly bearerTokenSha256: readonly string[];
  /** Origins (`https://host[:port]`) a stream's push endpoint may be at: we never push elsewhere. */
  readonly endpointOrigins: readonly string[];
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
  /** SHA-256 (hex) of the bearer tokens of this tenant's AuthZEN callers (PEPs) at the sidecar. */
  readonly authzenTokenSha256: readonly string[];
  /** The actions AuthZEN action search tries for this tenant (the policy cannot enumerate them). */
  readonly authzenActions: readonly string[];
  readonly idps: readonly IdentityProviderSettings[];
  /** IPSIE P1: create the user at first sign-in when no provisioned user matches. @defaultValue false */
  readonly jitProvisioning: boolean;
  /** This tenant's own time budget for one policy evaluation, in ms; undefined: `IPSIE_POLICY_BUDGET_MS`. */
  readonly policyBudgetMs: number | undefined;
  /** Shared Signals: transmitters this tenant receives from, and the receiver it reports to. */
  readonly ssf: {
    readonly transmitters: readonly TransmitterSettings[];
    readonly receiver: ReceiverSettings | undefined;
  };
}

export const DEFAULT_SCIM_RATE_LIMIT = { requestsPerSecond: 50, burst: 100 } as const;
export const DEFAULT_ALGORITHMS = ['PS256', 'ES256', 'EdDSA'] as const;
export const DEFAULT_MAX_TOKEN_AGE_S = 86_400;
/** Logout tokens issued longer ago are refused unless an IdP's `backchannel_logout.max_token_age_s` says so, in s. */
export const DEFAULT_LOGOUT_TOKEN_MAX_AGE_S = 600;
/** No session outlives its authentication by more than this unless an IdP's `session.max_lifetime_s` says so, in s. */
export const DEFAULT_MAX_SESSION_LIFETIME_S = 43_200;
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

/**
 * Parses the tenants file (JSON); see docs/scim.md and docs/sessions.md.
 *
 * @throws {ConfigInvalidError} naming the file's variable and the path inside it
 */
export function parseTenantSettings(
  text: string,
  key: string,
  readSecret: (path: string) => string = () => {
    throw new Error('secret files are not readable here');
  },
): TenantSettings[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigInvalidError([key], 'the tenants file is not valid JSON');
  }
  const at = (path: string, problem: string): ConfigInvalidError => new ConfigInvalidError([key], `${path} ${problem}`);
  const tenants = isObject(parsed) ? parsed['tenants'] : undefined;
  if (!isObject(tenants)) throw at('tenants', 'must be an object of tenant id -> settings');
  const settings = Object.entries(tenants).map(([id, raw]): TenantSettings => {
    const base = `tenants.${id}`;
    if (!isTenantId(id)) throw at(base, `is not a valid tenant id (${TENANT_ID_RULE})`);
    if (!isObject(raw)) throw at(base, 'must be an object');
    const r = new Reader(raw, base, at).allow(
      'display_name',
      'scim',
      'admin',
      'authzen',
      'idps',
      'jit_provisioning',
      'policy',
      'ssf',
    );
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
      authzenTokenSha256:
        raw['authzen'] === undefined
          ? []
          : hashes(r.reader('authzen').allow('bearer_token_sha256', 'actions'), 'bearer_token_sha256', true),
      authzenActions:
        raw['authzen'] !== undefined && r.reader('authzen').has('actions')
          ? r.reader('authzen').strings('actions')
          : [],
      idps,
      jitProvisioning: r.boolean('jit_provisioning') ?? false,
      policyBudgetMs: r.has('policy') ? r.reader('policy').allow('budget_ms').positive('budget_ms') : undefined,
      ssf: r.has('ssf') ? parseSsf(r.reader('ssf'), readSecret) : { transmitters: [], receiver: undefined },
    };
  });
  checkSharedIdps(settings, at);
  checkReceiverTokens(settings, at);
  return settings;
}

/** A receiver's management token names its tenant: one in two tenants would let either's receiver manage both. */
function checkReceiverTokens(
  tenants: readonly TenantSettings[],
  at: (path: string, problem: string) => ConfigInvalidError,
): void {
  const owner = new Map<string, string>();
  for (const tenant of tenants) {
    for (const hash of tenant.ssf.receiver?.management?.bearerTokenSha256 ?? []) {
      const other = owner.get(hash.toLowerCase());
      if (other !== undefined && other !== tenant.id) {
        throw at(
          `tenants.${tenant.id}.ssf.receiver.management.bearer_token_sha256`,
          `holds a token tenant ${other} has too`,
        );
      }
      owner.set(hash.toLowerCase(), tenant.id);
    }
  }
}

/**
 * One issuer in several tenants (a multi-tenant IdP) where a token for one customer would pass for another:
 * the same client id (ID tokens), the same access-token audience, or an access-token client both accept (an
 * access token's `aud` may name both APIs). Each such tenant must then name its customer by a claim the
 * verifier checks.
 */
function checkSharedIdps(
  tenants: readonly TenantSettings[],
  at: (path: string, problem: string) => ConfigInvalidError,
): void {
  interface Entry {
    readonly path: string;
    readonly tenant: string;
    readonly idp: IdentityProviderSettings;
  }
  const byShared = new Map<string, (Entry & { readonly via: string })[]>();
  const share = (key: string, entry: Entry, via: string): void => {
    byShared.set(key, [...(byShared.get(key) ?? []), { ...entry, via }]);
  };
  for (const tenant of tenants) {
    tenant.idps.forEach((idp, i) => {
      const entry = { path: `tenants.${tenant.id}.idps[${i}]`, tenant: tenant.id, idp };
      share(`client\0${idp.issuer}\0${idp.clientId}`, entry, `client_id ${idp.clientId}`);
      const accessTokens = idp.accessTokens;
      if (accessTokens === undefined) return;
      share(
        `audience\0${idp.issuer}\0${accessTokens.audience}`,
        entry,
        `access_tokens.audience ${accessTokens.audience}`,
      );
      for (const client of new Set(accessTokens.clientIds)) {
        share(`access client\0${idp.issuer}\0${client}`, entry, `access_tokens.client_ids ${client}`);
      }
    });
  }
  for (const shared of byShared.values()) {
    if (shared.length < 2) continue;
    const names = shared.map((s) => s.tenant).join(', ');
    const first = shared[0]?.idp.tenantClaim;
    const values = new Set<string>();
    for (const { path, idp, via } of shared) {
      const claim = idp.tenantClaim;
      if (claim === undefined) {
        throw at(
          `${path}.tenant_claim`,
          `is required: issuer ${idp.issuer} with ${via} is configured for tenants ${names}`,
        );
      }
      if (claim.claim !== first?.claim) throw at(`${path}.tenant_claim.claim`, `must be the same in tenants ${names}`);
      if (values.has(claim.value)) throw at(`${path}.tenant_claim.value`, `is used by another of tenants ${names}`);
      values.add(claim.value);
    }
  }
}

function parseSsf(r: Reader, readSecret: (path: string) => string): TenantSettings['ssf'] {
  r.allow('transmitters', 'receiver');
  const transmitters = r
    .array('transmitters')
    .map((v, i) => parseTransmitter(new Reader(v, `${r.path}.transmitters[${i}]`, r.at), readSecret));
  const issuers = transmitters.map((t) => t.issuer);
  const duplicate = issuers.find((issuer, i) => issuers.indexOf(issuer) !== i);
  if (duplicate !== undefined) throw r.fail('transmitters', `lists issuer ${duplicate} twice`);
  let receiver: ReceiverSettings | undefined;
  if (r.has('receiver')) {
    const o = r
      .reader('receiver')
      .allow('endpoint_url', 'bearer_token_file', 'audience', 'session_change_event', 'management');
    const event = o.string('session_change_event') ?? 'session-presented';
    if (event !== 'session-presented' && event !== 'session-established')
      throw o.fail('session_change_event', 'must be session-presented or session-established');
    let management: ReceiverManagementSettings | undefined;
    if (o.has('management')) {
      const m = o.reader('management').allow('bearer_token_sha256', 'endpoint_origins');
      const origins = m.strings('endpoint_origins');
      if (origins.length === 0) throw m.fail('endpoint_origins', 'must name at least one origin');
      management = {
        bearerTokenSha256: hashes(m, 'bearer_token_sha256', true),
        endpointOrigins: origins.map((origin, i) => {
          let parsed: URL | undefined;
          try {
            parsed = new URL(origin);
          } catch {
            parsed = undefined;
          }
          if (parsed === undefined || !/^https?:$/.test(parsed.protocol) || parsed.origin !== origin) {
            throw m.fail(`endpoint_origins[${i}]`, 'must be an origin: http(s)://host[:port], no path');
          }
          return origin;
        }),
      };
    }
    if (!o.has('endpoint_url') && management === undefined) {
      throw o.fail('', 'needs endpoint_url or management: nowhere to send session changes');
    }
    receiver = {
      endpointUrl: o.has('endpoint_url') ? o.url('endpoint_url') : undefined,
      bearerToken: o.secret('bearer_token_file', readSecret),
      audience: o.required('audience'),
      sessionChangeEvent: event,
      management,
    };
  }
  return { transmitters, receiver };
}

function parseTransmitter(r: Reader, readSecret: (path: string) => string): TransmitterSettings {
  r.allow(
    'issuer',
    'jwks_uri',
    'discovery',
    'audience',
    'algorithms',
    'max_set_age_s',
    'stream_id',
    'tenant_subject',
    'push',
    'poll',
    'management',
  );
  const discovery = r.boolean('discovery') ?? false;
  const jwksUri = r.has('jwks_uri') ? r.url('jwks_uri') : undefined;
  if (jwksUri === undefined && !discovery) throw r.fail('', 'needs jwks_uri or "discovery": true');
  const algorithms = r.has('algorithms') ? r.strings('algorithms') : ['RS256', 'PS256', 'ES256', 'EdDSA'];
  for (const alg of algorithms) {
    if (!ALLOWED_ALGORITHMS.has(alg)) throw r.fail('algorithms', `cannot include ${alg}`);
  }
  const push = r.has('push')
    ? { bearerTokenSha256: hashes(r.reader('push').allow('bearer_token_sha256'), 'bearer_token_sha256', true) }
    : undefined;
  let poll: TransmitterSettings['poll'];
  if (r.has('poll')) {
    const o = r.reader('poll').allow('endpoint_url', 'bearer_token_file', 'max_events', 'interval_ms');
    poll = {
      endpointUrl: o.url('endpoint_url'),
      bearerToken: o.secret('bearer_token_file', readSecret),
      maxEvents: o.positive('max_events') ?? 100,
      intervalMs: o.positive('interval_ms') ?? 5_000,
    };
  }
  let management: TransmitterSettings['management'];
  if (r.has('management')) {
    const o = r.reader('management').allow('bearer_token_file');
    if (!discovery)
      throw r.fail('management', 'needs "discovery": true (the endpoints come from the SSF configuration)');
    const token = o.secret('bearer_token_file', readSecret);
    if (token === undefined) throw o.fail('bearer_token_file', 'is required');
    management = { bearerToken: token };
  }
  if (push === undefined && poll === undefined) throw r.fail('', 'needs push or poll: no way to receive its events');
  return {
    issuer: r.url('issuer'),
    jwksUri,
    discovery,
    audience: r.required('audience'),
    algorithms,
    maxSetAgeS: r.positive('max_set_age_s') ?? 86_400,
    streamId: r.string('stream_id'),
    tenantSubject: r.string('tenant_subject'),
    push,
    poll,
    management,
  };
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
  r.allow(
    'issuer',
    'client_id',
    'jwks_uri',
    'discovery',
    'algorithms',
    'link',
    'session',
    'require_nonce',
    'max_token_age_s',
    'access_tokens',
    'tenant_claim',
    'backchannel_logout',
    'step_up_parameters',
    'roles',
  );
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
  const maxSessionLifetimeS = session?.positive('max_lifetime_s') ?? DEFAULT_MAX_SESSION_LIFETIME_S;
  if (defaultSessionLifetimeS > maxSessionLifetimeS)
    throw r.fail('session', 'default_lifetime_s exceeds max_lifetime_s');
  const clientId = r.required('client_id');
  let accessTokens: IdentityProviderSettings['accessTokens'];
  if (r.has('access_tokens')) {
    const a = r.reader('access_tokens').allow('audience', 'client_ids');
    const audience = a.required('audience');
    // RFC 9068 §4: an access token is for the API; one for our client id is an ID token's audience.
    if (audience === clientId) throw r.fail('access_tokens.audience', 'must be the API, not client_id');
    const clientIds = a.has('client_ids') ? a.strings('client_ids') : [clientId];
    if (clientIds.length === 0 || clientIds.includes('')) {
      throw a.fail('client_ids', 'must list at least one client id, none empty');
    }
    accessTokens = { audience, clientIds };
  }
  let tenantClaim: IdentityProviderSettings['tenantClaim'];
  if (r.has('tenant_claim')) {
    const t = r.reader('tenant_claim').allow('claim', 'value');
    tenantClaim = { claim: t.required('claim'), value: t.required('value') };
  }
  let backchannelLogout: BackchannelLogoutSettings | undefined;
  if (r.has('backchannel_logout')) {
    const b = r.reader('backchannel_logout').allow('require_typ', 'max_token_age_s');
    backchannelLogout = {
      typRequired: b.boolean('require_typ') ?? true,
      maxTokenAgeS: b.positive('max_token_age_s') ?? DEFAULT_LOGOUT_TOKEN_MAX_AGE_S,
    };
  }
  const stepUpParameters = r.has('step_up_parameters')
    ? r.strings('step_up_parameters')
    : [...DEFAULT_STEP_UP_PARAMETERS];
  const unknown = stepUpParameters.find((p) => !(STEP_UP_PARAMETERS as readonly string[]).includes(p));
  if (unknown !== undefined || stepUpParameters.length === 0) {
    throw r.fail('step_up_parameters', `must list one or both of ${STEP_UP_PARAMETERS.join(', ')}`);
  }
  let roles: IdentityProviderSettings['roles'];
  if (r.has('roles')) {
    const o = r.reader('roles').allow('claim', 'map');
    roles = { claim: o.required('claim'), map: o.has('map') ? o.reader('map').stringMap() : undefined };
  }
  return {
    issuer,
    clientId,
    roles,
    stepUpParameters: stepUpParameters as StepUpParameter[],
    jwksUri,
    discovery,
    algorithms,
    link,
    defaultSessionLifetimeS,
    maxSessionLifetimeS,
    requireNonce: r.boolean('require_nonce') ?? true,
    maxTokenAgeS: r.positive('max_token_age_s') ?? DEFAULT_MAX_TOKEN_AGE_S,
    accessTokens,
    tenantClaim,
    backchannelLogout,
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
  readonly at: (path: string, problem: string) => ConfigInvalidError;
  readonly #object: Record<string, unknown>;

  constructor(value: unknown, path: string, at: (path: string, problem: string) => ConfigInvalidError) {
    if (!isObject(value)) throw at(path, 'must be an object');
    this.path = path;
    this.#object = value;
    this.at = at;
  }

  fail(name: string, problem: string): ConfigInvalidError {
    return this.at(name === '' ? this.path : `${this.path}.${name}`, problem);
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
    return new Reader(this.#object[name], `${this.path}.${name}`, this.at);
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

  /** A secret read from the file this setting names (never the secret itself in the tenants file). */
  secret(name: string, readSecret: (path: string) => string): string | undefined {
    const path = this.string(name);
    if (path === undefined) return undefined;
    let value: string;
    try {
      value = readSecret(path).trim();
    } catch (error) {
      throw this.fail(name, `cannot be read (${path}): ${String(error)}`);
    }
    if (value === '') throw this.fail(name, `names an empty file (${path})`);
    return value;
  }

  /** The object itself as string -> non-empty string. */
  stringMap(): Record<string, string> {
    const map: Record<string, string> = {};
    for (const [key, value] of Object.entries(this.#object)) {
      if (typeof value !== 'string' || value === '') throw this.fail(key, 'must be a non-empty string');
      map[key] = value;
    }
    return map;
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
