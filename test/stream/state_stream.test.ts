import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STATE_STREAM } from '../../src/changes/index.js';
import {
  ChangePublisher,
  DELETE_MARKER_RETENTION_MS,
  ensureStateStream,
  stateStreamConfig,
} from '../../src/stream/index.js';
import { change, user } from '../harness/changes.js';
import { NatsServer } from '../harness/nats_server.js';

let nats: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeEach(async () => {
  nats = await NatsServer.start();
  nc = await connect({ servers: nats.url });
  jsm = await jetstreamManager(nc);
});

afterEach(async () => {
  await nc.close();
  await nats.dispose();
});

describe('ensureStateStream', () => {
  it('creates the stream once and is a no-op when called again', async () => {
    const created = await ensureStateStream(jsm);
    expect(created.config).toMatchObject({ name: STATE_STREAM, subjects: ['ipsie.state.>'], max_msgs_per_subject: 1 });
    const again = await ensureStateStream(jsm);
    expect(again.created).toEqual(created.created);
    await Promise.all([ensureStateStream(jsm), ensureStateStream(jsm)]); // concurrent replicas at start-up
  });

  it('upgrades an existing stream whose settings drifted', async () => {
    await jsm.streams.add({
      ...stateStreamConfig(),
      max_msgs_per_subject: 5,
      duplicate_window: nanos(10_000),
      allow_direct: false,
      allow_msg_ttl: false,
      subject_delete_marker_ttl: 0,
    });
    const info = await ensureStateStream(jsm);
    expect(info.config.max_msgs_per_subject).toBe(1);
    expect(info.config.duplicate_window).toBe(nanos(120_000));
    expect(info.config.allow_direct).toBe(true);
    // A stream created before sid revocations expired: their TTLs and delete markers are turned on.
    expect(info.config.allow_msg_ttl).toBe(true);
    expect(info.config.subject_delete_marker_ttl).toBe(nanos(DELETE_MARKER_RETENTION_MS));
  });

  it('refuses to run on a stream with other storage, rather than silently differ', async () => {
    await jsm.streams.add({ ...stateStreamConfig(), storage: StorageType.Memory });
    await expect(ensureStateStream(jsm)).rejects.toMatchObject({ code: 'ERR_STREAM_CONFIG_CONFLICT' });
  });

  it('keeps one message per entity subject', async () => {
    await ensureStateStream(jsm);
    const publisher = new ChangePublisher(jetstream(nc));
    await publisher.publish(user('acme', 'u1'));
    await publisher.publish(user('acme', 'u1', { active: false }));
    await publisher.publish(change('acme', 'member.add', { group_id: 'g1', user_id: 'u1' }));
    expect((await jsm.streams.info(STATE_STREAM)).state.messages).toBe(2);
  });
});

describe('ChangePublisher', () => {
  it('stores only if the entity is still at the expected sequence (optimistic concurrency)', async () => {
    await ensureStateStream(jsm);
    const publisher = new ChangePublisher(jetstream(nc));
    const created = await publisher.publish(user('acme', 'u1'), { expectedLastSubjectSequence: 0 });
    await expect(publisher.publish(user('acme', 'u1'), { expectedLastSubjectSequence: 0 })).rejects.toMatchObject({
      code: 'ERR_STREAM_SEQUENCE_CONFLICT',
    });
    const updated = await publisher.publish(user('acme', 'u1', { active: false }), {
      expectedLastSubjectSequence: created.sequence,
    });
    expect(updated.sequence).toBeGreaterThan(created.sequence);
    await expect(
      publisher.publish(user('acme', 'u1'), { expectedLastSubjectSequence: created.sequence }),
    ).rejects.toMatchObject({ code: 'ERR_STREAM_SEQUENCE_CONFLICT' });
  });

  it('gives up with ERR_STREAM_PUBLISH_FAILED when nothing stores the change in time', async () => {
    const publisher = new ChangePublisher(jetstream(nc)); // no stream: nothing answers on the subject
    await expect(publisher.publish(user('acme', 'u1'), { retryForMs: 300 })).rejects.toMatchObject({
      code: 'ERR_STREAM_PUBLISH_FAILED',
    });
  });
});
