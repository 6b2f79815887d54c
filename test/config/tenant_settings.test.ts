import { describe, expect, it } from 'vitest';
import { attributeCatalog } from '../../src/attribute_catalog.js';
import { parseConfig, tenantsJsonSchema } from '../../src/config/index.js';

/** The tenants file is the variable's value; secret files are `/secret/<content>`, `/empty` is empty. */
function read(text: string): string {
  if (text === '/empty') return '\n';
  if (text.startsWith('/secret/')) return text.slice('/secret/'.length);
  if (text.startsWith('/')) throw new Error('ENOENT');
  return text;
}

function parseText(text: string): unknown {
  return parseConfig({ IPSIE_TENANTS_FILE: text }, read).tenants;
}

function parse(tenants: unknown): unknown {
  return parseText(JSON.stringify({ tenants }));
}

/** The refusal's message, which must be ERR_CONFIG_INVALID naming the tenants file's variable. */
function refusal(tenants: unknown, text = JSON.stringify({ tenants })): string {
  try {
    parseText(text);
  } catch (error) {
    expect(error).toMatchObject({ code: 'ERR_CONFIG_INVALID', keys: ['IPSIE_TENANTS_FILE'] });
    return (error as Error).message;
  }
  throw new Error('the tenants file was accepted');
}

const A = 'a'.repeat(64);
const idp = { issuer: 'https://idp.example', client_id: 'app', jwks_uri: 'https://idp.example/jwks' };
const transmitter = {
  issuer: 'https://tx.example',
  jwks_uri: 'https://tx.example/jwks',
  audience: 'app',
  push: { bearer_token_sha256: ['a'.repeat(64)] },
};

describe('the tenants file schema', () => {
  it.each([
    [{ acme: { idps: [{ ...idp, client_id: 7 }] } }, 'tenants.acme.idps[0].client_id must be a non-empty string'],
    [{ acme: { idps: [{ ...idp, client_id: '' }] } }, 'tenants.acme.idps[0].client_id must be a non-empty string'],
    [{ acme: { idps: [{ ...idp, discovery: 'yes' }] } }, 'tenants.acme.idps[0].discovery must be true or false'],
    [
      { acme: { ssf: { transmitters: [{ ...transmitter, max_set_age_s: '60' }] } } },
      'tenants.acme.ssf.transmitters[0].max_set_age_s must be a positive number',
    ],
    [{ acme: { idps: { issuer: idp.issuer } } }, 'tenants.acme.idps must be an array'],
    [{ acme: { scim: [] } }, 'tenants.acme.scim must be an object'],
    [{ acme: 'acme' }, 'tenants.acme must be an object'],
    [
      { acme: { authzen: { bearer_token_sha256: [], actions: 'read' } } },
      'tenants.acme.authzen.actions must be an array of strings',
    ],
    [
      { acme: { idps: [{ ...idp, roles: { claim: 'groups', map: [] } }] } },
      'tenants.acme.idps[0].roles.map must be an object',
    ],
  ])('refuses a value of the wrong type, naming its path: %j', (tenants, message) => {
    expect(refusal(tenants)).toContain(message);
  });

  it.each([
    [{ acme: { idps: [{ issuer: idp.issuer, discovery: true }] } }, 'tenants.acme.idps[0].client_id is required'],
    [{ acme: { admin: {} } }, 'tenants.acme.admin.bearer_token_sha256 is required'],
    [
      { acme: { ssf: { transmitters: [{ ...transmitter, management: {}, discovery: true }] } } },
      'tenants.acme.ssf.transmitters[0].management.bearer_token_file is required',
    ],
    [
      { acme: { ssf: { receiver: { audience: 'idp', management: { bearer_token_sha256: [] } } } } },
      'tenants.acme.ssf.receiver.management.endpoint_origins is required',
    ],
  ])('refuses a missing required setting, naming its path: %j', (tenants, message) => {
    expect(refusal(tenants)).toContain(message);
  });

  it.each([
    [{ acme: { idps: [{ ...idp, issuer: 'idp.example' }] } }, 'tenants.acme.idps[0].issuer must be an http(s) URL'],
    [{ acme: { idps: [{ ...idp, jwks_uri: 'ftp://idp.example/jwks' }] } }, 'tenants.acme.idps[0].jwks_uri must be'],
    [
      { acme: { ssf: { transmitters: [{ ...transmitter, poll: { endpoint_url: 'https://tx example/poll' } }] } } },
      'tenants.acme.ssf.transmitters[0].poll.endpoint_url must be an http(s) URL',
    ],
    [
      { acme: { scim: { oauth: { issuer: 'https://as', jwks_uri: '/jwks', audience: 'scim' } } } },
      'tenants.acme.scim.oauth.jwks_uri must be an http(s) URL',
    ],
    [
      { acme: { ssf: { receiver: { endpoint_url: 'mailto:idp@example', audience: 'idp' } } } },
      'tenants.acme.ssf.receiver.endpoint_url must be an http(s) URL',
    ],
  ])('refuses a URL that is not http(s): %j', (tenants, message) => {
    expect(refusal(tenants)).toContain(message);
  });

  it.each([
    [{ acme: { idps: [{ ...idp, sesion: {} }] } }, 'tenants.acme.idps[0].sesion is not a known setting'],
    [{ acme: { idps: [{ ...idp, session: { max_lifetime: 60 } }] } }, 'tenants.acme.idps[0].session.max_lifetime is'],
    [{ acme: { scim: { bearer_token_sha256: ['a'.repeat(64)], ratelimit: {} } } }, 'tenants.acme.scim.ratelimit is'],
    [
      { acme: { ssf: { transmitters: [{ ...transmitter, poll: { endpoint_url: 'https://t', token: 'x' } }] } } },
      'tenants.acme.ssf.transmitters[0].poll.token is not a known setting',
    ],
    [{ acme: { ssf: { receivers: [] } } }, 'tenants.acme.ssf.receivers is not a known setting'],
  ])('refuses an unknown key by its path, at every depth: %j', (tenants, message) => {
    expect(refusal(tenants)).toContain(message);
  });

  it('refuses an unknown top-level key, and accepts $schema for editors', () => {
    expect(refusal(undefined, JSON.stringify({ tenants: {}, tennants: {} }))).toContain(
      'tennants is not a known setting',
    );
    expect(parseText(JSON.stringify({ $schema: '../docs/schemas/tenants.schema.json', tenants: {} }))).toEqual([]);
  });

  it('names every problem of the file at once, each by its path', () => {
    const message = refusal({ acme: { idps: [{ ...idp, issuer: 'x', colour: 'red', shape: 'round' }] }, If: {} });
    for (const part of [
      'tenants.acme.idps[0].issuer must be an http(s) URL',
      'tenants.acme.idps[0].colour is not a known setting',
      'tenants.acme.idps[0].shape is not a known setting',
      'tenants.If is not a valid tenant id',
    ]) {
      expect(message).toContain(part);
    }
  });

  it('refuses a tenant written twice: JSON.parse would silently keep only the last', () => {
    const text = `{"tenants": {"acme": {"jit_provisioning": true}, "globex": {}, "acme": {}}}`;
    expect(refusal(undefined, text)).toContain('tenants.acme is given twice');
    const setting = `{"tenants": {"acme": {"idps": [${JSON.stringify(idp).slice(0, -1)}, "issuer": "https://other.example"}]}}}`;
    expect(refusal(undefined, setting)).toContain('tenants.acme.idps[0].issuer is given twice');
    // The same key in sibling objects, or inside strings, is not a duplicate.
    const siblings = `{"tenants": {"acme": {"display_name": "a \\"acme\\": {}"}, "globex": {"display_name": "acme"}}}`;
    expect(parseText(siblings)).toMatchObject([{ id: 'acme' }, { id: 'globex' }]);
  });

  it('refuses an issuer listed twice among a tenant’s IdPs or SSF transmitters', () => {
    expect(refusal({ acme: { idps: [idp, { ...idp, client_id: 'other' }] } })).toContain(
      'tenants.acme.idps lists issuer https://idp.example twice',
    );
    expect(refusal({ acme: { ssf: { transmitters: [transmitter, transmitter] } } })).toContain(
      'tenants.acme.ssf.transmitters lists issuer https://tx.example twice',
    );
  });

  it('refuses a session default lifetime beyond its maximum', () => {
    expect(
      refusal({ acme: { idps: [{ ...idp, session: { default_lifetime_s: 7200, max_lifetime_s: 3600 } }] } }),
    ).toContain('tenants.acme.idps[0].session default_lifetime_s exceeds max_lifetime_s');
    expect(refusal({ acme: { idps: [{ ...idp, session: { default_lifetime_s: 50_000 } }] } })).toContain(
      'exceeds max_lifetime_s',
    );
  });

  it('refuses a secret file that is empty, naming the setting', () => {
    const receiver = { endpoint_url: 'https://idp.example/ssf', audience: 'idp', bearer_token_file: '/empty' };
    expect(refusal({ acme: { ssf: { receiver } } })).toContain(
      'tenants.acme.ssf.receiver.bearer_token_file names an empty file (/empty)',
    );
  });

  it.each([
    [
      "the IdP's SCIM token",
      { a: { scim: { bearer_token_sha256: [A] }, resources: { bearer_token_sha256: [A] } } },
      "tenant a's scim API",
    ],
    [
      "another tenant's AuthZEN token",
      { a: { resources: { bearer_token_sha256: [A] } }, b: { authzen: { bearer_token_sha256: [A.toUpperCase()] } } },
      "tenant b's authzen API",
    ],
    [
      "another tenant's resource token",
      { a: { resources: { bearer_token_sha256: [A] } }, b: { resources: { bearer_token_sha256: [A] } } },
      "tenant a's resources API",
    ],
  ])('refuses a resource token that is also %s', (_what, tenants, opens) => {
    expect(refusal(tenants)).toContain(`resources.bearer_token_sha256 holds a token that opens ${opens} too`);
  });

  it('applies the documented defaults of a tenant with nothing but its id', () => {
    expect(parse({ acme: {} })).toEqual([
      {
        id: 'acme',
        name: 'acme',
        sandboxOf: undefined,
        displayName: 'acme',
        scim: undefined,
        adminTokenSha256: [],
        authzenTokenSha256: [],
        resourceTokenSha256: [],
        authzenActions: [],
        authzenSearchCandidates: 'all',
        subjectTypes: {
          user: { identifiers: ['id', 'external_id', 'user_name', 'idp_subject', 'email'], resultsIn: 'user_name' },
          identity: { identifiers: ['external_id', 'idp_subject'], resultsIn: 'external_id' },
        },
        idps: [],
        jitProvisioning: false,
        policyBudgetMs: undefined,
        attributeCatalog: attributeCatalog(undefined),
        ssf: { transmitters: [], receiver: undefined },
      },
    ]);
    expect(parse({ acme: { scim: { bearer_token_sha256: ['A'.repeat(64)] } } })).toMatchObject([
      { scim: { bearerTokenSha256: ['A'.repeat(64)], rateLimit: { requestsPerSecond: 50, burst: 100 } } },
    ]);
  });
});

describe('sandboxes in the tenants file', () => {
  it('declares acme.sandbox as a tenant of its own, keyed acme-sandbox, belonging to acme', () => {
    const tenants = parse({
      acme: { admin: { bearer_token_sha256: ['a'.repeat(64)] } },
      'acme.sandbox': { admin: { bearer_token_sha256: ['b'.repeat(64)] } },
    }) as { id: string; name: string; sandboxOf?: string; displayName: string; adminTokenSha256: string[] }[];
    expect(tenants.map(({ id, name, sandboxOf, displayName }) => ({ id, name, sandboxOf, displayName }))).toEqual([
      { id: 'acme', name: 'acme', sandboxOf: undefined, displayName: 'acme' },
      { id: 'acme-sandbox', name: 'acme.sandbox', sandboxOf: 'acme', displayName: 'acme.sandbox' },
    ]);
    // Its own credentials: production's admin token is not the sandbox's.
    expect(tenants[1]?.adminTokenSha256).toEqual(['b'.repeat(64)]);
  });

  it.each([
    [
      'the internal form of a sandbox key',
      { acme: {}, 'acme-sandbox': {} },
      'tenants.acme-sandbox is the internal form',
    ],
    [
      'a sandbox of a tenant the file does not declare',
      { 'evil.sandbox': {} },
      'tenants.evil.sandbox is the sandbox of evil',
    ],
    [
      'a sandbox of a sandbox',
      { acme: {}, 'acme.sandbox': {}, 'acme.sandbox.sandbox': {} },
      'tenants.acme.sandbox.sandbox is not a valid tenant id',
    ],
    ['another suffix', { acme: {}, 'acme.staging': {} }, 'tenants.acme.staging is not a valid tenant id'],
    ['a sandbox of a Rego keyword', { 'if.sandbox': {} }, 'tenants.if.sandbox is not a valid tenant id'],
  ])('refuses %s', (_what, tenants, message) => {
    expect(refusal(tenants)).toContain(message);
  });

  it('keeps a production id that merely resembles a sandbox (acme_sandbox) a tenant of its own', () => {
    expect(parse({ acme: {}, acme_sandbox: {} })).toMatchObject([
      { id: 'acme', sandboxOf: undefined },
      { id: 'acme_sandbox', name: 'acme_sandbox', sandboxOf: undefined },
    ]);
  });
});

describe('docs/schemas/tenants.schema.json', () => {
  /** Each property of an object schema, by its path, with its JSON Schema. */
  function properties(schema: Record<string, unknown>, path: string): [string, Record<string, unknown>][] {
    const found: [string, Record<string, unknown>][] = [];
    const props = (schema['properties'] ?? {}) as Record<string, Record<string, unknown>>;
    for (const [key, child] of Object.entries(props)) {
      found.push([`${path}${key}`, child], ...properties(child, `${path}${key}.`));
    }
    const items = schema['items'] as Record<string, unknown> | undefined;
    if (items !== undefined) found.push(...properties(items, `${path.slice(0, -1)}[].`));
    const values = schema['additionalProperties'];
    if (typeof values === 'object' && values !== null) {
      found.push(...properties(values as Record<string, unknown>, `${path}<id>.`));
    }
    return found;
  }

  it('describes every key of the file, and refuses keys it does not define', () => {
    const all = properties(tenantsJsonSchema(), '');
    expect(all.map(([path]) => path)).toEqual(
      expect.arrayContaining(['tenants.<id>.idps[].issuer', 'tenants.<id>.ssf.transmitters[].poll.interval_ms']),
    );
    expect(all.filter(([, schema]) => typeof schema['description'] !== 'string').map(([path]) => path)).toEqual([]);
    const objects = all.filter(([, schema]) => schema['type'] === 'object' && schema['properties'] !== undefined);
    expect(objects.filter(([, schema]) => schema['additionalProperties'] !== false).map(([path]) => path)).toEqual([]);
  });

  it('states the defaults the parser applies', () => {
    const schema = JSON.stringify(tenantsJsonSchema());
    const idp = (
      parse({ acme: { idps: [{ issuer: 'https://i.example', client_id: 'c', discovery: true }] } }) as {
        idps: Record<string, unknown>[];
      }[]
    )[0]?.idps[0];
    expect(idp).toMatchObject({ algorithms: ['PS256', 'ES256', 'EdDSA'], maxTokenAgeS: 86_400, requireNonce: true });
    for (const fragment of ['"default":["PS256","ES256","EdDSA"]', '"default":86400', '"default":true']) {
      expect(schema).toContain(fragment);
    }
  });
});

describe('customer_managed_key', () => {
  const withNats = (tenants: unknown): unknown =>
    parseConfig({ IPSIE_TENANTS_FILE: JSON.stringify({ tenants }), IPSIE_NATS_URL: 'nats://127.0.0.1:4222' }, read)
      .tenants;
  const refused = (tenants: unknown): { keys: string[]; message: string } => {
    try {
      withNats(tenants);
    } catch (error) {
      expect(error).toMatchObject({ code: 'ERR_CONFIG_INVALID' });
      return error as { keys: string[]; message: string };
    }
    throw new Error('accepted');
  };

  it('reads the provider and key, and leaves a tenant without one in clear', () => {
    expect(
      withNats({
        acme: {
          customer_managed_key: {
            provider: 'aws_kms',
            key_id: 'alias/acme',
            endpoint: 'http://127.0.0.1:4599',
            region: 'eu-west-2',
          },
        },
        globex: {},
      }),
    ).toMatchObject([
      {
        id: 'acme',
        customerManagedKey: {
          provider: 'aws_kms',
          keyId: 'alias/acme',
          endpoint: 'http://127.0.0.1:4599',
          region: 'eu-west-2',
        },
      },
      { id: 'globex', customerManagedKey: undefined },
    ]);
  });

  it.each([
    [{ provider: 'vault', key_id: 'k' }, 'tenants.acme.customer_managed_key.provider must be one of local, aws_kms'],
    [{ provider: 'local' }, 'tenants.acme.customer_managed_key.key_id is required'],
    [{ provider: 'local', key_id: 'k', region: 'eu-west-2' }, 'endpoint and region are for aws_kms'],
    [{ provider: 'aws_kms', key_id: 'k', endpoint: 'file:///etc/passwd' }, 'must be an http(s) URL'],
    [{ provider: 'aws_kms', key_id: 'k', rotate: true }, 'is not a known setting'],
    [{ provider: 'aws_kms', key_id: 'k'.repeat(2049) }, 'must be at most 2048 characters'],
  ])('refuses %j, naming what is wrong', (key, message) => {
    expect(refused({ acme: { customer_managed_key: key } }).message).toContain(message);
  });

  it('needs NATS: the keys are shared through the cluster, and a standalone sidecar would serve the tenant in clear', () => {
    expect(() =>
      parseConfig(
        {
          IPSIE_TENANTS_FILE: JSON.stringify({
            tenants: { acme: { customer_managed_key: { provider: 'local', key_id: 'k' } } },
          }),
        },
        read,
      ),
    ).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', keys: ['IPSIE_NATS_URL', 'IPSIE_TENANTS_FILE'] }));
  });
});
