/**
 * sessionTerminator across a sidecar restart: the watch is live only, so
 * the terminator must reconnect on its own and tell the app it did.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { SidecarClient, sessionTerminator } from '../../sdk/src/index.js';
import type { SessionEvent } from '../../sdk/src/index.js';
import { change, session } from '../harness/changes.js';
import { NatsServer } from '../harness/nats_server.js';
import { SidecarProcess } from '../harness/sidecar_process.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const alice = ACME.people['alice']!;

let nats: NatsServer;
let producer: TestProducer;
let dir: ReturnType<typeof makeTempDir>;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges().filter((c) => c.tenant === ACME.id));
  dir = makeTempDir('ipsie-sdk-terminator-');
});

afterAll(async () => {
  await producer.close();
  await nats.dispose();
  dir.remove();
});

/** Resolves when `predicate` holds, checking after each call of the returned `poke`. */
function waitUntil(predicate: () => boolean): { done: Promise<void>; poke: () => void } {
  let resolve: () => void = () => undefined;
  const done = new Promise<void>((r) => {
    resolve = r;
  });
  return {
    done,
    poke: () => {
      if (predicate()) resolve();
    },
  };
}

describe('sessionTerminator', () => {
  it('reconnects after the sidecar restarts, says so, and ends a session revoked after the restart', async () => {
    const socket = join(dir.path, 'check.sock');
    const spawn = async (): Promise<SidecarProcess> =>
      await SidecarProcess.spawn({ natsUrl: nats.url, tenants: [ACME.id], env: { IPSIE_GRPC_SOCKET: socket } });
    let sidecar = await spawn();
    const client = new SidecarClient({ socketPath: socket });
    let connections = 0;
    const errors: unknown[] = [];
    const ended: SessionEvent[] = [];
    const reconnected = waitUntil(() => connections >= 2);
    const sawFailure = waitUntil(() => errors.length > 0);
    const revoked = waitUntil(() => ended.some((e) => e.kind === 'SESSION_REVOKED'));
    const terminator = sessionTerminator(client, {
      tenant: ACME.id,
      reconnectMs: 20,
      maxReconnectMs: 200,
      endSessions: (event) => {
        ended.push(event);
        revoked.poke();
      },
      onConnected: () => {
        connections++;
        reconnected.poke();
      },
      onError: (error) => {
        errors.push(error);
        sawFailure.poke();
      },
    });
    try {
      await terminator.connected;
      expect(connections).toBe(1);

      await sidecar.stop();
      await sawFailure.done;
      sidecar = await spawn();
      await reconnected.done;

      const start = session(ACME.id, 'sess-alice-restart', alice.id);
      await producer.publish(start);
      await producer.publish(
        change(ACME.id, 'session.revoke', {
          ...start.data,
          revoked_at: Math.floor(Date.now() / 1000),
          revoke_reason: 'CAEP session-revoked',
        }),
      );
      await revoked.done;
      expect(ended.find((e) => e.kind === 'SESSION_REVOKED')).toMatchObject({
        userId: alice.id,
        sessionId: 'sess-alice-restart',
      });
    } finally {
      await terminator.close();
      client.close();
      await sidecar.stop();
    }
  }, 120_000);

  it('close() ends a terminator that never connected, without waiting for its backoff', async () => {
    const client = new SidecarClient({ socketPath: join(dir.path, 'nobody.sock') });
    const errors: unknown[] = [];
    const failed = waitUntil(() => errors.length > 0);
    const terminator = sessionTerminator(client, {
      tenant: ACME.id,
      reconnectMs: 60_000,
      endSessions: () => undefined,
      onError: (error) => {
        errors.push(error);
        failed.poke();
      },
    });
    await failed.done;
    expect(errors[0]).toMatchObject({ reason: 'SIDECAR_UNREACHABLE' });
    // The terminator now waits a minute before reconnecting; close() must not.
    await terminator.close();
    client.close();
  });
});
