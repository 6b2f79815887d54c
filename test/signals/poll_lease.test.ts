/** Poll leases on a real JetStream KV: one holder, release hands over, expiry takes over from a dead holder. */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvPollLeases } from '../../src/signals/index.js';
import { NatsServer } from '../harness/nats_server.js';

let nats: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await NatsServer.start();
  nc = await connect({ servers: nats.url });
});

afterAll(async () => {
  await nc.close();
  await nats.dispose();
});

describe('KvPollLeases', () => {
  it('one replica holds a transmitter’s lease; a release hands it over', async () => {
    const [a, b] = await Promise.all([KvPollLeases.create(nc), KvPollLeases.create(nc)]);
    const leaseA = a.lease('acme', 'https://idp.example');
    const leaseB = b.lease('acme', 'https://idp.example');
    expect(await leaseA.hold()).toBe(true);
    expect(await leaseB.hold()).toBe(false);
    expect(await leaseA.hold()).toBe(true); // renewal
    expect(await leaseB.hold()).toBe(false);
    // Another transmitter's lease is independent.
    expect(await b.lease('acme', 'https://other.example').hold()).toBe(true);
    await leaseA.release();
    expect(await leaseB.hold()).toBe(true);
    expect(await leaseA.hold()).toBe(false);
  });

  it('a holder that stops renewing (a crash) loses the lease after the TTL', async () => {
    const bucket = { ttlMs: 1_000 };
    // The bucket's TTL is set when it is created: start from a fresh one.
    await (await jetstreamManager(nc)).streams.delete('KV_ipsie_ssf_poll_leases').catch(() => undefined);
    const [a, b] = await Promise.all([KvPollLeases.create(nc, bucket), KvPollLeases.create(nc, bucket)]);
    const leaseA = a.lease('globex', 'https://idp.example');
    const leaseB = b.lease('globex', 'https://idp.example');
    expect(await leaseA.hold()).toBe(true);
    expect(await leaseB.hold()).toBe(false);
    // A stops renewing; B takes the lease once the KV expires A's entry (a barrier on B, not a guessed pause).
    const deadline = Date.now() + 10_000;
    while (!(await leaseB.hold())) {
      if (Date.now() > deadline) throw new Error('the lease was never released');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await leaseA.hold()).toBe(false);
  });
});
