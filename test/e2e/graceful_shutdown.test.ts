/**
 * Stopping cleanly loses nothing: Checks in flight are answered, every SCIM
 * write that was acknowledged is on the stream, and a sidecar stopped in the
 * middle of a replay resumes to the same state as one that never stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { EntitlementStore } from '../../src/store/index.js';
import { directory } from '../harness/changes.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { ScimClient } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

let nats: NatsServer;
let producer: TestProducer;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges());
});

afterAll(async () => {
  await producer.close();
  await nats.dispose();
});

describe('graceful shutdown', () => {
  it('a sidecar answers the Checks in flight when it stops, then refuses new ones', async () => {
    const t = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } });
    await t.sidecar.deployPolicy(await examplePolicy('acme'));
    const request = {
      tenant: 'acme',
      subject: { user_id: ACME.people['bob']!.id },
      action: { name: 'write' },
      resource: { type: 'repository' },
      min_sequence: await producer.lastSequence(),
    };
    await t.tcp.check(request);
    // Four callers Check without pause; the sidecar stops under them.
    let stopped = false;
    const outcomes: ({ ok: true; decision: string } | { ok: false; error: string })[] = [];
    const callers = Array.from({ length: 4 }, async () => {
      for (;;) {
        try {
          outcomes.push({ ok: true, decision: (await t.tcp.check(request)).decision });
        } catch (error) {
          outcomes.push({ ok: false, error: String(error) });
          if (stopped) return;
        }
      }
    });
    // Stop under load: once the callers have had plenty answered, not after a guessed pause.
    while (outcomes.filter((o) => o.ok).length < 40) await new Promise((resolve) => setImmediate(resolve));
    stopped = true;
    await t.sidecar.stop();
    await Promise.all(callers);
    const answered = outcomes.filter((o) => o.ok);
    expect(answered.length).toBeGreaterThan(20);
    // Every call the server took is answered, and answered right; the rest are refused as unavailable.
    for (const o of answered) expect(o.decision).toBe('DECISION_ALLOW');
    for (const o of outcomes.filter((x) => !x.ok)) expect(o.error).toMatch(/UNAVAILABLE|CANCELLED|No connection|shut/i);
    t.tcp.close();
    t.uds.close();
  });

  it('every SCIM write acknowledged before the gateway stopped is on the stream', async () => {
    const gw = await startTestGateway(nats.url, { globex: { scim: { bearer_token_sha256: [sha256('g')] } } });
    const scim = new ScimClient(gw.origin, 'globex', 'g');
    let answered = 0;
    const writes = Array.from({ length: 40 }, async (_, i) => {
      const response = await scim.post('/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: `u${i}@globex.example`,
      });
      answered++;
      return response;
    });
    // Stop with writes in flight: once the first is answered, the rest are still on their way.
    while (answered === 0) await new Promise((resolve) => setImmediate(resolve));
    const stopping = gw.stop();
    const results = await Promise.allSettled(writes);
    await stopping;
    const created = results
      .filter((r) => r.status === 'fulfilled' && r.value.status === 201)
      .map((r) =>
        String((r as PromiseFulfilledResult<{ body: Record<string, unknown> | undefined }>).value.body?.['id']),
      );
    expect(created.length).toBeGreaterThan(0);
    // A fresh replica of the stream has every one of them.
    const check = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } });
    try {
      await check.sidecar.ingestor?.waitForSequence(await producer.lastSequence(), 10_000);
      for (const id of created) expect(check.sidecar.store.user('globex', id), id).toBeDefined();
    } finally {
      await check.stop();
    }
  });

  it('a sidecar stopped during a replay resumes to the state of one that never stopped', async () => {
    // Enough that the four fifths left after the barrier outlast the stop's draining of its listeners.
    const changes = directory('initech', 8_000, 10);
    for (let i = 0; i < changes.length; i += 200) {
      await Promise.all(changes.slice(i, i + 200).map(async (c) => await producer.publish(c)));
    }
    const published = await producer.lastSequence();
    const dir = makeTempDir('ipsie-graceful-');
    const storePath = `${dir.path}/resumed.db`;
    const first = await startTestSidecar({
      env: { IPSIE_NATS_URL: nats.url, IPSIE_STORE_PATH: storePath, IPSIE_SYNC_WAIT_MS: '0' },
    });
    // Stopped in the middle of replaying ~16,000 changes: once a fifth are applied (a barrier, not a guessed pause).
    const base = published - changes.length;
    expect(await first.sidecar.ingestor?.waitForSequence(base + Math.floor(changes.length / 5), 10_000)).toBe(true);
    // The ingest first, at the barrier (what it already received is still applied): the sidecar's own stop
    // drains its listeners before its ingest, and a fast machine finishes the replay meanwhile.
    await first.sidecar.ingestor?.stop();
    await first.stop();
    const stoppedAt = EntitlementStore.open(storePath);
    const partial = stoppedAt.appliedSequence();
    stoppedAt.close();
    expect(partial).toBeGreaterThanOrEqual(base + Math.floor(changes.length / 5));
    // What the consumer had already received is applied on stop, and that can be the whole replay: the stream
    // moves on while the sidecar is down, so the resumed one always has changes to catch up on.
    await producer.publishAll(directory('initrode', 100, 2));
    const last = await producer.lastSequence();
    expect(partial).toBeLessThan(last);
    const resumed = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url, IPSIE_STORE_PATH: storePath } });
    const fresh = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } });
    try {
      await resumed.sidecar.ingestor?.waitForSequence(last, 10_000);
      await fresh.sidecar.ingestor?.waitForSequence(last, 10_000);
      expect(resumed.sidecar.store.digest('initech')).toBe(fresh.sidecar.store.digest('initech'));
      expect(resumed.sidecar.store.digest('initrode')).toBe(fresh.sidecar.store.digest('initrode'));
      expect(resumed.sidecar.store.appliedSequence()).toBe(fresh.sidecar.store.appliedSequence());
    } finally {
      await resumed.stop();
      await fresh.stop();
      dir.remove();
    }
  });
});
