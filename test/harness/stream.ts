import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { JetStreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Change } from '../../src/changes/index.js';
import { ChangePublisher, ensureStateStream } from '../../src/stream/index.js';
import type { PublishedChange } from '../../src/stream/index.js';

/** A producer's view of the stream, for tests: publish changes, inspect the stream. */
export class TestProducer {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly publisher: ChangePublisher;

  private constructor(nc: NatsConnection, jsm: JetStreamManager) {
    this.nc = nc;
    this.jsm = jsm;
    this.publisher = new ChangePublisher(jetstream(nc));
  }

  static async connect(url: string): Promise<TestProducer> {
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const jsm = await jetstreamManager(nc);
    await ensureStateStream(jsm);
    return new TestProducer(nc, jsm);
  }

  async publish(change: Change): Promise<PublishedChange> {
    return await this.publisher.publish(change, { retryForMs: 30_000 });
  }

  /** Publishes in order, each after the previous is stored; returns the last sequence. */
  async publishAll(changes: readonly Change[]): Promise<number> {
    let last = 0;
    for (const c of changes) last = (await this.publish(c)).sequence;
    return last;
  }

  /** Publishes raw bytes on a subject, bypassing the schema (for malformed-message tests). */
  async publishRaw(subject: string, payload: string | Uint8Array): Promise<number> {
    const ack = await jetstream(this.nc).publish(subject, payload);
    return ack.seq;
  }

  async lastSequence(): Promise<number> {
    return (await this.jsm.streams.info('IPSIE_STATE')).state.last_seq;
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}
