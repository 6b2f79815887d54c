import { describe, expect, it } from 'vitest';
import { SidecarClient } from '../../sdk/src/index.js';
import type { SidecarClientOptions } from '../../sdk/src/index.js';

describe('SidecarClient options', () => {
  it.each<[string, SidecarClientOptions]>([
    ['both a socket and an address', { socketPath: '/run/ipsie/check.sock', address: '127.0.0.1:9000' }],
    ['TLS without a TCP address', { tls: { caFile: '/tls/ca.crt' } }],
    [
      'a client certificate without its key',
      { address: '127.0.0.1:9000', tls: { caFile: '/tls/ca.crt', certFile: '/tls/app.crt' } },
    ],
    ['a caller token with a line break', { callerToken: 'token\r\nx-injected: 1' }],
    ['a deadline of zero', { deadlineMs: 0 }],
    ['a fractional number of attempts', { retry: { maxAttempts: 1.5 } }],
  ])('refuses %s with a TypeError at construction', (_what, options) => {
    expect(() => new SidecarClient(options)).toThrow(TypeError);
  });

  it('refuses a minSequence that is not a non-negative integer before sending anything', async () => {
    const client = new SidecarClient({ socketPath: '/nonexistent/check.sock' });
    try {
      await expect(
        client.check({
          tenant: 'acme',
          subject: { userId: 'u' },
          action: 'read',
          resource: { type: 'doc' },
          minSequence: -1,
        }),
      ).rejects.toThrow(TypeError);
    } finally {
      client.close();
    }
  });
});
