/**
 * The gateway's session purger against a real nats-server: the cutoff on the
 * stream only ever rises, so a store that replays the compacted stream purges
 * what one that saw every purge did.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subjectOf } from '../../src/changes/index.js';
import { SessionPurger } from '../../src/roles/session_purger.js';
import { ChangeReader } from '../../src/stream/index.js';
import { change } from '../harness/changes.js';
import { capturingLogger } from '../harness/log_capture.js';
import { NatsServer } from '../harness/nats_server.js';
import { TestProducer } from '../harness/stream.js';

let nats: NatsServer;
let producer: TestProducer;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
});

afterAll(async () => {
  await producer.close();
  await nats.stop();
});

/** A gateway's purger with its own clock. */
function gateway(tenants: readonly string[], clock: () => number): SessionPurger {
  return new SessionPurger({
    tenants,
    changes: producer.publisher,
    stream: new ChangeReader(producer.jsm),
    intervalMs: 0,
    graceS: 600,
    logger: capturingLogger().logger,
    clock,
  });
}

/** The cutoff the stream keeps for `tenant` (its latest purge). */
async function cutoffOnStream(tenant: string): Promise<number | undefined> {
  const subject = subjectOf(change(tenant, 'sessions.purge', { expired_before: 0 }));
  const stored = await new ChangeReader(producer.jsm).latest(subject);
  return stored?.change.kind === 'sessions.purge' ? stored.change.data.expired_before : undefined;
}

describe('SessionPurger', () => {
  it("publishes each tenant's purge with a cutoff a grace period back, and never a lower cutoff than the last", async () => {
    let now = 10_000;
    const purger = gateway(['acme', 'globex'], () => now);
    await purger.purge();
    expect([await cutoffOnStream('acme'), await cutoffOnStream('globex')]).toEqual([9_400, 9_400]);
    const last = await producer.lastSequence();
    // The clock went back: nothing lower is published.
    now = 9_000;
    await purger.purge();
    expect(await producer.lastSequence()).toBe(last);
    now = 11_000;
    await purger.purge();
    expect([await cutoffOnStream('acme'), await cutoffOnStream('globex')]).toEqual([10_400, 10_400]);
  });

  it("two gateways with clocks apart, neither replica having seen the other's purge, never lower the cutoff on the stream", async () => {
    const ahead = gateway(['initech'], () => 50_000);
    const behind = gateway(['initech'], () => 40_000);
    await ahead.purge();
    await behind.purge();
    // The stream keeps one purge per tenant: a lower one would make a replay keep sessions a live store purged.
    expect(await cutoffOnStream('initech')).toBe(49_400);
    // The one behind catches up later and purges further.
    const caughtUp = gateway(['initech'], () => 60_000);
    await caughtUp.purge();
    expect(await cutoffOnStream('initech')).toBe(59_400);
  });

  it('two gateways purging at once: one purge is stored, the other yields to it without an error', async () => {
    const one = gateway(['umbrella'], () => 70_000);
    const other = gateway(['umbrella'], () => 69_000);
    const last = await producer.lastSequence();
    // Both read the subject empty before either publishes: the second to store finds it taken.
    await Promise.all([one.purge(), other.purge()]);
    expect(await producer.lastSequence()).toBe(last + 1);
    expect([69_400, 68_400]).toContain(await cutoffOnStream('umbrella'));
  });
});
