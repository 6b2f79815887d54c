/** KvRegister.openOrCreate against a real nats-server: a bucket another process created is opened as it is. */
import { jetstreamManager } from '@nats-io/jetstream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectNats, KvRegister } from '../../src/stream/index.js';
import type { NatsConnection } from '../../src/stream/index.js';
import { NatsServer } from '../harness/nats_server.js';

let nats: NatsServer;
let nc: NatsConnection;

beforeAll(async () => {
  nats = await NatsServer.start();
  nc = await connectNats({ servers: [nats.url], name: 'kv-register-test' }, pino({ level: 'silent' }));
});

afterAll(async () => {
  await nc.close();
  await nats.dispose();
});

describe('KvRegister.openOrCreate', () => {
  it('creates the bucket with its options when no process has', async () => {
    const register = await KvRegister.openOrCreate(nc, { bucket: 'made_here', description: 'mine', history: 4 });
    expect(await register.create('k', 'v')).toBe(1);
    const info = await (await jetstreamManager(nc)).streams.info('KV_made_here');
    expect(info.config).toMatchObject({ max_msgs_per_subject: 4, description: 'mine' });
  });

  it('opens the bucket the owner created, keeping the owner’s settings and values', async () => {
    const owner = await KvRegister.open(nc, { bucket: 'owned', description: 'the owner’s', history: 5 });
    await owner.create('k', 'owner value');
    const other = await KvRegister.openOrCreate(nc, { bucket: 'owned', description: 'another', history: 1 });
    expect((await other.read('k'))?.value).toBe('owner value');
    const info = await (await jetstreamManager(nc)).streams.info('KV_owned');
    expect(info.config).toMatchObject({ max_msgs_per_subject: 5, description: 'the owner’s' });
  });
});

describe('KvRegister.watch', () => {
  it('gives each key’s current value first, then every change and deletion in order; stop ends it', async () => {
    const register = await KvRegister.open(nc, { bucket: 'watched', description: 'watched' });
    await register.create('a', 'a1');
    const seen: [string, string | undefined][] = [];
    const watch = await register.watch((key, entry) => seen.push([key, entry?.value]));
    const revision = (await register.read('a'))?.revision ?? 0;
    await register.replace('a', 'a2', revision);
    await register.create('b', 'b1');
    await register.remove('b', (await register.read('b'))?.revision ?? 0);
    await vi.waitFor(() => {
      expect(seen).toEqual([
        ['a', 'a1'],
        ['a', 'a2'],
        ['b', 'b1'],
        ['b', undefined],
      ]);
    });
    // Stopping ends the watch: `closed` resolves.
    watch.stop();
    await watch.closed;
  });
});
