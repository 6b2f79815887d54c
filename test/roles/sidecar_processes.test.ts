import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import { processStorePath } from '../../src/roles/index.js';

const config = (env: Record<string, string>): ReturnType<typeof parseConfig> =>
  parseConfig({ IPSIE_SIDECAR_PROCESSES: '3', ...env }, undefined, 'sidecar');

describe('processStorePath', () => {
  it('gives each process with a stream its own store file, the first the configured one', () => {
    const c = config({ IPSIE_STORE_PATH: '/data/sidecar.db', IPSIE_NATS_URL: 'nats://127.0.0.1:4222' });
    expect([1, 2, 3].map((slot) => processStorePath(c, slot))).toEqual([
      '/data/sidecar.db',
      '/data/sidecar.db.2',
      '/data/sidecar.db.3',
    ]);
  });

  it('gives every standalone process the one configured file (nothing writes it)', () => {
    const c = config({ IPSIE_STORE_PATH: '/data/sidecar.db' });
    expect([1, 2, 3].map((slot) => processStorePath(c, slot))).toEqual(Array(3).fill('/data/sidecar.db'));
  });

  it('keeps :memory: a private in-memory store in each process rather than a file named after it', () => {
    const c = config({ IPSIE_STORE_PATH: ':memory:', IPSIE_NATS_URL: 'nats://127.0.0.1:4222' });
    expect(processStorePath(c, 2)).toBe(':memory:');
  });
});
