import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges, exampleGroupId, GLOBEX } from '../../demo/example_directory.js';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { change, session } from '../harness/changes.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

let nats: NatsServer;
let producer: TestProducer;
let t: TestSidecar;

const bob = ACME.people['bob']!;
const carol = ACME.people['carol']!;
const alice = ACME.people['alice']!;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges());
  t = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url, IPSIE_MIN_SEQUENCE_WAIT_MS: '500' } });
  await t.sidecar.deployPolicy(await examplePolicy('acme'));
  await t.sidecar.deployPolicy(await examplePolicy('globex'));
});

afterAll(async () => {
  await t.stop();
  await producer.close();
  await nats.dispose();
});

const payInvoice = (userId: string, minSequence = 0): CheckRequestMessage => ({
  tenant: 'acme',
  subject: { user_id: userId },
  action: { name: 'pay' },
  resource: { type: 'invoice', id: 'inv-1' },
  min_sequence: minSequence,
});

describe('Check over a store fed by JetStream', () => {
  it('serves only after catching up with the stream it found at start', async () => {
    const response = await t.tcp.check({
      tenant: 'globex',
      subject: { user_id: GLOBEX.people['erin']!.id },
      action: { name: 'read' },
      resource: { type: 'document' },
    });
    expect(response.decision).toBe('DECISION_DENY');
    expect(Number(response.sequence)).toBe(await producer.lastSequence());
  });

  it('a membership change published to the stream changes the next Check', async () => {
    expect((await t.tcp.check(payInvoice(bob.id))).decision).toBe('DECISION_DENY');
    const added = await producer.publish(
      change('acme', 'member.add', { group_id: exampleGroupId(ACME, 'Finance'), user_id: bob.id }),
    );
    // Read-after-write: min_sequence makes the sidecar wait for the change.
    const allowed = await t.tcp.check(payInvoice(bob.id, added.sequence));
    expect(allowed.decision).toBe('DECISION_STEP_UP'); // pay needs phishing-resistant MFA
    expect(allowed.reasons.map((r) => r.code)).toEqual(['AUTHENTICATION_REQUIRED']);
    expect(Number(allowed.sequence)).toBeGreaterThanOrEqual(added.sequence);

    const removed = await producer.publish(
      change('acme', 'member.remove', { group_id: exampleGroupId(ACME, 'Finance'), user_id: bob.id }),
    );
    const denied = await t.uds.check(payInvoice(bob.id, removed.sequence));
    expect(denied.decision).toBe('DECISION_DENY');
    expect(denied.reasons.map((r) => r.code)).toEqual(['POLICY_DENIED']);
  });

  it('a min_sequence the stream never reaches fails with FAILED_PRECONDITION within the bound', async () => {
    const started = Date.now();
    const failure = await t.tcp.failure(t.tcp.check(payInvoice(bob.id, 1_000_000)));
    expect(failure).toMatchObject({ code: status.FAILED_PRECONDITION, reason: 'SEQUENCE_NOT_REACHED' });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('WatchSessions tells the app about a revoked session and a deactivated user, for its tenant only', async () => {
    const acmeWatch = t.uds.watch({ tenant: 'acme' });
    const carolOnly = t.tcp.watch({ tenant: 'acme', user_ids: [carol.id] });
    const globexWatch = t.tcp.watch({ tenant: 'globex' });
    await Promise.all([acmeWatch.ready, carolOnly.ready, globexWatch.ready]);

    const start = session('acme', 'sess-alice-1', alice.id);
    await producer.publish(start);
    const revoke = await producer.publish(
      change('acme', 'session.revoke', {
        ...start.data,
        revoked_at: Math.floor(Date.now() / 1000),
        revoke_reason: 'CAEP session-revoked',
      }),
    );
    expect(await acmeWatch.next()).toMatchObject({
      kind: 'SESSION_EVENT_KIND_SESSION_REVOKED',
      tenant: 'acme',
      user_id: alice.id,
      session_id: 'sess-alice-1',
      reason: 'CAEP session-revoked',
      sequence: String(revoke.sequence),
    });

    const deactivate = await producer.publish(
      change('acme', 'user.deactivate', {
        id: carol.id,
        user_name: carol.userName,
        external_id: 'carol',
        active: false,
        attributes: carol.attributes,
        roles: [],
      }),
    );
    const expected = {
      kind: 'SESSION_EVENT_KIND_USER_DEACTIVATED',
      user_id: carol.id,
      sequence: String(deactivate.sequence),
    };
    expect(await acmeWatch.next()).toMatchObject(expected);
    expect(await carolOnly.next()).toMatchObject(expected);
    // The event's sequence is a min_sequence that sees the deactivation.
    const denied = await t.tcp.check(payInvoice(carol.id, deactivate.sequence));
    expect(denied.reasons.map((r) => r.code)).toEqual(['ACCOUNT_INACTIVE']);

    expect(carolOnly.events).toHaveLength(1); // alice's revocation was filtered out
    expect(globexWatch.events).toHaveLength(0);
    for (const w of [acmeWatch, carolOnly, globexWatch]) w.cancel();
  });

  it('WatchSessions refuses an unknown tenant and a malformed one', async () => {
    expect(await t.tcp.watch({ tenant: 'initech' }).ended).toMatchObject({
      code: status.NOT_FOUND,
      reason: 'TENANT_UNKNOWN',
    });
    expect(await t.tcp.watch({ tenant: '' }).ended).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'TENANT_MISSING',
    });
  });
});

describe('a sidecar cut off from NATS', () => {
  it('fails closed with STALE_DATA after the staleness bound, and recovers when NATS is back', async () => {
    const own = await NatsServer.start();
    const ownProducer = await TestProducer.connect(own.url);
    await ownProducer.publishAll(exampleDirectoryChanges());
    const s = await startTestSidecar({ env: { IPSIE_NATS_URL: own.url, IPSIE_STALE_AFTER_MS: '400' } });
    try {
      await s.sidecar.deployPolicy(await examplePolicy('acme'));
      const request: CheckRequestMessage = {
        tenant: 'acme',
        subject: { user_id: bob.id },
        action: { name: 'write' },
        resource: { type: 'repository' },
      };
      expect((await s.tcp.check(request)).decision).toBe('DECISION_ALLOW');
      await own.stop();
      const stale = await eventually(async () => {
        const r = await s.tcp.check(request);
        return r.reasons[0]?.code === 'STALE_DATA' ? r : undefined;
      });
      expect(stale.decision).toBe('DECISION_DENY');
      await own.restart();
      const fresh = await eventually(async () => {
        const r = await s.tcp.check(request);
        return r.decision === 'DECISION_ALLOW' ? r : undefined;
      }, 20_000);
      expect(fresh.reasons.map((r) => r.code)).toEqual(['POLICY_ALLOWED']);
    } finally {
      await s.stop();
      await ownProducer.close();
      await own.dispose();
    }
  });

  it('a standalone sidecar has no session events to watch', async () => {
    const standalone = await startTestSidecar();
    try {
      expect(await standalone.tcp.watch({ tenant: 'acme' }).ended).toMatchObject({
        code: status.UNAVAILABLE,
        reason: 'SESSION_EVENTS_UNAVAILABLE',
      });
    } finally {
      await standalone.stop();
    }
  });
});

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
