import { z } from 'zod';
import { ConfigInvalidError } from './errors.js';
import type { TransmittedEventName } from '../security_event_types.js';
import {
  isTenantId,
  policyTenantOf,
  productionOfSandbox,
  SANDBOX_NAME_SUFFIX,
  TENANT_ID_RULE,
  tenantKeyOf,
} from '../tenant_id.js';
import { ATTRIBUTE_TYPES, attributeCatalog, scimSourceOf, valueProblem } from '../attribute_catalog.js';
import type { AttributeType, CatalogAttribute } from '../attribute_catalog.js';

/**
 * The tenants file (`IPSIE_TENANTS_FILE`), defined once as a zod schema: the
 * parser, the settings types below and docs/schemas/tenants.schema.json all
 * derive from it. The file is snake_case JSON; each object's transform gives
 * the camelCase settings the rest of the code reads.
 */

/** How an IdP is asked for an acr at step-up: the OIDC essential `claims` request, or `acr_values`. */
export const STEP_UP_PARAMETERS = ['claims', 'acr_values'] as const;
export type StepUpParameter = (typeof STEP_UP_PARAMETERS)[number];
/** What a stock, certified OpenID Provider is bound by (OIDC Core §5.5.1.1). */
/** The key services a tenant's customer-managed key may live in (docs/keys.md); src/tenant_keys has one provider per kind. */
export const KEY_PROVIDER_KINDS = ['local', 'aws_kms'] as const;
export type KeyProviderKind = (typeof KEY_PROVIDER_KINDS)[number];

export const DEFAULT_STEP_UP_PARAMETERS: readonly StepUpParameter[] = ['claims'];

export const DEFAULT_SCIM_RATE_LIMIT = { requestsPerSecond: 50, burst: 100 } as const;
export const DEFAULT_ALGORITHMS = ['PS256', 'ES256', 'EdDSA'] as const;
/** The CAEP interoperability profile signs with RS256. */
export const DEFAULT_TRANSMITTER_ALGORITHMS = ['RS256', 'PS256', 'ES256', 'EdDSA'] as const;
export const DEFAULT_MAX_TOKEN_AGE_S = 86_400;
export const DEFAULT_SESSION_LIFETIME_S = 3_600;
/** Logout tokens issued longer ago are refused unless an IdP's `backchannel_logout.max_token_age_s` says so, in s. */
export const DEFAULT_LOGOUT_TOKEN_MAX_AGE_S = 600;
/** No session outlives its authentication by more than this unless an IdP's `session.max_lifetime_s` says so, in s. */
export const DEFAULT_MAX_SESSION_LIFETIME_S = 43_200;
export const DEFAULT_MAX_SET_AGE_S = 86_400;
export const DEFAULT_POLL_MAX_EVENTS = 100;
export const DEFAULT_POLL_INTERVAL_MS = 5_000;
/** Never "none", never HMAC: a public key must not be usable as a shared secret. */
const ALLOWED_ALGORITHMS = [
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
] as const;
// Only what our transmitter sends (the registry's `transmitted` types): another name does not compile.
const SESSION_CHANGE_EVENTS = [
  'session-presented',
  'session-established',
] as const satisfies readonly TransmittedEventName[];
const LINK_FIELDS = ['externalId', 'userName'] as const;

/**
 * The identifiers a user is known by: our id (SCIM `id`), `userName`, an `emails` value, a `phoneNumbers`
 * value, `externalId`, and the subject (`sub`) an IdP of the tenant signed the user in as (the IdP binding).
 */
export const USER_IDENTIFIERS = ['id', 'user_name', 'email', 'phone_number', 'external_id', 'idp_subject'] as const;
export type UserIdentifier = (typeof USER_IDENTIFIERS)[number];

/** What one AuthZEN subject type means in a tenant. */
export interface SubjectTypeSettings {
  /**
   * Looked up in this order: the first that names any user decides; if it names several, the subject is
   * ambiguous and no user is picked.
   */
  readonly identifiers: readonly UserIdentifier[];
  /** The identifier search results name users by. @defaultValue the first of `identifiers` */
  readonly resultsIn: UserIdentifier;
}

/**
 * `user`: any identifier (indexed ones first, the e-mail scan last), results by userName. `identity`: the
 * IdP's subject identifier (a PID), which an IdP provisions as `externalId` or signs the user in as.
 */
export const DEFAULT_SUBJECT_TYPES: Readonly<Record<string, SubjectTypeSettings>> = {
  user: { identifiers: ['id', 'external_id', 'user_name', 'idp_subject', 'email'], resultsIn: 'user_name' },
  identity: { identifiers: ['external_id', 'idp_subject'], resultsIn: 'external_id' },
};

/** Reads the file a `*_file` setting names: secrets are never in the tenants file itself. */
export type ReadSecret = (path: string) => string;

// Field types, each with the words a refusal uses for it.
const required = (problem: string) => (issue: { readonly input?: unknown }) =>
  issue.input === undefined ? 'is required' : problem;
const text = (): z.ZodString =>
  z.string({ error: required('must be a non-empty string') }).min(1, { error: 'must be a non-empty string' });
const httpUrl = (): z.ZodString => text().regex(/^https?:\/\/\S+$/, { error: 'must be an http(s) URL' });
const positive = (): z.ZodNumber =>
  z.number({ error: 'must be a positive number' }).positive({ error: 'must be a positive number' });
const flag = (): z.ZodBoolean => z.boolean({ error: 'must be true or false' });
const strings = (): z.ZodArray<z.ZodString> =>
  z.array(z.string({ error: 'must be an array of strings' }), { error: required('must be an array of strings') });
const SHA256_HEX = 'must be 64 hex characters (a SHA-256, not the token)';
/** SHA-256 (hex) of bearer tokens: the tenants file never holds a token. */
const sha256s = (): z.ZodArray<z.ZodString> =>
  z.array(z.string({ error: SHA256_HEX }).regex(/^[0-9a-fA-F]{64}$/, { error: SHA256_HEX }), {
    error: required('must be an array of strings'),
  });
const algorithms = (): z.ZodArray<z.ZodString> =>
  strings()
    .check((ctx) => {
      const refused = ctx.value.find((alg) => !(ALLOWED_ALGORITHMS as readonly string[]).includes(alg));
      if (refused !== undefined)
        ctx.issues.push({ code: 'custom', message: `cannot include ${refused}`, input: refused });
    })
    .meta({ items: { enum: [...ALLOWED_ALGORITHMS] } });
const oneOf = <const T extends readonly [string, ...string[]]>(
  values: T,
  problem: string,
): z.ZodEnum<z.util.ToEnum<T[number]>> => z.enum(values, { error: required(problem) });

/** An object of settings: a key it does not define is refused by name, so a misspelt setting is never ignored. */
function settings<S extends z.ZodRawShape>(shape: S): z.ZodObject<S, z.core.$strict> {
  const known = Object.keys(shape).join(', ');
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `is not a known setting (known: ${known})`
        : issue.input === undefined
          ? 'is required'
          : 'must be an object',
  });
}

/** `https://host[:port]` exactly as the URL parser gives it back: no path, no default port, lower-case. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return /^https?:$/.test(url.protocol) && url.origin === value;
  } catch {
    return false;
  }
}

const linkSchema = settings({
  claim: text().describe('the ID token claim to read'),
  to: oneOf(LINK_FIELDS, 'must be externalId or userName').describe('the SCIM user field the claim must equal'),
}).describe(
  'first sign-in of an identity: link it to the SCIM-provisioned user whose externalId or userName equals this claim. Absent: no linking',
);

const sessionSchema = settings({
  default_lifetime_s: positive()
    .default(DEFAULT_SESSION_LIFETIME_S)
    .describe('session lifetime when the assertion has no session_expiry, in s'),
  max_lifetime_s: positive()
    .default(DEFAULT_MAX_SESSION_LIFETIME_S)
    .describe('no session lasts longer than this after authentication, whatever the assertion says, in s'),
})
  .refine((s) => s.default_lifetime_s <= s.max_lifetime_s, { error: 'default_lifetime_s exceeds max_lifetime_s' })
  .describe('session lifetimes of sign-ins through this IdP');

const accessTokensSchema = settings({
  audience: text().describe('the API the access tokens are for (their aud): never client_id'),
  client_ids: z
    .array(text(), { error: 'must list at least one client id, none empty' })
    .min(1, { error: 'must list at least one client id, none empty' })
    .optional()
    .describe('the clients (client_id claim) whose access tokens are accepted; default: [client_id]'),
}).describe(
  'accept RFC 9068 JWT access tokens (typ at+jwt) from this IdP as a Check subject.token. Absent: ID tokens only',
);

const tenantClaimSchema = settings({
  claim: text().describe('the claim naming the customer, e.g. tid or org_id'),
  value: text().describe("this tenant's value of the claim"),
}).describe(
  "at a multi-tenant IdP, the claim naming the customer and this tenant's value; required when another tenant has the same issuer and a token for one could pass for the other",
);

const backchannelLogoutSchema = settings({
  require_typ: flag()
    .default(true)
    .describe('the JOSE typ must be logout+jwt; false also accepts an absent typ or JWT (older OPs)'),
  max_token_age_s: positive()
    .default(DEFAULT_LOGOUT_TOKEN_MAX_AGE_S)
    .describe('logout tokens issued longer ago than this are refused (the replay window), in s'),
})
  .transform((b) => ({ typRequired: b.require_typ, maxTokenAgeS: b.max_token_age_s }))
  .describe(
    'accept OpenID Connect Back-Channel Logout 1.0 from this IdP: {} is on. Absent: its logout tokens are refused',
  );

const rolesSchema = settings({
  claim: text().describe("the ID token claim holding the user's groups or roles"),
  map: z
    .record(z.string(), text(), { error: 'must be an object' })
    .optional()
    .describe('claim value -> role; absent: each value is a role, present: an unmapped value grants nothing'),
}).describe(
  "IPSIE AL2: at every sign-in through this IdP the user's roles become the (mapped) values of this claim. Absent: roles are not taken from tokens",
);

const identityProviderSchema = settings({
  issuer: httpUrl().describe('the exact iss of its tokens; each issuer once per tenant'),
  client_id: text().describe('our client id at this IdP: the one aud an ID token must carry'),
  jwks_uri: httpUrl().optional().describe('where its keys are; or set discovery'),
  discovery: flag()
    .default(false)
    .describe('read jwks_uri from <issuer>/.well-known/openid-configuration (whose issuer must match)'),
  algorithms: algorithms()
    .default(() => [...DEFAULT_ALGORITHMS])
    .describe('accepted signature algorithms; RS256-family only when listed; none and HMAC are refused'),
  link: linkSchema.optional(),
  session: sessionSchema.prefault({}),
  require_nonce: flag()
    .default(true)
    .describe(
      'every sign-in carries a nonce, in the request and in the ID token; false only for an IdP that cannot echo one',
    ),
  max_token_age_s: positive()
    .default(DEFAULT_MAX_TOKEN_AGE_S)
    .describe('a token issued (iat) longer ago than this is refused, whatever its exp, in s'),
  access_tokens: accessTokensSchema.optional(),
  tenant_claim: tenantClaimSchema.optional(),
  backchannel_logout: backchannelLogoutSchema.optional(),
  step_up_parameters: z
    .array(oneOf(STEP_UP_PARAMETERS, `must list one or both of ${STEP_UP_PARAMETERS.join(', ')}`), {
      error: `must list one or both of ${STEP_UP_PARAMETERS.join(', ')}`,
    })
    .min(1, { error: `must list one or both of ${STEP_UP_PARAMETERS.join(', ')}` })
    .default(() => [...DEFAULT_STEP_UP_PARAMETERS])
    .describe('how a step-up asks this IdP for an acr: the OIDC essential claims request, acr_values, or both'),
  roles: rolesSchema.optional(),
})
  .check((ctx) => {
    const idp = ctx.value;
    if (idp.jwks_uri === undefined && !idp.discovery) {
      ctx.issues.push({ code: 'custom', message: 'needs jwks_uri or "discovery": true', input: idp });
    }
    // RFC 9068 §4: an access token is for the API; one for our client id is an ID token's audience.
    if (idp.access_tokens?.audience === idp.client_id) {
      ctx.issues.push({
        code: 'custom',
        message: 'must be the API, not client_id',
        path: ['access_tokens', 'audience'],
        input: idp.access_tokens.audience,
      });
    }
  })
  .transform((idp) => ({
    issuer: idp.issuer,
    clientId: idp.client_id,
    jwksUri: idp.jwks_uri,
    discovery: idp.discovery,
    algorithms: idp.algorithms,
    link: idp.link === undefined ? undefined : { claim: idp.link.claim, field: idp.link.to },
    roles: idp.roles === undefined ? undefined : { claim: idp.roles.claim, map: idp.roles.map },
    defaultSessionLifetimeS: idp.session.default_lifetime_s,
    maxSessionLifetimeS: idp.session.max_lifetime_s,
    requireNonce: idp.require_nonce,
    maxTokenAgeS: idp.max_token_age_s,
    accessTokens:
      idp.access_tokens === undefined
        ? undefined
        : { audience: idp.access_tokens.audience, clientIds: idp.access_tokens.client_ids ?? [idp.client_id] },
    tenantClaim: idp.tenant_claim,
    stepUpParameters: idp.step_up_parameters,
    backchannelLogout: idp.backchannel_logout,
  }))
  .describe('an OpenID Provider the tenant signs its users in with (docs/sessions.md)');

/** The NameID formats our SP metadata offers when a tenant names none. */
export const DEFAULT_SAML_NAME_ID_FORMATS = [
  'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
] as const;
/** Clock skew accepted on SAML NotBefore / NotOnOrAfter, in s. */
export const DEFAULT_SAML_CLOCK_SKEW_S = 60;
/** An AuthnRequest we issued is answerable this long, in s. */
export const DEFAULT_SAML_REQUEST_TTL_S = 600;
/**
 * The longest `request_ttl_s`, in s: also the TTL of the request bucket every replica shares (one value, so
 * replicas started with different tenants files never disagree on the bucket's configuration).
 */
export const MAX_SAML_REQUEST_TTL_S = 3_600;
/** IdP metadata fetched from a URL is read again after this long when it names neither cacheDuration nor validUntil, in s. */
export const DEFAULT_SAML_METADATA_REFRESH_S = 3_600;

const samlIdpSchema = settings({
  entity_id: text().describe(
    "the IdP's entityID: the exact Issuer of its Responses and assertions; each once per tenant",
  ),
  metadata_xml: text()
    .optional()
    .describe("the IdP's SAML metadata (an EntityDescriptor), inline; or set metadata_url"),
  metadata_url: httpUrl()
    .optional()
    .describe(
      'where its SAML metadata is: fetched at start and again at its cacheDuration / validUntil (keys roll over without a restart)',
    ),
  metadata_signing_cert: text()
    .optional()
    .describe("PEM certificate the metadata's own XML signature must verify with; absent: metadata is taken unsigned"),
  metadata_refresh_s: positive()
    .default(DEFAULT_SAML_METADATA_REFRESH_S)
    .describe('metadata_url is read again after this long when the metadata names no cacheDuration, in s'),
  require_signed_assertion: flag()
    .default(false)
    .describe('the Assertion itself must be signed; false: a signed Response or a signed Assertion'),
  acr_map: z
    .record(z.string(), text(), { error: 'must be an object' })
    .default(() => ({}))
    .describe('AuthnContextClassRef -> the acr value policies see; an unmapped class is taken as it is'),
  requested_authn_context_comparison: oneOf(['exact', 'minimum'], 'must be exact or minimum')
    .default('exact')
    .describe(
      "how a step-up's RequestedAuthnContext compares: exact (one of these classes) or minimum (these or stronger)",
    ),
  email_attribute: text().optional().describe("the attribute holding the user's e-mail address"),
  email_verified: flag()
    .default(false)
    .describe('this IdP only asserts e-mail addresses it verified: only then does the address link or name a JIT user'),
  name_attributes: settings({
    display_name: text().optional().describe('attribute holding the display name'),
    given_name: text().optional().describe('attribute holding the given name'),
    family_name: text().optional().describe('attribute holding the family name'),
  })
    .prefault({})
    .describe('the attributes that give a JIT user its profile'),
  link: linkSchema.optional(),
  roles: rolesSchema.optional(),
  session: sessionSchema.prefault({}),
  max_assertion_age_s: positive()
    .default(DEFAULT_MAX_TOKEN_AGE_S)
    .describe('an assertion issued (IssueInstant) longer ago than this is refused, whatever its conditions, in s'),
})
  .check((ctx) => {
    const idp = ctx.value;
    if ((idp.metadata_xml === undefined) === (idp.metadata_url === undefined)) {
      ctx.issues.push({ code: 'custom', message: 'needs exactly one of metadata_xml and metadata_url', input: idp });
    }
  })
  .transform((idp) => ({
    issuer: idp.entity_id,
    metadataXml: idp.metadata_xml,
    metadataUrl: idp.metadata_url,
    metadataSigningCert: idp.metadata_signing_cert,
    metadataRefreshS: idp.metadata_refresh_s,
    requireSignedAssertion: idp.require_signed_assertion,
    acrMap: idp.acr_map,
    stepUpComparison: idp.requested_authn_context_comparison,
    emailAttribute: idp.email_attribute,
    emailVerified: idp.email_verified,
    nameAttributes: {
      displayName: idp.name_attributes.display_name,
      givenName: idp.name_attributes.given_name,
      familyName: idp.name_attributes.family_name,
    },
    link: idp.link === undefined ? undefined : { claim: idp.link.claim, field: idp.link.to },
    roles: idp.roles === undefined ? undefined : { claim: idp.roles.claim, map: idp.roles.map },
    defaultSessionLifetimeS: idp.session.default_lifetime_s,
    maxSessionLifetimeS: idp.session.max_lifetime_s,
    maxAssertionAgeS: idp.max_assertion_age_s,
  }))
  .describe(
    'a SAML 2.0 IdP the tenant signs its users in with; link.claim and roles.claim name an attribute, or "name_id" (docs/sessions.md)',
  );

/** The tenant's SAML settings; `secretFile` reads the SP's decryption key. */
// eslint-disable-next-line @typescript-eslint/explicit-function-return-type -- the type is the schema's own
const samlSchema = (secretFile: () => z.ZodPipe<z.ZodString, z.ZodTransform<string, string>>) =>
  settings({
    entity_id: text().describe('our SP entityID at the IdPs: the Audience their assertions must name'),
    acs_url: httpUrl().describe(
      "the app's Assertion Consumer Service URL: the Destination and Recipient every Response must name",
    ),
    slo_url: httpUrl().optional().describe("the app's Single Logout URL, offered in our SP metadata"),
    name_id_formats: strings()
      .min(1, { error: 'must name at least one format' })
      .default(() => [...DEFAULT_SAML_NAME_ID_FORMATS])
      .describe('the NameID formats our SP metadata offers'),
    clock_skew_s: z
      .number({ error: 'must be a number of seconds from 0 to 300' })
      .min(0, { error: 'must be a number of seconds from 0 to 300' })
      .max(300, { error: 'must be a number of seconds from 0 to 300' })
      .default(DEFAULT_SAML_CLOCK_SKEW_S)
      .describe('clock difference accepted on NotBefore / NotOnOrAfter, in s'),
    request_ttl_s: positive()
      .max(MAX_SAML_REQUEST_TTL_S, { error: `must be at most ${MAX_SAML_REQUEST_TTL_S} s` })
      .default(DEFAULT_SAML_REQUEST_TTL_S)
      .describe('how long an AuthnRequest we issued can be answered (InResponseTo), in s'),
    decryption_key_file: secretFile()
      .optional()
      .describe(
        'file holding the PEM private key IdPs encrypt assertions to (EncryptedAssertion); absent: encrypted assertions are refused',
      ),
    encryption_cert: text()
      .optional()
      .describe('PEM certificate of decryption_key_file, offered in our SP metadata for the IdPs to encrypt to'),
    idps: z
      .array(samlIdpSchema, { error: 'must be an array' })
      .min(1, { error: 'must list at least one IdP' })
      .check(uniqueIssuers)
      .describe('the SAML IdPs of the tenant'),
  })
    .check((ctx) => {
      if ((ctx.value.decryption_key_file === undefined) !== (ctx.value.encryption_cert === undefined)) {
        ctx.issues.push({
          code: 'custom',
          message: 'needs both decryption_key_file and encryption_cert, or neither',
          input: ctx.value,
        });
      }
    })
    .transform((s) => ({
      entityId: s.entity_id,
      decryptionKey: s.decryption_key_file,
      encryptionCert: s.encryption_cert,
      acsUrl: s.acs_url,
      sloUrl: s.slo_url,
      nameIdFormats: s.name_id_formats,
      clockSkewS: s.clock_skew_s,
      requestTtlS: s.request_ttl_s,
      idps: s.idps,
    }))
    .describe(
      'SAML 2.0 sign-in (SP-initiated only: every Response answers an AuthnRequest we issued). Absent: OIDC only',
    );

const scimSchema = settings({
  bearer_token_sha256: sha256s()
    .default(() => [])
    .describe('SHA-256 (hex) of each accepted static bearer token'),
  oauth: settings({
    issuer: text().describe("the tenant's authorization server"),
    jwks_uri: httpUrl().describe('where its keys are'),
    audience: text().describe('the aud its access tokens carry'),
  })
    .optional()
    .describe("RFC 7523 / OAuth access tokens from the tenant's authorization server"),
  rate_limit: settings({
    requests_per_second: positive().default(DEFAULT_SCIM_RATE_LIMIT.requestsPerSecond).describe('sustained rate'),
    burst: positive().default(DEFAULT_SCIM_RATE_LIMIT.burst).describe('token bucket size'),
  })
    .prefault({})
    .describe('a token bucket per tenant; beyond it 429 with Retry-After'),
})
  .check((ctx) => {
    if (ctx.value.bearer_token_sha256.length === 0 && ctx.value.oauth === undefined) {
      ctx.issues.push({
        code: 'custom',
        message: 'needs bearer_token_sha256 or oauth: a tenant without credentials cannot provision',
        input: ctx.value,
      });
    }
  })
  .transform((scim) => ({
    bearerTokenSha256: scim.bearer_token_sha256,
    oauth:
      scim.oauth === undefined
        ? undefined
        : { issuer: scim.oauth.issuer, jwksUri: scim.oauth.jwks_uri, audience: scim.oauth.audience },
    rateLimit: { requestsPerSecond: scim.rate_limit.requests_per_second, burst: scim.rate_limit.burst },
  }))
  .describe('SCIM 2.0 provisioning by the IdP (docs/scim.md). Absent: this tenant does not provision over SCIM');

const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

const catalogAttributeSchema = settings({
  name: text()
    .regex(ATTRIBUTE_NAME, { error: 'must be a letter or _ then letters, digits or _ (64 at most)' })
    .describe('its key in input.subject.attributes; for a SCIM source, the SCIM attribute name'),
  type: oneOf(ATTRIBUTE_TYPES, `must be one of ${ATTRIBUTE_TYPES.join(', ')}`).describe('the type of its value'),
  enum: z
    .array(z.union([z.string(), z.number(), z.boolean()]), { error: 'must be an array of values' })
    .min(1, { error: 'must list at least one value' })
    .optional()
    .describe('the values it may take; absent: any value of its type'),
  description: text().describe('what it means'),
  data_use: text().optional().describe('what the app uses it for (authorization, audit, ...)'),
  source: settings({
    scim: text()
      .optional()
      .describe(
        'a SCIM User attribute: title, urn:ietf:params:scim:schemas:core:2.0:User:title or urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department',
      ),
    claim: text().optional().describe('an OIDC claim name'),
  })
    .check((ctx) => {
      if ((ctx.value.scim === undefined) === (ctx.value.claim === undefined)) {
        ctx.issues.push({ code: 'custom', message: 'needs exactly one of scim or claim', input: ctx.value });
      }
    })
    .describe('where its value comes from'),
})
  .transform((a): CatalogAttribute => ({
    name: a.name,
    type: a.type,
    enum: a.enum,
    description: a.description,
    dataUse: a.data_use,
    source: a.source.scim !== undefined ? { scim: a.source.scim } : { claim: a.source.claim ?? '' },
    origin: 'tenant',
  }))
  .check((ctx) => {
    const attribute = ctx.value;
    const scim = scimSourceOf(attribute);
    if (scim !== undefined && scim.name !== attribute.name) {
      ctx.issues.push({
        code: 'custom',
        message: `names SCIM attribute ${scim.name}: the attribute must be named ${scim.name} (its key in the user's attributes)`,
        path: ['source', 'scim'],
        input: attribute.source,
      });
    }
    for (const [i, value] of (attribute.enum ?? []).entries()) {
      const problem = valueProblem(
        { ...attribute, enum: undefined, type: attribute.type.replace('[]', '') as AttributeType },
        value,
      );
      if (problem !== undefined) {
        ctx.issues.push({ code: 'custom', message: problem, path: ['enum', i], input: value });
      }
    }
  })
  .describe('one user attribute the app understands');

const attributeCatalogSchema = settings({
  attributes: z
    .array(catalogAttributeSchema, { error: 'must be an array' })
    .check((ctx) => {
      const names = ctx.value.map((a) => a.name);
      const duplicate = names.find((name, i) => names.indexOf(name) !== i);
      if (duplicate !== undefined) {
        ctx.issues.push({ code: 'custom', message: `names ${duplicate} twice`, input: duplicate });
      }
    })
    .describe('attributes added to the platform defaults; one of the same name replaces the default'),
}).describe(
  "the user attributes this tenant's apps understand (docs/attributes.md). Declared: SCIM writes and policy uploads are checked against it",
);

/** Issuers listed twice in one array: each is one IdP or transmitter. */
function uniqueIssuers(ctx: z.core.ParsePayload<readonly { readonly issuer: string }[]>): void {
  const issuers = ctx.value.map((entry) => entry.issuer);
  const duplicate = issuers.find((issuer, i) => issuers.indexOf(issuer) !== i);
  if (duplicate !== undefined) {
    ctx.issues.push({ code: 'custom', message: `lists issuer ${duplicate} twice`, input: ctx.value });
  }
}

/**
 * The whole file. Secrets (`*_file`) are read while parsing, through `readSecret`; the JSON Schema is made
 * with a reader never called.
 */
// eslint-disable-next-line @typescript-eslint/explicit-function-return-type -- the type is the schema's own
function tenantsFileSchema(readSecret: ReadSecret) {
  const secretFile = (): z.ZodPipe<z.ZodString, z.ZodTransform<string, string>> =>
    text().transform((path, ctx) => {
      let value: string;
      try {
        value = readSecret(path).trim();
      } catch (error) {
        // Continuable: the settings around it are still checked, and reported with it.
        ctx.issues.push({
          code: 'custom',
          message: `cannot be read (${path}): ${String(error)}`,
          input: path,
          continue: true,
        });
        return z.NEVER;
      }
      if (value === '') {
        ctx.issues.push({ code: 'custom', message: `names an empty file (${path})`, input: path, continue: true });
      }
      return value;
    });

  const transmitter = settings({
    issuer: httpUrl().describe('exact iss of its SETs; also where its /.well-known/ssf-configuration is'),
    jwks_uri: httpUrl().optional().describe('where its keys are; or set discovery'),
    discovery: flag()
      .default(false)
      .describe('read jwks_uri (and the management endpoints) from its SSF configuration metadata'),
    audience: text().describe('the aud its SETs must carry: how it names this receiver'),
    algorithms: algorithms()
      .default(() => [...DEFAULT_TRANSMITTER_ALGORITHMS])
      .describe('accepted signature algorithms; none and HMAC are refused'),
    max_set_age_s: positive()
      .default(DEFAULT_MAX_SET_AGE_S)
      .describe('SETs issued longer ago than this are refused (the replay window), in s'),
    stream_id: text()
      .optional()
      .describe("the stream's id at the transmitter; learnt from stream management when absent"),
    tenant_subject: text()
      .optional()
      .describe("the transmitter's id for this customer: a complex subject's tenant member must name it"),
    push: settings({
      bearer_token_sha256: sha256s().describe('SHA-256 (hex) of the bearer tokens it pushes with'),
    })
      .optional()
      .describe('RFC 8935 push accepted from it'),
    poll: settings({
      endpoint_url: httpUrl().describe('its RFC 8936 poll endpoint'),
      bearer_token_file: secretFile().optional().describe('file holding the bearer token we poll with'),
      max_events: positive().default(DEFAULT_POLL_MAX_EVENTS).describe('most SETs asked for per poll'),
      interval_ms: positive()
        .default(DEFAULT_POLL_INTERVAL_MS)
        .describe('pause between polls that returned nothing, in ms'),
    })
      .optional()
      .describe('RFC 8936 poll: the gateway fetches its SETs'),
    management: settings({
      bearer_token_file: secretFile().describe('file holding the bearer token of its stream management API'),
    })
      .optional()
      .describe('SSF stream management (configuration, status, subjects, verification); needs discovery'),
  })
    .check((ctx) => {
      const t = ctx.value;
      if (t.jwks_uri === undefined && !t.discovery) {
        ctx.issues.push({ code: 'custom', message: 'needs jwks_uri or "discovery": true', input: t });
      }
      if (t.management !== undefined && !t.discovery) {
        ctx.issues.push({
          code: 'custom',
          message: 'needs "discovery": true (the endpoints come from the SSF configuration)',
          path: ['management'],
          input: t.management,
        });
      }
      if (t.push === undefined && t.poll === undefined) {
        ctx.issues.push({ code: 'custom', message: 'needs push or poll: no way to receive its events', input: t });
      }
    })
    .transform((t) => ({
      issuer: t.issuer,
      jwksUri: t.jwks_uri,
      discovery: t.discovery,
      audience: t.audience,
      algorithms: t.algorithms,
      maxSetAgeS: t.max_set_age_s,
      streamId: t.stream_id,
      tenantSubject: t.tenant_subject,
      push: t.push === undefined ? undefined : { bearerTokenSha256: t.push.bearer_token_sha256 },
      poll:
        t.poll === undefined
          ? undefined
          : {
              endpointUrl: t.poll.endpoint_url,
              bearerToken: t.poll.bearer_token_file,
              maxEvents: t.poll.max_events,
              intervalMs: t.poll.interval_ms,
            },
      management: t.management === undefined ? undefined : { bearerToken: t.management.bearer_token_file },
    }))
    .describe("an SSF transmitter (usually the tenant's IdP) whose security events this tenant receives");

  const receiver = settings({
    endpoint_url: httpUrl()
      .optional()
      .describe('its RFC 8935 push endpoint; a stream the receiver creates (management) takes its place'),
    bearer_token_file: secretFile().optional().describe('file holding the bearer token we push with'),
    audience: text().describe('the aud of the SETs we send'),
    session_change_event: oneOf(SESSION_CHANGE_EVENTS, 'must be session-presented or session-established')
      .default('session-presented')
      .describe('what a session seen at a new IP or device is reported as'),
    management: settings({
      bearer_token_sha256: sha256s().describe(
        'SHA-256 (hex) of the bearer tokens the receiver manages its stream with; each names this tenant only',
      ),
      endpoint_origins: z
        .array(
          text().refine(isOrigin, { error: 'must be an origin: http(s)://host[:port], no path' }).describe('an origin'),
          { error: required('must be an array of strings') },
        )
        .min(1, { error: 'must name at least one origin' })
        .describe("origins (https://host[:port]) a stream's push endpoint may be at: we never push elsewhere"),
    })
      .optional()
      .describe('the receiver manages its stream with us (SSF §8: configuration, status, subjects, verification)'),
  })
    .check((ctx) => {
      if (ctx.value.endpoint_url === undefined && ctx.value.management === undefined) {
        ctx.issues.push({
          code: 'custom',
          message: 'needs endpoint_url or management: nowhere to send session changes',
          input: ctx.value,
        });
      }
    })
    .transform((r) => ({
      endpointUrl: r.endpoint_url,
      bearerToken: r.bearer_token_file,
      audience: r.audience,
      sessionChangeEvent: r.session_change_event,
      management:
        r.management === undefined
          ? undefined
          : { bearerTokenSha256: r.management.bearer_token_sha256, endpointOrigins: r.management.endpoint_origins },
    }))
    .describe("the tenant IdP's SSF receiver, to which the gateway transmits session changes (IPSIE SL3)");

  const subjectTypeSchema = settings({
    identifiers: z
      .array(oneOf(USER_IDENTIFIERS, `must be one of ${USER_IDENTIFIERS.join(', ')}`), {
        error: required('must be an array of strings'),
      })
      .min(1, { error: 'must name at least one identifier' })
      .describe('the identifiers this type names a user by, tried in order: the first that names any user decides'),
    results_in: oneOf(USER_IDENTIFIERS, `must be one of ${USER_IDENTIFIERS.join(', ')}`)
      .optional()
      .describe('the identifier search results name users by; default: the first of identifiers'),
  })
    .transform((t): SubjectTypeSettings => ({
      identifiers: t.identifiers,
      resultsIn: t.results_in ?? t.identifiers[0] ?? 'id',
    }))
    .describe('what one AuthZEN subject type means (docs/authzen.md)');

  const customerManagedKey = settings({
    provider: oneOf(KEY_PROVIDER_KINDS, `must be one of ${KEY_PROVIDER_KINDS.join(', ')}`).describe(
      'the key service: local (a key file, IPSIE_LOCAL_KEY_FILE; development) or aws_kms (AWS KMS or a KMS-compatible server)',
    ),
    key_id: text()
      .max(2048, { error: 'must be at most 2048 characters' })
      .describe(
        'the key in that service: a local key id, or a KMS key id, ARN or alias; the gateway adopts a new one at start (re-wrapping the data keys)',
      ),
    endpoint: httpUrl()
      .optional()
      .describe("aws_kms: the KMS endpoint; default: the AWS SDK's (AWS_ENDPOINT_URL_KMS, or AWS's for the region)"),
    region: text().optional().describe("aws_kms: the region; default: the AWS SDK's (AWS_REGION)"),
  })
    .check((ctx) => {
      if (ctx.value.provider === 'local' && (ctx.value.endpoint !== undefined || ctx.value.region !== undefined)) {
        ctx.issues.push({ code: 'custom', message: 'endpoint and region are for aws_kms', input: ctx.value });
      }
    })
    .transform((k) => ({ provider: k.provider, keyId: k.key_id, endpoint: k.endpoint, region: k.region }))
    .describe(
      "the tenant's customer-managed key: its personal data is sealed with data keys this key wraps (docs/keys.md); unset: kept in clear",
    );

  const tenant = settings({
    display_name: text().optional().describe('shown to people; default: the tenant id (or sandbox name)'),
    scim: scimSchema.optional(),
    admin: settings({
      bearer_token_sha256: sha256s().describe("SHA-256 (hex) of the tenant administrators' bearer tokens"),
    })
      .optional()
      .describe('the tenant admin API (policies, audit pull, SSF streams, SL2 actions)'),
    resources: settings({
      bearer_token_sha256: sha256s().describe(
        "SHA-256 (hex) of the bearer tokens the tenant's app writes its resources and relations with",
      ),
    })
      .optional()
      .describe("the app's resource API at the gateway (docs/resources.md); never an IdP's credential"),
    authzen: settings({
      bearer_token_sha256: sha256s().describe("SHA-256 (hex) of the bearer tokens of this tenant's AuthZEN callers"),
      actions: strings()
        .default(() => [])
        .describe('the actions AuthZEN action search tries (the policy cannot enumerate them)'),
      search_candidates: oneOf(['all', 'related'] as const, 'must be all or related')
        .default('all')
        .describe(
          "where search candidates come from, each decided by the policy: all (every user; every stored resource of the type) or related (only those holding a relation: the subject's resources, the resource's users; for policies that grant nothing without one)",
        ),
      subject_types: z
        .record(
          z.string().refine((name) => name !== 'session', {
            error: 'is reserved: a session subject is always a session id',
          }),
          subjectTypeSchema,
          { error: 'must be an object of subject type -> settings' },
        )
        .optional()
        .describe(
          'subject type -> the identifiers it names a user by; replaces a default type of the same name (user, identity)',
        ),
    })
      .optional()
      .describe("this tenant's AuthZEN callers (PEPs) at the sidecar (docs/authzen.md)"),
    idps: z
      .array(identityProviderSchema, { error: 'must be an array' })
      .check(uniqueIssuers)
      .default(() => [])
      .describe('the OpenID Providers this tenant signs in with'),
    saml: samlSchema(secretFile).optional(),
    jit_provisioning: flag()
      .default(false)
      .describe('IPSIE P1: create the user at first sign-in when no provisioned user matches'),
    policy: settings({
      budget_ms: positive()
        .optional()
        .describe("this tenant's time budget for one policy evaluation, in ms; default IPSIE_POLICY_BUDGET_MS"),
    })
      .optional()
      .describe("this tenant's policy evaluation"),
    attribute_catalog: attributeCatalogSchema.optional(),
    customer_managed_key: customerManagedKey.optional(),
    ssf: settings({
      transmitters: z
        .array(transmitter, { error: 'must be an array' })
        .check(uniqueIssuers)
        .default(() => [])
        .describe('transmitters this tenant receives from'),
      receiver: receiver.optional(),
    })
      .prefault({})
      .describe('Shared Signals (docs/signals.md)'),
  })
    .transform((t) => ({
      displayName: t.display_name,
      scim: t.scim,
      adminTokenSha256: t.admin?.bearer_token_sha256 ?? [],
      authzenTokenSha256: t.authzen?.bearer_token_sha256 ?? [],
      resourceTokenSha256: t.resources?.bearer_token_sha256 ?? [],
      authzenActions: t.authzen?.actions ?? [],
      authzenSearchCandidates: t.authzen?.search_candidates ?? 'all',
      subjectTypes: { ...DEFAULT_SUBJECT_TYPES, ...t.authzen?.subject_types },
      idps: t.idps,
      saml: t.saml,
      jitProvisioning: t.jit_provisioning,
      policyBudgetMs: t.policy?.budget_ms,
      attributeCatalog: attributeCatalog(t.attribute_catalog?.attributes),
      customerManagedKey: t.customer_managed_key,
      ssf: t.ssf,
    }))
    .describe("one tenant's settings");

  const tenants = z
    .record(
      z
        .string()
        .refine((name) => productionOfSandbox(name) === undefined, {
          error: `is the internal form of a sandbox's key: declare the sandbox by its name, <tenant>${SANDBOX_NAME_SUFFIX}`,
        })
        .regex(TENANT_NAME_PATTERN, { error: TENANT_NAME_PROBLEM })
        .refine((name) => isTenantId(name) || isSandboxName(name), { error: TENANT_NAME_PROBLEM }),
      tenant,
      { error: 'must be an object of tenant id -> settings' },
    )
    .transform((byName) =>
      Object.entries(byName).map(([name, settings]) => ({
        // The key everything inside uses: `acme.sandbox` is `acme-sandbox` (src/tenant_id.ts).
        id: tenantKeyOf(name) ?? name,
        name,
        sandboxOf: isSandboxName(name) ? policyTenantOf(tenantKeyOf(name) ?? name) : undefined,
        ...settings,
        displayName: settings.displayName ?? name,
      })),
    )
    .check((ctx) => {
      checkSandboxes(ctx);
      checkSharedIdps(ctx);
      checkReceiverTokens(ctx);
      checkResourceTokens(ctx);
    })
    .describe('tenant id -> its settings');

  return z
    .strictObject(
      {
        $schema: z.string().optional().describe('this JSON Schema, for editors'),
        tenants,
      },
      {
        error: (issue) =>
          issue.code === 'unrecognized_keys'
            ? 'is not a known setting (known: $schema, tenants)'
            : 'must be a JSON object',
      },
    )
    .transform((file) => file.tenants)
    .meta({
      title: 'IPSIE tenants file',
      description:
        'IPSIE_TENANTS_FILE: every tenant with its IdPs, SCIM, admin, AuthZEN and SSF settings. Unknown keys are refused by name.',
    });
}

/** Read-only all the way down: settings are never edited after parsing. */
type Frozen<T> = T extends readonly (infer E)[]
  ? readonly Frozen<E>[]
  : T extends object
    ? { readonly [K in keyof T]: Frozen<T[K]> }
    : T;

/** One tenant's settings from the tenants file (`IPSIE_TENANTS_FILE`). */
export type TenantSettings = Frozen<z.output<ReturnType<typeof tenantsFileSchema>>[number]>;
/** A tenant's customer-managed key (`customer_managed_key`). */
export type CustomerManagedKeySettings = NonNullable<TenantSettings['customerManagedKey']>;
/** An OpenID Provider a tenant signs its users in with. */
export type IdentityProviderSettings = TenantSettings['idps'][number];
/** A tenant's SAML 2.0 service provider and its IdPs. */
export type SamlSettings = NonNullable<TenantSettings['saml']>;
/** A SAML 2.0 IdP a tenant signs its users in with. */
export type SamlIdentityProviderSettings = SamlSettings['idps'][number];
/** How an IdP's logout tokens are verified (docs/sessions.md). */
export type BackchannelLogoutSettings = NonNullable<IdentityProviderSettings['backchannelLogout']>;
/** An SSF transmitter (usually the tenant's IdP) whose security events this tenant receives. */
export type TransmitterSettings = TenantSettings['ssf']['transmitters'][number];
/** The tenant IdP's SSF receiver, to which the gateway transmits session changes (IPSIE SL3). */
export type ReceiverSettings = NonNullable<TenantSettings['ssf']['receiver']>;
/** Stream management offered to a tenant's SSF receiver. */
export type ReceiverManagementSettings = NonNullable<ReceiverSettings['management']>;

type TenantsCheck = z.core.ParsePayload<readonly TenantSettings[]>;

/** A tenant id, or a sandbox's name (`acme.sandbox`): the keys of the tenants file (its JSON Schema's pattern). */
const TENANT_NAME_PATTERN = /^[a-z][a-z0-9_]{0,62}(\.sandbox)?$/;
const TENANT_NAME_PROBLEM = `is not a valid tenant id (${TENANT_ID_RULE}) nor a sandbox name (<tenant id>${SANDBOX_NAME_SUFFIX})`;

/** `acme.sandbox`: a tenant id and the sandbox suffix. */
function isSandboxName(name: string): boolean {
  return name.endsWith(SANDBOX_NAME_SUFFIX) && isTenantId(name.slice(0, -SANDBOX_NAME_SUFFIX.length));
}

/** A sandbox belongs to a production tenant of the same file: `evil.sandbox` without `evil` is nobody's. */
function checkSandboxes(ctx: TenantsCheck): void {
  const production = new Set(ctx.value.filter((t) => t.sandboxOf === undefined).map((t) => t.id));
  for (const tenant of ctx.value) {
    if (tenant.sandboxOf !== undefined && !production.has(tenant.sandboxOf)) {
      ctx.issues.push({
        code: 'custom',
        message: `is the sandbox of ${tenant.sandboxOf}, which this file does not declare`,
        path: [tenant.name],
        input: tenant.name,
      });
    }
  }
}

/** A receiver's management token names its tenant: one in two tenants would let either's receiver manage both. */
/**
 * The app's resource credential opens only the resource API: a token that is also one of any tenant's SCIM
 * (the IdP's), admin or AuthZEN tokens, or another tenant's resource token, would let one holder write as both.
 */
function checkResourceTokens(ctx: TenantsCheck): void {
  const elsewhere = new Map<string, string>();
  for (const tenant of ctx.value) {
    const others: [string, readonly string[]][] = [
      ['scim', tenant.scim?.bearerTokenSha256 ?? []],
      ['admin', tenant.adminTokenSha256],
      ['authzen', tenant.authzenTokenSha256],
    ];
    for (const [surface, hashes] of others) {
      for (const hash of hashes) elsewhere.set(hash.toLowerCase(), `tenant ${tenant.name}'s ${surface} API`);
    }
  }
  const owner = new Map<string, string>();
  for (const tenant of ctx.value) {
    for (const hash of tenant.resourceTokenSha256) {
      const key = hash.toLowerCase();
      const other = elsewhere.get(key) ?? owner.get(key);
      if (other !== undefined) {
        ctx.issues.push({
          code: 'custom',
          message: `holds a token that opens ${other} too`,
          path: [tenant.name, 'resources', 'bearer_token_sha256'],
          input: hash,
        });
      }
      owner.set(key, `tenant ${tenant.name}'s resources API`);
    }
  }
}

function checkReceiverTokens(ctx: TenantsCheck): void {
  const owner = new Map<string, string>();
  for (const tenant of ctx.value) {
    for (const hash of tenant.ssf.receiver?.management?.bearerTokenSha256 ?? []) {
      const other = owner.get(hash.toLowerCase());
      if (other !== undefined && other !== tenant.id) {
        ctx.issues.push({
          code: 'custom',
          message: `holds a token tenant ${other} has too`,
          path: [tenant.name, 'ssf', 'receiver', 'management', 'bearer_token_sha256'],
          input: hash,
        });
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
function checkSharedIdps(ctx: TenantsCheck): void {
  interface Entry {
    readonly path: readonly PropertyKey[];
    readonly tenant: string;
    readonly idp: IdentityProviderSettings;
  }
  const byShared = new Map<string, (Entry & { readonly via: string })[]>();
  const share = (key: string, entry: Entry, via: string): void => {
    byShared.set(key, [...(byShared.get(key) ?? []), { ...entry, via }]);
  };
  for (const tenant of ctx.value) {
    tenant.idps.forEach((idp, i) => {
      const entry = { path: [tenant.name, 'idps', i], tenant: tenant.name, idp };
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
  const refuse = (path: readonly PropertyKey[], message: string): void => {
    ctx.issues.push({ code: 'custom', message, path: [...path], input: undefined });
  };
  for (const shared of byShared.values()) {
    if (shared.length < 2) continue;
    const names = shared.map((s) => s.tenant).join(', ');
    const first = shared[0]?.idp.tenantClaim;
    const values = new Set<string>();
    for (const { path, idp, via } of shared) {
      const claim = idp.tenantClaim;
      if (claim === undefined) {
        refuse(
          [...path, 'tenant_claim'],
          `is required: issuer ${idp.issuer} with ${via} is configured for tenants ${names}`,
        );
        continue;
      }
      if (claim.claim !== first?.claim) {
        refuse([...path, 'tenant_claim', 'claim'], `must be the same in tenants ${names}`);
      } else if (values.has(claim.value)) {
        refuse([...path, 'tenant_claim', 'value'], `is used by another of tenants ${names}`);
      }
      values.add(claim.value);
    }
  }
}

/**
 * Parses the tenants file (JSON) with its schema; see docs/schemas/tenants.schema.json.
 *
 * @throws {ConfigInvalidError} naming the file's variable and each path inside it at fault
 *   (`tenants.acme.idps[0].issuer must be an http(s) URL`)
 */
export function parseTenantSettings(
  text: string,
  key: string,
  readSecret: ReadSecret = () => {
    throw new Error('secret files are not readable here');
  },
): TenantSettings[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigInvalidError([key], 'the tenants file is not valid JSON');
  }
  const duplicate = duplicateKey(text);
  if (duplicate !== undefined) {
    throw new ConfigInvalidError([key], `${pathText(duplicate)} is given twice (JSON would keep only the last)`);
  }
  const result = tenantsFileSchema(readSecret).safeParse(parsed);
  if (!result.success) throw new ConfigInvalidError([key], result.error.issues.flatMap(describeIssue).join('; '));
  return result.data;
}

/** The tenants file's JSON Schema (docs/schemas/tenants.schema.json), for editors and for review. */
export function tenantsJsonSchema(): Record<string, unknown> {
  const schema = tenantsFileSchema(() => {
    throw new Error('the JSON Schema reads no secrets');
  });
  return z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' });
}

/** `tenants.acme.idps[0].issuer must be an http(s) URL`: one line per problem, each naming its path. */
function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k) => `${pathText([...issue.path, k])} ${issue.message}`);
  }
  if (issue.code === 'invalid_key') {
    return [`${pathText(issue.path)} ${issue.issues[0]?.message ?? `is not a valid tenant id (${TENANT_ID_RULE})`}`];
  }
  return [`${pathText(issue.path)} ${issue.message}`];
}

function pathText(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'the tenants file';
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join('');
}

/**
 * The path of the first key an object of this (valid) JSON text holds twice: `JSON.parse` keeps the last
 * silently, so a tenant or setting written twice would lose the first without a word.
 */
function duplicateKey(json: string): PropertyKey[] | undefined {
  type Frame = { keys: Set<string>; key: string | undefined; expectsKey: boolean } | { index: number };
  const stack: Frame[] = [];
  const at = (): PropertyKey[] => stack.map((f) => ('index' in f ? f.index : (f.key ?? '')));
  for (let i = 0; i < json.length; i++) {
    const top = stack[stack.length - 1];
    switch (json[i]) {
      case '{':
        stack.push({ keys: new Set(), key: undefined, expectsKey: true });
        break;
      case '[':
        stack.push({ index: 0 });
        break;
      case '}':
      case ']':
        stack.pop();
        break;
      case ',':
        if (top !== undefined && 'index' in top) top.index += 1;
        else if (top !== undefined) top.expectsKey = true;
        break;
      case '"': {
        let end = i + 1;
        while (json[end] !== '"') end += json[end] === '\\' ? 2 : 1;
        if (top !== undefined && !('index' in top) && top.expectsKey) {
          const key = JSON.parse(json.slice(i, end + 1)) as string;
          top.expectsKey = false;
          top.key = key;
          if (top.keys.has(key)) return at();
          top.keys.add(key);
        }
        i = end;
        break;
      }
      default:
    }
  }
  return undefined;
}
