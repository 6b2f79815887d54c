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
