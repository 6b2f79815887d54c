/**
 * The SSF receiver against a replica that has not yet applied the latest
 * write to a user: the window between the receiver's read and its publish,
 * held open. Real NATS, real SQLite, real signed SETs.
 */
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditLog, ensureAuditStream } from '../../src/audit/index.js';
import { decodeChange, STATE_STREAM } from '../../src/changes/index.js';
import { parseConfig } from '../../src/config/index.js';
import { applyChange } from '../../src/ingest/index.js';
import { createLogger } from '../../src/logging/index.js';
import { SetVerifier, SignalReceiver, TransmitterDirectory } from '../../src/signals/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { ChangePublisher, ensureStateStream } from '../../src/stream/index.js';
import { change, user } from '../harness/changes.js';
import { FakeTransmitter, RISC } from '../harness/fake_transmitter.js';
import { sha256 } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const TOKEN = 'push-token';

let nats: NatsServer;
let nc: NatsConnection;
let producer: TestProducer;
let tx: FakeTransmitter;
/** A transmitter found by discovery, whose metadata marks complex subject members critical. */
let strict: FakeTransmitter;
let dir: ReturnType<typeof makeTempDir>;
let replica: EntitlementStore;
let receiver: SignalReceiver;

beforeAll(async () => {
  [nats, tx, strict] = await Promise.all([NatsServer.start(), FakeTransmitter.start(), FakeTransmitter.start()]);
  strict.criticalSubjectMembers = ['device', 'application', 'tenant'];
  nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await ensureStateStream(jsm);
  await ensureAuditStream(jsm);
  producer = await TestProducer.connect(nats.url);
  dir = makeTempDir();
  replica = EntitlementStore.open(join(dir.path, 'replica.db'), { directoryIndexes: true });
  const { tenants } = parseConfig(
    {
      IPSIE_TENANTS_FILE: JSON.stringify({
        tenants: {
          acme: {
            ssf: {
              transmitters: [
                {
                  issuer: tx.issuer,
                  jwks_uri: tx.jwksUri,
                  audience: tx.audience,
                  push: { bearer_token_sha256: [sha256(TOKEN)] },
                },
              ],
            },
          },
          strict: {
            ssf: {
              transmitters: [
                {
                  issuer: strict.issuer,
                  discovery: true,
                  audience: strict.audience,
                  push: { bearer_token_sha256: [sha256(TOKEN)] },
                },
              ],
            },
          },
        },
      }),
    },
    (text) => text,
  );
  const transmitters = new TransmitterDirectory({ tenants });
  receiver = new SignalReceiver({
    tenants,
    transmitters,
    verifier: new SetVerifier({ transmitters }),
    directory: replica,
    changes: new ChangePublisher(jetstream(nc)),
    archive: new AuditLog(nc, jetstream(nc), jsm),
    logger: createLogger('silent'),
  });
});

afterAll(async () => {
  replica.close();
  dir.remove();
  await producer.close();
  await nc.close();
  await nats.dispose();
  await Promise.all([tx.stop(), strict.stop()]);
});

/** Applies the stream's messages up to `sequence` to the replica, as its ingestor would. */
async function catchUp(sequence: number): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for (let seq = replica.appliedSequence() + 1; seq <= sequence; seq++) {
    // A message replaced since (one per subject) is gone: a consumer skips it too.
    const message = await jsm.streams.getMessage(STATE_STREAM, { seq }).catch(() => null);
    replica.transaction(() => {
      if (message !== null) applyChange(replica, decodeChange(message.data), seq);
      replica.setAppliedSequence(seq);
    });
  }
}

describe('SignalReceiver', () => {
  it('a user rewrite computed from a stale read is not stored: the concurrent deactivation stands', async () => {
    const email = 'una@acme.example';
    await producer.publish(change('acme', 'tenant.upsert', { display_name: 'Acme' }));
    const created = await producer.publish(user('acme', 'una', { user_name: email }));
    await catchUp(created.sequence);
    // SCIM deactivates the user; this replica has not applied it yet.
    const deactivated = await producer.publish(
      change('acme', 'user.deactivate', { ...user('acme', 'una', { user_name: email }).data, active: false }),
    );
    const set = await tx.set(`${RISC}identifier-recycled`, { format: 'email', email }, {});
    await expect(
      receiver.receive('acme', set, { method: 'push', authorization: `Bearer ${TOKEN}` }),
    ).rejects.toMatchObject({
      code: 'ERR_STREAM_SEQUENCE_CONFLICT',
    });
    const latest = await producer.jsm.streams.getMessage(STATE_STREAM, { last_by_subj: 'ipsie.state.acme.user.una' });
    expect(latest?.seq).toBe(deactivated.sequence);

    // Once the replica has caught up, the same SET (its claim was freed) applies to the current state.
    await catchUp(deactivated.sequence);
    const accepted = await receiver.receive('acme', set, { method: 'push', authorization: `Bearer ${TOKEN}` });
    const released = await producer.jsm.streams.getMessage(STATE_STREAM, { seq: accepted.sequence });
    expect(decodeChange(released?.data ?? new Uint8Array())).toMatchObject({
      kind: 'user.deactivate',
      data: { id: 'una', active: false, user_name: `recycled:una:${email}` },
    });
  });

  it('a complex subject member the transmitter marks critical is refused unless this receiver processes it (SSF §3.6)', async () => {
    const email = 'cris@strict.example';
    await producer.publish(change('strict', 'tenant.upsert', { display_name: 'Strict' }));
    await catchUp((await producer.publish(user('strict', 'cris', { user_name: email }))).sequence);
    const push = { method: 'push', authorization: `Bearer ${TOKEN}` } as const;
    const disable = async (members: Record<string, unknown>): Promise<string> =>
      await strict.set(
        `${RISC}account-disabled`,
        { format: 'complex', user: { format: 'email', email }, ...members },
        {},
      );
    // Members it marks critical that this receiver cannot act on: the event is discarded, not half-applied.
    for (const members of [
      { device: { format: 'ip-addresses', 'ip-addresses': ['198.51.100.7'] } },
      { application: { format: 'opaque', id: 'crm' } },
      // No tenant_subject is configured: the tenant cannot be compared with anything.
      { tenant: { format: 'opaque', id: 'strict-corp' } },
    ]) {
      await expect(
        receiver.receive('strict', await disable(members), push),
        JSON.stringify(members),
      ).rejects.toMatchObject({
        err: 'invalid_request',
        message: expect.stringMatching(/critical/) as unknown,
      });
    }
    // A member that is not critical is passed over; a critical device it can name is processed.
    const accepted = await receiver.receive(
      'strict',
      await disable({ group: { format: 'catalog_item' }, device: { format: 'opaque', id: 'laptop-7' } }),
      push,
    );
    expect(accepted.changes).toBeGreaterThan(0);
  });
});
