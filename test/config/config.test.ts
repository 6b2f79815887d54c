import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BATCH_MAX_ITEMS,
  DEFAULT_GRPC_SOCKET,
  DEFAULT_GRPC_SOCKET_MODE,
  parseConfig,
} from '../../src/config/index.js';

describe('parseConfig', () => {
  it('applies defaults and freezes the result', () => {
    const config = parseConfig({});
    expect(config.grpc.address).toBeUndefined();
    expect(config.grpc.socketPath).toBe(DEFAULT_GRPC_SOCKET);
    expect(config.grpc.socketMode).toBe(DEFAULT_GRPC_SOCKET_MODE);
    expect(config.grpc.batchMaxItems).toBe(DEFAULT_BATCH_MAX_ITEMS);
    expect(Object.isFrozen(config.grpc)).toBe(true);
  });

  it('probes the stream every 2 s, or twice within a shorter staleness bound', () => {
    expect(parseConfig({}).nats.probeIntervalMs).toBe(2_000);
    expect(parseConfig({ IPSIE_STALE_AFTER_MS: '1000' }).nats.probeIntervalMs).toBe(500);
    expect(parseConfig({ IPSIE_STREAM_PROBE_MS: '250' }).nats.probeIntervalMs).toBe(250);
  });

  it('the store check: a budget (0 skips it) and how many unreadable files are kept, at least one', () => {
    expect(parseConfig({}).store).toMatchObject({ checkMs: 30_000, setAsideKept: 3 });
    expect(parseConfig({ IPSIE_STORE_CHECK_MS: '0', IPSIE_STORE_SET_ASIDE_KEPT: '1' }).store).toMatchObject({
      checkMs: 0,
      setAsideKept: 1,
    });
    expect(() => parseConfig({ IPSIE_STORE_SET_ASIDE_KEPT: '0' })).toThrow(/IPSIE_STORE_SET_ASIDE_KEPT/);
    expect(() => parseConfig({ IPSIE_STORE_CHECK_MS: '-1' })).toThrow(/IPSIE_STORE_CHECK_MS/);
  });

  it("each role has its own store file by default; the health address is the role's, not gRPC's", () => {
    expect(parseConfig({}).store.path).toBe('data/sidecar.db');
    expect(parseConfig({}, undefined, 'gateway').store.path).toBe('data/gateway.db');
    expect(parseConfig({ IPSIE_STORE_PATH: '/x.db' }, undefined, 'gateway').store.path).toBe('/x.db');
    expect(parseConfig({ IPSIE_HEALTH_ADDRESS: '0.0.0.0:9090' }).health).toEqual({ address: '0.0.0.0:9090' });
  });

  it('an empty address turns TCP off when a socket is configured', () => {
    const config = parseConfig({ IPSIE_GRPC_ADDRESS: '', IPSIE_GRPC_SOCKET: '/tmp/x.sock' });
    expect(config.grpc.address).toBeUndefined();
  });

  it('a TCP listener is accepted with caller tokens on loopback, or with mutual TLS anywhere', () => {
    const token = { IPSIE_GRPC_CALLER_TOKEN_SHA256: 'AB'.repeat(32) };
    expect(parseConfig({ IPSIE_GRPC_ADDRESS: '127.0.0.1:50051', ...token }).grpc).toMatchObject({
      address: '127.0.0.1:50051',
      callerTokenSha256: ['ab'.repeat(32)],
      tls: undefined,
    });
    const mtls = {
      IPSIE_GRPC_TLS_CERT_FILE: '/tls/tls.crt',
      IPSIE_GRPC_TLS_KEY_FILE: '/tls/tls.key',
      IPSIE_GRPC_TLS_CLIENT_CA_FILE: '/tls/ca.crt',
    };
    expect(parseConfig({ IPSIE_GRPC_ADDRESS: '0.0.0.0:50051', ...mtls }).grpc.tls).toEqual({
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
      clientCaFile: '/tls/ca.crt',
      reloadMs: 60_000,
    });
  });

  it('the gateway serves HTTPS from both certificate files, re-read as IPSIE_HTTP_TLS_RELOAD_MS says', () => {
    expect(parseConfig({}).gateway.tls).toBeUndefined();
    const files = { IPSIE_GATEWAY_TLS_CERT_FILE: '/tls/gw.crt', IPSIE_GATEWAY_TLS_KEY_FILE: '/tls/gw.key' };
    expect(parseConfig({ ...files, IPSIE_HTTP_TLS_RELOAD_MS: '5000' }).gateway.tls).toEqual({
      certFile: '/tls/gw.crt',
      keyFile: '/tls/gw.key',
      reloadMs: 5_000,
    });
  });

  const token = 'ab'.repeat(32);
  it.each([
    [{ IPSIE_GRPC_ADDRESS: 'localhost' }, ['IPSIE_GRPC_ADDRESS']],
    [{ IPSIE_GRPC_ADDRESS: '', IPSIE_GRPC_SOCKET: '' }, ['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_SOCKET']],
    // TCP without any caller authentication
    [
      { IPSIE_GRPC_ADDRESS: '127.0.0.1:50051' },
      ['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_TLS_CLIENT_CA_FILE', 'IPSIE_GRPC_CALLER_TOKEN_SHA256'],
    ],
    // server TLS alone does not say who the caller is
    [
      { IPSIE_GRPC_ADDRESS: '0.0.0.0:50051', IPSIE_GRPC_TLS_CERT_FILE: '/c', IPSIE_GRPC_TLS_KEY_FILE: '/k' },
      ['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_TLS_CLIENT_CA_FILE', 'IPSIE_GRPC_CALLER_TOKEN_SHA256'],
    ],
    // caller tokens in clear across the network
    [
      { IPSIE_GRPC_ADDRESS: '0.0.0.0:50051', IPSIE_GRPC_CALLER_TOKEN_SHA256: token },
      ['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_TLS_CERT_FILE'],
    ],
    [{ IPSIE_GRPC_CALLER_TOKEN_SHA256: 'secret' }, ['IPSIE_GRPC_CALLER_TOKEN_SHA256']],
    [{ IPSIE_GRPC_TLS_CERT_FILE: '/c' }, ['IPSIE_GRPC_TLS_CERT_FILE', 'IPSIE_GRPC_TLS_KEY_FILE']],
    [{ IPSIE_GATEWAY_TLS_KEY_FILE: '/k' }, ['IPSIE_GATEWAY_TLS_CERT_FILE', 'IPSIE_GATEWAY_TLS_KEY_FILE']],
    [{ IPSIE_HTTP_TLS_RELOAD_MS: '0' }, ['IPSIE_HTTP_TLS_RELOAD_MS']],
    [{ IPSIE_AUTHZEN_TLS_CERT_FILE: '/c' }, ['IPSIE_AUTHZEN_TLS_CERT_FILE', 'IPSIE_AUTHZEN_TLS_KEY_FILE']],
    [{ IPSIE_GRPC_SOCKET_MODE: '0666' }, ['IPSIE_GRPC_SOCKET_MODE']],
    [{ IPSIE_GRPC_SOCKET_MODE: 'rw' }, ['IPSIE_GRPC_SOCKET_MODE']],
    [{ IPSIE_BATCH_MAX_ITEMS: '0' }, ['IPSIE_BATCH_MAX_ITEMS']],
    [{ IPSIE_OPA_BUILD_TIMEOUT_MS: 'soon' }, ['IPSIE_OPA_BUILD_TIMEOUT_MS']],
    [{ IPSIE_LOG_LEVEL: 'loud' }, ['IPSIE_LOG_LEVEL']],
    [{ IPSIE_SUBJECT_CACHE_SIZE: '-1' }, ['IPSIE_SUBJECT_CACHE_SIZE']],
    [{ IPSIE_BATCH_MAX_ITEMS: '1.5' }, ['IPSIE_BATCH_MAX_ITEMS']],
    [{ IPSIE_JWKS_MAX_AGE_S: '0' }, ['IPSIE_JWKS_MAX_AGE_S']],
    [{ IPSIE_JWKS_MIN_INTERVAL_MS: 'often' }, ['IPSIE_JWKS_MIN_INTERVAL_MS']],
    // A probe at or beyond the staleness bound could never keep a store fresh.
    [{ IPSIE_STREAM_PROBE_MS: '30000' }, ['IPSIE_STREAM_PROBE_MS', 'IPSIE_STALE_AFTER_MS']],
    [
      { IPSIE_STALE_AFTER_MS: '1000', IPSIE_STREAM_PROBE_MS: '2000' },
      ['IPSIE_STREAM_PROBE_MS', 'IPSIE_STALE_AFTER_MS'],
    ],
    [{ IPSIE_STREAM_PROBE_MS: '0' }, ['IPSIE_STREAM_PROBE_MS']],
  ])('names the offending key: %j', (env, keys) => {
    expect(() => parseConfig(env)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', keys }));
  });
});

const transmitter = {
  issuer: 'https://idp.example',
  jwks_uri: 'https://idp.example/ssf/jwks',
  audience: 'https://app.example/ssf/acme',
  push: { bearer_token_sha256: ['a'.repeat(64)] },
};

describe('the tenants file', () => {
  const file = (tenants: unknown): Record<string, string> => ({ IPSIE_TENANTS_FILE: JSON.stringify({ tenants }) });
  // The tenants file is the variable's value here; secret files are named `/secret/<value>`.
  const read = (text: string): string => {
    if (text.startsWith('/secret/')) return `${text.slice('/secret/'.length)}\n`;
    if (text.startsWith('/')) throw new Error('ENOENT');
    return text;
  };
  const parse = (tenants: unknown): unknown => parseConfig(file(tenants), read);

  it('parses IdPs with their defaults', () => {
    const config = parseConfig(
      file({
        acme: { idps: [{ issuer: 'https://idp.example', client_id: 'app', jwks_uri: 'https://idp.example/jwks' }] },
      }),
      read,
    );
    expect(config.tenants[0]).toMatchObject({
      id: 'acme',
      jitProvisioning: false,
      scim: undefined,
      idps: [
        {
          algorithms: ['PS256', 'ES256', 'EdDSA'],
          defaultSessionLifetimeS: 3600,
          maxSessionLifetimeS: 43200,
          requireNonce: true,
          maxTokenAgeS: 86_400,
          accessTokens: undefined,
          tenantClaim: undefined,
        },
      ],
    });
    expect(parseConfig({}).tokens).toEqual({
      jwksCooldownMs: 30_000,
      jwksMaxAgeS: 300,
      jwksMinIntervalMs: 1_000,
      clockToleranceS: 60,
    });
  });

  it('parses the token rules of an IdP: nonce, token age, access tokens, tenant claim', () => {
    const idp = {
      issuer: 'https://idp.example',
      client_id: 'app',
      jwks_uri: 'https://idp.example/jwks',
      require_nonce: false,
      max_token_age_s: 600,
      access_tokens: { audience: 'https://api.example' },
      tenant_claim: { claim: 'org_id', value: 'org_acme' },
    };
    expect(parse({ acme: { idps: [idp] } })).toMatchObject({
      tenants: [
        {
          idps: [
            {
              requireNonce: false,
              maxTokenAgeS: 600,
              accessTokens: { audience: 'https://api.example' },
              tenantClaim: { claim: 'org_id', value: 'org_acme' },
            },
          ],
        },
      ],
    });
  });

  it.each(['if', 'not', 'with', 'true', 'null', 'input'])('refuses a Rego keyword as a tenant id: %s', (id) => {
    expect(() => parse({ [id]: {} })).toThrow(/not a valid tenant id/);
  });

  it('roles: the claim and an optional map of its values to roles, each a non-empty string', () => {
    const idp = (roles: unknown): unknown => ({
      acme: {
        idps: [{ issuer: 'https://idp.example', client_id: 'app', jwks_uri: 'https://idp.example/jwks', roles }],
      },
    });
    const first = (config: unknown): unknown =>
      (config as { tenants: { idps: { roles: unknown }[] }[] }).tenants[0]?.idps[0]?.roles;
    expect(first(parse(idp({ claim: 'groups' })))).toEqual({ claim: 'groups', map: undefined });
    expect(first(parse(idp({ claim: 'groups', map: { g1: 'admin' } })))).toEqual({
      claim: 'groups',
      map: { g1: 'admin' },
    });
    expect(() => parse(idp({ map: { g1: 'admin' } }))).toThrow(/roles.claim/);
    expect(() => parse(idp({ claim: 'groups', map: { g1: 7 } }))).toThrow(/roles.map.g1/);
    expect(() => parse(idp({ claim: 'groups', mapping: {} }))).toThrow(/mapping/);
  });

  it('step_up_parameters: claims by default; acr_values, or both, for IdPs that take those; nothing else', () => {
    const idp = (extra: Record<string, unknown>): unknown => ({
      acme: {
        idps: [{ issuer: 'https://idp.example', client_id: 'app', jwks_uri: 'https://idp.example/jwks', ...extra }],
      },
    });
    const first = (config: unknown): unknown =>
      (config as { tenants: { idps: { stepUpParameters: unknown }[] }[] }).tenants[0]?.idps[0]?.stepUpParameters;
    expect(first(parse(idp({})))).toEqual(['claims']);
    expect(first(parse(idp({ step_up_parameters: ['acr_values'] })))).toEqual(['acr_values']);
    expect(first(parse(idp({ step_up_parameters: ['claims', 'acr_values'] })))).toEqual(['claims', 'acr_values']);
    expect(() => parse(idp({ step_up_parameters: ['prompt'] }))).toThrow(/step_up_parameters/);
    expect(() => parse(idp({ step_up_parameters: [] }))).toThrow(/step_up_parameters/);
  });

  it("a tenant's own policy evaluation budget", () => {
    const config = parseConfig(file({ acme: { policy: { budget_ms: 200 } }, globex: {} }), read);
    expect(config.tenants.map((t) => t.policyBudgetMs)).toEqual([200, undefined]);
    expect(() => parse({ acme: { policy: { budget: 200 } } })).toThrow(/budget/);
    expect(() => parse({ acme: { policy: { budget_ms: 0 } } })).toThrow(/budget_ms/);
  });

  it('AuthZEN subject types: user and identity by default; a declared type replaces or adds one', () => {
    const hash = 'a'.repeat(64);
    const [plain] = parseConfig(file({ todo: {} }), read).tenants;
    expect(plain?.subjectTypes['identity']).toEqual({
      identifiers: ['external_id', 'idp_subject'],
      resultsIn: 'external_id',
    });
    expect(plain?.subjectTypes['user']?.resultsIn).toBe('user_name');
    const [declared] = parseConfig(
      file({
        todo: {
          authzen: {
            bearer_token_sha256: [hash],
            subject_types: {
              user: { identifiers: ['email'] },
              employee: { identifiers: ['external_id', 'user_name'], results_in: 'user_name' },
            },
          },
        },
      }),
      read,
    ).tenants;
    expect(declared?.subjectTypes).toMatchObject({
      user: { identifiers: ['email'], resultsIn: 'email' },
      identity: { identifiers: ['external_id', 'idp_subject'] },
      employee: { identifiers: ['external_id', 'user_name'], resultsIn: 'user_name' },
    });
    const types = (subjectTypes: unknown): unknown =>
      parse({ todo: { authzen: { bearer_token_sha256: [hash], subject_types: subjectTypes } } });
    expect(() => types({ user: { identifiers: ['mail'] } })).toThrow(/subject_types\.user\.identifiers\[0\]/);
    expect(() => types({ user: { identifiers: [] } })).toThrow(/identifiers/);
    expect(() => types({ user: { identifiers: ['email'], results_in: 'uuid' } })).toThrow(/results_in/);
    expect(() => types({ session: { identifiers: ['id'] } })).toThrow(/reserved/);
  });

  it('IPSIE_AUTHZEN_PUBLIC_URL: an https URL without query, its trailing slash dropped', () => {
    const url = (value: string): string | undefined =>
      parseConfig({ IPSIE_AUTHZEN_PUBLIC_URL: value }).grpc.authzenPublicUrl;
    expect(url('https://pdp.example/authzen/')).toBe('https://pdp.example/authzen');
    expect(() => url('http://pdp.example')).toThrow('IPSIE_AUTHZEN_PUBLIC_URL');
    expect(() => url('https://pdp.example/?x=1')).toThrow('IPSIE_AUTHZEN_PUBLIC_URL');
  });

  it('one issuer and client in two tenants needs a tenant claim with its own value in each', () => {
    const shared = { issuer: 'https://idp.example', client_id: 'app', jwks_uri: 'https://idp.example/jwks' };
    const org = (value: string, claim = 'org_id'): unknown => ({ ...shared, tenant_claim: { claim, value } });
    expect(() => parse({ acme: { idps: [shared] }, globex: { idps: [shared] } })).toThrow(
      'tenants.acme.idps[0].tenant_claim is required: issuer https://idp.example with client_id app is configured for tenants acme, globex',
    );
    expect(() => parse({ acme: { idps: [org('o1')] }, globex: { idps: [shared] } })).toThrow(
      'tenants.globex.idps[0].tenant_claim is required',
    );
    expect(() => parse({ acme: { idps: [org('o1')] }, globex: { idps: [org('o1')] } })).toThrow(
      'tenants.globex.idps[0].tenant_claim.value is used by another of tenants acme, globex',
    );
    expect(() => parse({ acme: { idps: [org('o1')] }, globex: { idps: [org('o2', 'tid')] } })).toThrow(
      'tenants.globex.idps[0].tenant_claim.claim must be the same',
    );
    expect(() => parse({ acme: { idps: [org('o1')] }, globex: { idps: [org('o2')] } })).not.toThrow();
    // Another client id at the same issuer is another relying party: no claim needed.
    expect(() =>
      parse({ acme: { idps: [shared] }, globex: { idps: [{ ...shared, client_id: 'app2' }] } }),
    ).not.toThrow();
  });

  it('one issuer and access-token audience in two tenants needs a tenant claim, whatever their client ids', () => {
    const api = { audience: 'https://api.example' };
    const acme = { issuer: 'https://idp.example', client_id: 'acme-app', jwks_uri: 'https://idp.example/jwks' };
    const globex = { ...acme, client_id: 'globex-app' };
    const org = (idp: object, value: string): unknown => ({ ...idp, tenant_claim: { claim: 'org_id', value } });
    expect(() =>
      parse({
        acme: { idps: [{ ...acme, access_tokens: api }] },
        globex: { idps: [{ ...globex, access_tokens: api }] },
      }),
    ).toThrow(
      'tenants.acme.idps[0].tenant_claim is required: issuer https://idp.example with access_tokens.audience https://api.example is configured for tenants acme, globex',
    );
    // Other APIs, but one client whose access tokens both accept: a token with both audiences passes both.
    expect(() =>
      parse({
        acme: { idps: [{ ...acme, access_tokens: { audience: 'https://a.example', client_ids: ['cli'] } }] },
        globex: { idps: [{ ...globex, access_tokens: { audience: 'https://g.example', client_ids: ['cli'] } }] },
      }),
    ).toThrow(
      'tenants.acme.idps[0].tenant_claim is required: issuer https://idp.example with access_tokens.client_ids cli is configured for tenants acme, globex',
    );
    expect(() =>
      parse({
        acme: { idps: [org({ ...acme, access_tokens: api }, 'org_acme')] },
        globex: { idps: [org({ ...globex, access_tokens: api }, 'org_globex')] },
      }),
    ).not.toThrow();
    // Each tenant's own API and clients: a token for one is never accepted by the other.
    expect(() =>
      parse({
        acme: { idps: [{ ...acme, access_tokens: { audience: 'https://a.example' } }] },
        globex: { idps: [{ ...globex, access_tokens: { audience: 'https://g.example' } }] },
      }),
    ).not.toThrow();
  });

  it('access_tokens.client_ids: the clients whose access tokens are accepted; client_id by default', () => {
    const idp = { issuer: 'https://idp.example', client_id: 'app', jwks_uri: 'https://idp.example/jwks' };
    const at = (accessTokens: unknown): unknown => parse({ acme: { idps: [{ ...idp, access_tokens: accessTokens }] } });
    expect(at({ audience: 'https://api.example' })).toMatchObject({
      tenants: [{ idps: [{ accessTokens: { audience: 'https://api.example', clientIds: ['app'] } }] }],
    });
    expect(at({ audience: 'https://api.example', client_ids: ['mobile', 'cli'] })).toMatchObject({
      tenants: [{ idps: [{ accessTokens: { clientIds: ['mobile', 'cli'] } }] }],
    });
    for (const clientIds of [[], [''], 'mobile', [1]]) {
      expect(() => at({ audience: 'https://api.example', client_ids: clientIds })).toThrow(
        'tenants.acme.idps[0].access_tokens.client_ids',
      );
    }
  });

  it('parses back-channel logout per IdP: absent is off, {} is on with typ required', () => {
    const idp = { issuer: 'https://idp.example', client_id: 'app', jwks_uri: 'https://idp.example/jwks' };
    const config = parseConfig(
      file({
        acme: {
          idps: [
            idp,
            { ...idp, issuer: 'https://two.example', backchannel_logout: {} },
            {
              ...idp,
              issuer: 'https://three.example',
              backchannel_logout: { require_typ: false, max_token_age_s: 60 },
            },
          ],
        },
      }),
      read,
    );
    expect(config.tenants[0]?.idps.map((i) => i.backchannelLogout)).toEqual([
      undefined,
      { typRequired: true, maxTokenAgeS: 600 },
      { typRequired: false, maxTokenAgeS: 60 },
    ]);
    expect(() => parse({ acme: { idps: [{ ...idp, backchannel_logout: { require_type: false } }] } })).toThrow(
      'tenants.acme.idps[0].backchannel_logout.require_type is not a known setting',
    );
    expect(() => parse({ acme: { idps: [{ ...idp, backchannel_logout: { max_token_age_s: 0 } }] } })).toThrow(
      'max_token_age_s must be a positive number',
    );
  });

  it('parses SSF transmitters and the receiver, reading secrets from their files', () => {
    const config = parseConfig(
      file({
        acme: {
          ssf: {
            transmitters: [
              transmitter,
              {
                issuer: 'https://other.example',
                discovery: true,
                audience: 'app',
                poll: { endpoint_url: 'https://other.example/poll', bearer_token_file: '/secret/poll-token' },
                management: { bearer_token_file: '/secret/mgmt-token' },
              },
            ],
            receiver: {
              endpoint_url: 'https://idp.example/ssf/events',
              audience: 'idp',
              bearer_token_file: '/secret/tx',
            },
          },
        },
      }),
      read,
    );
    expect(config.tenants[0]?.ssf).toMatchObject({
      transmitters: [
        { algorithms: ['RS256', 'PS256', 'ES256', 'EdDSA'], maxSetAgeS: 86400, poll: undefined, streamId: undefined },
        {
          jwksUri: undefined,
          push: undefined,
          poll: {
            endpointUrl: 'https://other.example/poll',
            bearerToken: 'poll-token',
            maxEvents: 100,
            intervalMs: 5000,
          },
          management: { bearerToken: 'mgmt-token' },
        },
      ],
      receiver: { bearerToken: 'tx', sessionChangeEvent: 'session-presented' },
    });
    expect(parseConfig({}).tenants).toEqual([]);
    expect(parseConfig({}).signals).toMatchObject({ publicUrl: undefined, signingKeysFile: undefined });
    expect(parseConfig({ IPSIE_PUBLIC_URL: 'https://gw.example/' }).signals.publicUrl).toBe('https://gw.example');
    expect(() => parseConfig({ IPSIE_PUBLIC_URL: 'gw.example' })).toThrow('IPSIE_PUBLIC_URL');
  });

  it('parses stream management offered to the receiver; its token names one tenant only', () => {
    const hash = 'a'.repeat(64);
    const management = { bearer_token_sha256: [hash], endpoint_origins: ['https://idp.example'] };
    const config = parseConfig(file({ acme: { ssf: { receiver: { audience: 'idp', management } } } }), read);
    expect(config.tenants[0]?.ssf.receiver).toMatchObject({
      endpointUrl: undefined,
      management: { bearerTokenSha256: [hash], endpointOrigins: ['https://idp.example'] },
    });
    const refused: [Record<string, unknown>, string][] = [
      [{ acme: { ssf: { receiver: { audience: 'idp' } } } }, 'needs endpoint_url or management'],
      [
        { acme: { ssf: { receiver: { audience: 'idp', management: { ...management, endpoint_origins: [] } } } } },
        'endpoint_origins must name at least one origin',
      ],
      [
        {
          acme: {
            ssf: { receiver: { audience: 'idp', management: { ...management, endpoint_origins: ['https://idp/x'] } } },
          },
        },
        'endpoint_origins[0] must be an origin',
      ],
      [
        {
          acme: { ssf: { receiver: { audience: 'idp', management } } },
          globex: {
            ssf: {
              receiver: { audience: 'idp', management: { ...management, bearer_token_sha256: [hash.toUpperCase()] } },
            },
          },
        },
        'tenants.globex.ssf.receiver.management.bearer_token_sha256 holds a token tenant acme has too',
      ],
    ];
    for (const [tenants, message] of refused) expect(() => parse(tenants), message).toThrow(message);
  });

  it.each([
    [{ acme: { jit_provisoning: true } }, 'tenants.acme.jit_provisoning is not a known setting'],
    [
      { acme: { idps: [{ issuer: 'https://i', client_id: 'c', discovery: true, require_nonce: 'no' }] } },
      'tenants.acme.idps[0].require_nonce must be true or false',
    ],
    [
      { acme: { idps: [{ issuer: 'https://i', client_id: 'c', discovery: true, max_token_age_s: -1 }] } },
      'tenants.acme.idps[0].max_token_age_s must be a positive number',
    ],
    [
      { acme: { idps: [{ issuer: 'https://i', client_id: 'c', discovery: true, access_tokens: { audience: 'c' } }] } },
      'tenants.acme.idps[0].access_tokens.audience must be the API, not client_id',
    ],
    [
      { acme: { idps: [{ issuer: 'https://i', client_id: 'c', discovery: true, access_tokens: {} }] } },
      'tenants.acme.idps[0].access_tokens.audience is required',
    ],
    [
      { acme: { idps: [{ issuer: 'https://i', client_id: 'c', discovery: true, tenant_claim: { claim: 'tid' } }] } },
      'tenants.acme.idps[0].tenant_claim.value is required',
    ],
    [{ acme: { idps: [{ issuer: 'https://i', client_id: 'c' }] } }, 'tenants.acme.idps[0] needs jwks_uri'],
    [
      { acme: { idps: [{ issuer: 'https://i', client_id: 'c', discovery: true, algorithms: ['HS256'] }] } },
      'cannot include HS256',
    ],
    [
      { acme: { idps: [{ issuer: 'https://i', client_id: 'c', discovery: true, algorithms: ['none'] }] } },
      'cannot include none',
    ],
    [
      { acme: { scim: { bearer_token_sha256: ['not-a-hash'] } } },
      'tenants.acme.scim.bearer_token_sha256[0] must be 64 hex',
    ],
    [{ acme: { scim: {} } }, 'tenants.acme.scim needs bearer_token_sha256 or oauth'],
    [{ 'Acme Corp': {} }, 'is not a valid tenant id'],
    [
      { acme: { ssf: { transmitters: [{ issuer: 'https://t', jwks_uri: 'https://t/jwks', audience: 'a' }] } } },
      'tenants.acme.ssf.transmitters[0] needs push or poll',
    ],
    [
      {
        acme: {
          ssf: { transmitters: [{ ...transmitter, management: { bearer_token_file: '/s' }, discovery: false }] },
        },
      },
      'tenants.acme.ssf.transmitters[0].management needs "discovery": true',
    ],
    [
      { acme: { ssf: { transmitters: [{ ...transmitter, algorithms: ['HS256'] }] } } },
      'tenants.acme.ssf.transmitters[0].algorithms cannot include HS256',
    ],
    [
      {
        acme: {
          ssf: {
            transmitters: [{ ...transmitter, poll: { endpoint_url: 'https://t/poll', bearer_token_file: '/missing' } }],
          },
        },
      },
      'tenants.acme.ssf.transmitters[0].poll.bearer_token_file cannot be read (/missing)',
    ],
    [
      { acme: { ssf: { receiver: { endpoint_url: 'https://idp/ssf', audience: 'idp', session_change_event: 'x' } } } },
      'must be session-presented or session-established',
    ],
  ])('names what is wrong: %j', (tenants, message) => {
    expect(() => parse(tenants)).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', keys: ['IPSIE_TENANTS_FILE'] }),
    );
    expect(() => parse(tenants)).toThrow(message);
  });
});

describe('IPSIE_CONFIG_FILE', () => {
  const files: Record<string, string> = {
    '/cfg/good.json': JSON.stringify({
      IPSIE_NATS_URL: 'nats://a:4222',
      IPSIE_STALE_AFTER_MS: 5000,
      IPSIE_LOG_LEVEL: 'warn',
    }),
    '/cfg/typo.json': JSON.stringify({ IPSIE_NATS_ULR: 'nats://a:4222' }),
    '/cfg/array.json': '[]',
    '/cfg/nested.json': JSON.stringify({ IPSIE_STALE_AFTER_MS: { ms: 5 } }),
    '/cfg/bad.json': JSON.stringify({ IPSIE_STALE_AFTER_MS: 'soon' }),
  };
  const read = (path: string): string => {
    const text = files[path];
    if (text === undefined) throw new Error(`ENOENT ${path}`);
    return text;
  };

  it('reads settings from the file; the environment overrides them', () => {
    const config = parseConfig({ IPSIE_CONFIG_FILE: '/cfg/good.json', IPSIE_LOG_LEVEL: 'debug' }, read);
    expect(config.nats.servers).toEqual(['nats://a:4222']);
    expect(config.nats.staleAfterMs).toBe(5000);
    expect(config.log.level).toBe('debug');
  });

  it.each([
    ['/cfg/typo.json', 'IPSIE_NATS_ULR', /unknown setting/],
    ['/cfg/array.json', 'IPSIE_CONFIG_FILE', /JSON object/],
    ['/cfg/missing.json', 'IPSIE_CONFIG_FILE', /cannot be read/],
    ['/cfg/nested.json', 'IPSIE_STALE_AFTER_MS', /string, number or boolean/],
    ['/cfg/bad.json', 'IPSIE_STALE_AFTER_MS', /./],
  ])('%s is refused naming %s', (path, key, message) => {
    expect(() => parseConfig({ IPSIE_CONFIG_FILE: path }, read)).toThrow(message);
    try {
      parseConfig({ IPSIE_CONFIG_FILE: path }, read);
    } catch (error) {
      expect((error as { keys: string[] }).keys).toContain(key);
    }
  });
});
