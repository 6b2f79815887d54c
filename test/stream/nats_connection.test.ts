/**
 * Requests across a NATS restart: nats.js drops what it buffered while
 * disconnected and never answers a request whose server died, so without the
 * gate in connectNats both would fail only at their timeout.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { TimeoutError } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STATE_STREAM } from '../../src/changes/index.js';
import { connectNats, ensureStateStream } from '../../src/stream/index.js';
import type { NatsConnection } from '../../src/stream/index.js';
import { capturingLogger } from '../harness/log_capture.js';
import { NatsServer } from '../harness/nats_server.js';

let nats: NatsServer;
let nc: NatsConnection;

beforeEach(async () => {
  nats = await NatsServer.start();
  nc = await connectNats({ servers: [nats.url], name: 'test' }, capturingLogger().logger);
});

afterEach(async () => {
  await nc.close();
  await nats.dispose();
});

/**
 * Runs `stop` and resolves once the client has noticed the connection is gone: a request made in the moment
 * between the server's death and that notice is in flight on the dead connection, and fails at once instead.
 */
async function disconnected(stop: () => Promise<void>): Promise<void> {
  const statuses = nc.status();
  await stop();
  for await (const status of statuses) if (status.type === 'disconnect') break;
}

describe('connectNats across a server restart', () => {
  for (const crash of [true, false]) {
    it(`a JetStream call made while the server is down (${crash ? 'SIGKILL' : 'SIGTERM'}) is answered once it is back, not at its timeout`, async () => {
      const jsm = await jetstreamManager(nc, { timeout: 10_000 });
      await ensureStateStream(jsm);
      await disconnected(() => nats.stop(crash));
      const info = jsm.streams.info(STATE_STREAM).then(
        (answer) => answer.config.name,
        (error: unknown) => error,
      );
      await nats.restart();
      const accepting = Date.now();
      expect(await info).toBe(STATE_STREAM);
      // The client redials every 500-750 ms; the old behaviour waited out the 10 s timeout.
      expect(Date.now() - accepting).toBeLessThan(2_000);
    });
  }

  it('a request in flight when the connection drops fails at once, not at its timeout', async () => {
    // A responder that takes the request and never answers: only the lost connection can end it.
    const silent = await connectNats({ servers: [nats.url], name: 'silent' }, capturingLogger().logger);
    const sub = silent.subscribe('slow.service');
    await silent.flush();
    const request = nc.request('slow.service', 'ping', { timeout: 30_000 });
    // Observed before the server stops: the rejection can come while `stop` is still awaited.
    const outcome = request.then(
      () => 'answered',
      (error: unknown) => error,
    );
    for await (const _ of sub) break; // it reached the server
    const killed = Date.now();
    await nats.stop(true);
    expect(await outcome).toBeInstanceOf(TimeoutError);
    expect(Date.now() - killed).toBeLessThan(2_000);
    await silent.close();
  });

  it('a request waiting for the connection fails with TimeoutError when its own timeout passes first', async () => {
    await disconnected(() => nats.stop(true));
    const started = Date.now();
    await expect(nc.request('anything', 'ping', { timeout: 300 })).rejects.toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
  });
});
