import { describe, expect, it } from 'vitest';
import { DEFAULT_BATCH_MAX_ITEMS, DEFAULT_GRPC_ADDRESS, parseConfig } from '../../src/config/index.js';

describe('parseConfig', () => {
  it('applies defaults and freezes the result', () => {
    const config = parseConfig({});
    expect(config.grpc.address).toBe(DEFAULT_GRPC_ADDRESS);
    expect(config.grpc.socketPath).toBeUndefined();
    expect(config.grpc.batchMaxItems).toBe(DEFAULT_BATCH_MAX_ITEMS);
    expect(Object.isFrozen(config.grpc)).toBe(true);
  });

  it('an empty address turns TCP off when a socket is configured', () => {
    const config = parseConfig({ IPSIE_GRPC_ADDRESS: '', IPSIE_GRPC_SOCKET: '/tmp/x.sock' });
    expect(config.grpc.address).toBeUndefined();
  });

  it.each([
    [{ IPSIE_GRPC_ADDRESS: 'localhost' }, ['IPSIE_GRPC_ADDRESS']],
    [{ IPSIE_GRPC_ADDRESS: '' }, ['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_SOCKET']],
    [{ IPSIE_BATCH_MAX_ITEMS: '0' }, ['IPSIE_BATCH_MAX_ITEMS']],
    [{ IPSIE_OPA_BUILD_TIMEOUT_MS: 'soon' }, ['IPSIE_OPA_BUILD_TIMEOUT_MS']],
    [{ IPSIE_LOG_LEVEL: 'loud' }, ['IPSIE_LOG_LEVEL']],
    [{ IPSIE_SUBJECT_CACHE_SIZE: '-1' }, ['IPSIE_SUBJECT_CACHE_SIZE']],
    [{ IPSIE_BATCH_MAX_ITEMS: '1.5' }, ['IPSIE_BATCH_MAX_ITEMS']],
  ])('names the offending key: %j', (env, keys) => {
    expect(() => parseConfig(env)).toThrow(expect.objectContaining({ code: 'ERR_CONFIG_INVALID', keys }));
  });
});

describe('the tenants file', () => {
  const file = (tenants: unknown): Record<string, string> => ({ IPSIE_TENANTS_FILE: JSON.stringify({ tenants }) });
  const read = (text: string): string => text;
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
      idps: [{ algorithms: ['PS256', 'ES256', 'EdDSA'], defaultSessionLifetimeS: 3600, maxSessionLifetimeS: 43200 }],
    });
  });

  it.each([
    [{ acme: { jit_provisoning: true } }, 'tenants.acme.jit_provisoning is not a known setting'],
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
  ])('names what is wrong: %j', (tenants, message) => {
    expect(() => parse(tenants)).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', keys: ['IPSIE_TENANTS_FILE'] }),
    );
    expect(() => parse(tenants)).toThrow(message);
  });
});
