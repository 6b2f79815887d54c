/**
 * Sign-in on a replica that is not current: a real sidecar replaying a real
 * nats-server's stream, frozen (SIGSTOP) mid-replay or raced while it
 * catches up. A sign-in links, finds or JIT-provisions users from the store:
 * on a partial store it would start sessions the stream forbids.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { ensureAuditStream } from '../../src/audit/index.js';
import type { Change } from '../../src/changes/index.js';
import { change, user } from '../harness/changes.js';
import { FakeIdp } from '../harness/fake_idp.js';
import type { TestClient } from '../harness/grpc_client.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const bob = ACME.people['bob']!;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function eventually<T>(probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A stream whose last changes matter to sign-in: bob (bound to the IdP) is deactivated and zoe is provisioned
 * by SCIM at globex (where sign-in provisions users) only after 30,000 other changes, so a replica replaying it
 * holds bob active and no zoe for a while. Returns the last sequence.
 */
async function streamWithLateChanges(idp: FakeIdp): Promise<{ nats: NatsServer; last: number }> {
  const nats = await NatsServer.start();
  const producer = await TestProducer.connect(nats.url);
  cleanups.push(async () => {
    await producer.close();
    await nats.dispose();
  });
  await ensureAuditStream(producer.jsm);
  await producer.publishAll([
    ...exampleDirectoryChanges(),
    change('acme', 'binding.upsert', { issuer: idp.issuer, subject: 'sub-bob', user_id: bob.id }),
  ]);
  const filler: Change[] = Array.from({ length: 30_000 }, (_, i) => user('acme', `filler-${i}`));
  for (let i = 0; i < filler.length; i += 1_000) {
    await Promise.all(filler.slice(i, i + 1_000).map(async (c) => await producer.publish(c)));
  }
  await producer.publish(
    user('acme', bob.id, { user_name: bob.userName, external_id: 'bob', attributes: bob.attributes, active: false }),
  );
  const last = (await producer.publish(user('globex', 'zoe-scim', { user_name: 'zoe@globex.example' }))).sequence;
  return { nats, last };
}

async function sidecarOn(nats: NatsServer, idp: FakeIdp): Promise<TestSidecar> {
  const t = await startTestSidecar({
    // Serve at once, before catching up: the window these tests are about.
    env: { IPSIE_NATS_URL: nats.url, IPSIE_SYNC_WAIT_MS: '0' },
    tenants: {
      acme: { idps: [{ issuer: idp.issuer, client_id: 'acme-app', jwks_uri: idp.jwksUri }] },
      globex: {
        idps: [{ issuer: idp.issuer, client_id: 'globex-app', jwks_uri: idp.jwksUri }],
        jit_provisioning: true,
      },
    },
  });
  cleanups.push(async () => {
    await t.stop();
  });
  return t;
}

/** bob signing in at acme, zoe at globex (a verified e-mail, where JIT provisioning would use it). */
async function signInOf(
  idp: FakeIdp,
  who: 'bob' | 'zoe',
): Promise<{ tenant: string; id_token: string; nonce: string }> {
  const nonce = randomUUID();
  const [tenant, sub, audience, claims] =
    who === 'bob'
      ? ['acme', 'sub-bob', 'acme-app', {}]
      : ['globex', 'sub-zoe', 'globex-app', { email: 'zoe@globex.example', email_verified: true }];
  return { tenant, id_token: await idp.idToken(sub, audience, { nonce, ...claims }), nonce };
}

/** `started`, or the reason the sign-in was refused. */
async function outcome(client: TestClient, request: Parameters<TestClient['startSession']>[0]): Promise<string> {
  const call = client.startSession(request, { deadlineMs: 15_000 });
  try {
    await call;
    return 'started';
  } catch {
    const { reason, code } = await client.failure(call);
    return reason ?? `status ${code}`;
  }
}

describe('StartSession on a replica that is not current', () => {
  it('frozen mid-replay, a sign-in answers SIGNIN_UNAVAILABLE at once; caught up, it sees the deactivation', async () => {
    const idp = await FakeIdp.start();
    cleanups.push(async () => {
      await idp.stop();
    });
    const { nats, last } = await streamWithLateChanges(idp);
    const t = await sidecarOn(nats, idp);
    await eventually(() => (t.sidecar.store.appliedSequence() > 0 ? true : undefined));
    nats.freeze();
    try {
      expect(t.sidecar.store.appliedSequence()).toBeLessThan(last); // frozen mid-replay: bob still active here
      const refused = await t.tcp.failure(t.tcp.startSession(await signInOf(idp, 'bob'), { deadlineMs: 10_000 }));
      expect(refused).toMatchObject({ code: status.UNAVAILABLE, reason: 'SIGNIN_UNAVAILABLE' });
    } finally {
      nats.thaw();
    }
    const ingestor = t.sidecar.ingestor;
    await eventually(() => (ingestor !== undefined && !ingestor.isStale() ? true : undefined));
    expect(t.sidecar.store.appliedSequence()).toBeGreaterThanOrEqual(last);
    expect(await t.tcp.failure(t.tcp.startSession(await signInOf(idp, 'bob')))).toMatchObject({
      code: status.PERMISSION_DENIED,
      reason: 'ACCOUNT_INACTIVE',
    });
  }, 180_000);

  it('sign-ins racing the replay never start a session, nor JIT-provision a name, the stream forbids', async () => {
    const idp = await FakeIdp.start();
    cleanups.push(async () => {
      await idp.stop();
    });
    const { nats } = await streamWithLateChanges(idp);
    const t = await sidecarOn(nats, idp);
    const answers = { bob: [] as string[], zoe: [] as string[] };
    const final = { bob: 'ACCOUNT_INACTIVE', zoe: 'USER_NOT_PROVISIONED' } as const;
    const deadline = Date.now() + 120_000;
    const started = (): boolean => answers.bob.includes('started') || answers.zoe.includes('started');
    while ((answers.bob.at(-1) !== final.bob || answers.zoe.at(-1) !== final.zoe) && !started()) {
      if (Date.now() > deadline) throw new Error(`no final answers in time: ${JSON.stringify(answers)}`);
      const [forBob, forZoe] = await Promise.all([
        outcome(t.tcp, await signInOf(idp, 'bob')),
        outcome(t.tcp, await signInOf(idp, 'zoe')),
      ]);
      answers.bob.push(forBob);
      answers.zoe.push(forZoe);
    }
    expect(new Set(answers.bob)).toEqual(new Set(['SIGNIN_UNAVAILABLE', final.bob]));
    expect(new Set(answers.zoe)).toEqual(new Set(['SIGNIN_UNAVAILABLE', final.zoe]));
    // Nothing was provisioned at globex beside the SCIM user: zoe has one userName, once.
    expect(t.sidecar.store.userIdsByUserName('globex', 'zoe@globex.example')).toEqual(['zoe-scim']);
  }, 180_000);
});
