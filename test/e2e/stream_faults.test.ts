/**
 * Staying correct when the infrastructure lies: real nats-server, real
 * sidecar and gateway processes. Each fault must fail closed (Check answers
 * DENY STALE_DATA, /readyz 503) and then converge to the state of a sidecar
 * that never saw the fault (equal store digests).
 */
import { join } from 'node:path';
import type { ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import type { Change } from '../../src/changes/index.js';
import { errorReasonOf } from '../../src/check/index.js';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { StateIngestor } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { connectNats, ensureStateStream } from '../../src/stream/index.js';
import { change, session, user } from '../harness/changes.js';
import { sha256, spawnGatewayProcess } from '../harness/gateway.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { capturingLogger } from '../harness/log_capture.js';
import { NatsServer } from '../harness/nats_server.js';
import { ScimClient } from '../harness/scim_client.js';
import type { ScimResponse } from '../harness/scim_client.js';
import { SidecarProcess } from '../harness/sidecar_process.js';
import type { TestClient } from '../harness/grpc_client.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const STALE_AFTER_MS = 5_000;
/** The default liveness probe interval for that bound (IPSIE_STREAM_PROBE_MS): one heartbeat. */
const PROBE_MS = 2_000;

const bob = ACME.people['bob']!;
const acmeDirectory = (): Change[] => exampleDirectoryChanges().filter((c) => c.tenant === 'acme');
const bobSession = (): Change => session('acme', 's-bob', bob.id);
const revokedBobSession = (): Change => {
  const start = session('acme', 's-bob', bob.id);
  return change('acme', 'session.revoke', {
    ...start.data,
    revoked_at: Math.floor(Date.now() / 1000),
    revoke_reason: 'revoked by a tenant administrator',
  });
};
/** Many distinct entities: a replay of them takes long enough to be frozen in the middle. */
const filler = (count: number): Change[] => Array.from({ length: count }, (_, i) => user('acme', `filler-${i}`));

const writeAs = (subject: { session_id: string } | { user_id: string }, minSequence = 0): CheckRequestMessage => ({
  tenant: 'acme',
  subject,
  action: { name: 'write' },
  resource: { type: 'repository' },
  min_sequence: minSequence,
});

/** A Check's outcome as `DECISION first-reason`, or the error's reason. */
async function ask(client: TestClient, request: CheckRequestMessage): Promise<string> {
  try {
    const response = await client.check(request);
    return `${response.decision} ${response.reasons[0]?.code ?? ''}`;
  } catch (error) {
    return `ERROR ${errorReasonOf(error as ServiceError) ?? String(error)}`;
  }
}

const ALLOW = 'DECISION_ALLOW POLICY_ALLOWED';
const STALE = 'DECISION_DENY STALE_DATA';

/** Asks until `done` says the answer is final; every answer on the way, in order. */
async function askUntil(
  client: TestClient,
  request: CheckRequestMessage,
  done: (answer: string) => boolean,
  timeoutMs = 30_000,
): Promise<string[]> {
  const answers: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await ask(client, request);
    answers.push(answer);
    if (done(answer)) return answers;
    if (Date.now() > deadline) throw new Error(`no final answer in time; saw ${[...new Set(answers)].join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Publishes many changes on distinct subjects, in parallel slices. */
async function publishMany(producer: TestProducer, changes: readonly Change[]): Promise<number> {
  for (let i = 0; i < changes.length; i += 1_000) {
    await Promise.all(changes.slice(i, i + 1_000).map(async (c) => await producer.publish(c)));
  }
  return await producer.lastSequence();
}

/** The digest of a store a sidecar that never faulted builds from the stream as it is now. */
async function referenceDigest(natsUrl: string, last: number): Promise<{ digest: string; sequence: number }> {
  const dir = makeTempDir('ipsie-reference-');
  const store = EntitlementStore.open(join(dir.path, 'reference.db'));
  const { logger } = capturingLogger('info');
  const ingestor = new StateIngestor({
    store,
    logger,
    staleAfterMs: 30_000,
    connect: async () => await connectNats({ servers: [natsUrl], name: 'reference' }, logger),
  });
  ingestor.start();
  try {
    expect(await ingestor.waitForSequence(last, 60_000)).toBe(true);
    return { digest: store.digest('acme'), sequence: store.appliedSequence() };
  } finally {
    await ingestor.stop();
    store.close();
    dir.remove();
  }
}

/** What the sidecar process's store holds now (read from its SQLite file, beside the running process). */
function storeState(path: string): { digest: string; sequence: number } {
  const store = EntitlementStore.open(path);
  try {
    return { digest: store.digest('acme'), sequence: store.appliedSequence() };
  } finally {
    store.close();
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startNats(): Promise<{ nats: NatsServer; producer: TestProducer }> {
  const nats = await NatsServer.start();
  const producer = await TestProducer.connect(nats.url);
  cleanups.push(async () => {
    await producer.close();
    await nats.dispose();
  });
  return { nats, producer };
}

async function startSidecar(
  natsUrl: string,
  options: { storePath?: string; env?: Record<string, string> } = {},
): Promise<SidecarProcess> {
  const sidecar = await SidecarProcess.spawn({
    natsUrl,
    ...(options.storePath === undefined ? {} : { storePath: options.storePath }),
    env: { IPSIE_STALE_AFTER_MS: String(STALE_AFTER_MS), ...options.env },
  });
  cleanups.push(async () => {
    await sidecar.stop();
  });
  return sidecar;
}

const rebuildLogged =
  (reason: string) =>
  (line: Record<string, unknown>): boolean =>
    line['msg'] === 'the store does not materialize the state stream; rebuilding it' && line['reason'] === reason;

describe('the stream deleted and recreated (JetStream store wiped)', () => {
  it('a running sidecar fails closed, rebuilds from the new stream, and never allows from its old store', async () => {
    const { nats, producer } = await startNats();
    // The old stream is longer than the new one will be: its sequences are all ahead.
    await publishMany(producer, [...acmeDirectory(), bobSession(), ...filler(200)]);
    const sidecar = await startSidecar(nats.url);
    const asBob = writeAs({ session_id: 's-bob' });
    expect(await ask(sidecar.client, asBob)).toBe(ALLOW);
    expect((await sidecar.readyz()).status).toBe(200);

    await producer.jsm.streams.delete('IPSIE_STATE');
    // Nothing to materialize: the store cannot be shown current.
    await eventually(async () => ((await sidecar.readyz()).status === 503 ? true : undefined));
    expect(await ask(sidecar.client, asBob)).toBe(STALE);

    // A gateway recreates the stream from sequence 1; the IdP provisions again, and bob's session is revoked.
    await ensureStateStream(producer.jsm);
    await producer.publishAll([...acmeDirectory(), bobSession()]);
    const revoked = (await producer.publish(revokedBobSession())).sequence;
    expect(revoked).toBeLessThan(50);

    const answers = await askUntil(sidecar.client, writeAs({ session_id: 's-bob' }, revoked), (a) =>
      a.endsWith('SESSION_REVOKED'),
    );
    expect(answers.filter((a) => a.startsWith('DECISION_ALLOW'))).toEqual([]);
    expect(answers.at(-1)).toBe('DECISION_DENY SESSION_REVOKED');
    await eventually(async () => ((await sidecar.readyz()).status === 200 ? true : undefined));
    expect(await sidecar.waitForLog(rebuildLogged('stream_recreated'), 1_000)).toMatchObject({ level: 50 });
    expect(await sidecar.metrics()).toMatch(/ipsie_store_rebuilds_total\{reason="stream_recreated"\} 1\b/);

    const last = await producer.lastSequence();
    await sidecar.waitForLog((l) => l['msg'] === 'applied' && l['last_sequence'] === last, 10_000);
    expect(storeState(sidecar.storePath)).toEqual(await referenceDigest(nats.url, last));
  }, 120_000);

  it('a gateway answers SCIM from the new stream (503 while it rebuilds), never 404/412 from its old replica', async () => {
    const { nats, producer } = await startNats();
    const gateway: GatewayProcess = await spawnGatewayProcess(nats.url, {
      acme: { display_name: 'Acme', scim: { bearer_token_sha256: [sha256('scim')] } },
    });
    cleanups.push(async () => {
      await gateway.stop();
    });
    const scim = new ScimClient(gateway.origin, 'acme', 'scim');
    const create = async (userName: string): Promise<ScimResponse> =>
      await scim.post('/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName });
    const alice = await create('alice@acme.example');
    expect(alice.status).toBe(201);
    for (let i = 0; i < 20; i++) expect((await create(`old-${i}@acme.example`)).status).toBe(201);

    await producer.jsm.streams.delete('IPSIE_STATE');
    await eventually(async () => ((await fetch(`${gateway.origin}/readyz`)).status === 503 ? true : undefined));
    await ensureStateStream(producer.jsm);

    // The IdP keeps provisioning: every answer is 503 until the replica is rebuilt, then the real one.
    const statuses: number[] = [];
    const carol = await eventually(async () => {
      const response = await create('carol@acme.example');
      statuses.push(response.status);
      return response.status === 503 ? undefined : response;
    });
    expect(new Set(statuses.slice(0, -1))).toEqual(new Set(statuses.length > 1 ? [503] : []));
    expect(carol.status).toBe(201);
    const carolId = carol.body?.['id'] as string;
    const read = await scim.get(`/Users/${carolId}`);
    expect(read.status).toBe(200);
    const etag = read.headers.get('etag') ?? '';
    const patched = await scim.patch(`/Users/${carolId}`, [{ op: 'replace', path: 'title', value: 'CFO' }], {
      'if-match': etag,
    });
    expect(patched.status).toBe(200);
    // alice lived only in the old stream.
    expect((await scim.get(`/Users/${String(alice.body?.['id'])}`)).status).toBe(404);
    expect((await fetch(`${gateway.origin}/readyz`)).status).toBe(200);
  }, 120_000);
});

describe('a store ahead of the stream (copied store, restored backup)', () => {
  it('fails closed, rebuilds from sequence 1 and applies what its sequence hid', async () => {
    const { nats, producer } = await startNats();
    await publishMany(producer, [...acmeDirectory(), bobSession()]);
    const dir = makeTempDir('ipsie-ahead-');
    cleanups.push(() => {
      dir.remove();
      return Promise.resolve();
    });
    const storePath = join(dir.path, 'sidecar.db');
    const first = await startSidecar(nats.url, { storePath });
    expect(await ask(first.client, writeAs({ session_id: 's-bob' }))).toBe(ALLOW);
    const caughtUpAt = await producer.lastSequence();
    expect(await first.stop()).toBe(0);
    // The store comes back claiming far more than the stream holds.
    const copied = EntitlementStore.open(storePath);
    copied.transaction(() => {
      copied.setAppliedSequence(caughtUpAt + 100_000);
    });
    copied.close();
    // Sequences the stored one hides: the revocation, and enough more that a replay can be caught midway.
    const revoked = (await producer.publish(revokedBobSession())).sequence;
    const last = await publishMany(producer, filler(30_000));

    const second = await startSidecar(nats.url, { storePath, env: { IPSIE_SYNC_WAIT_MS: '0' } });
    await second.waitForLog(rebuildLogged('store_ahead'), 20_000);
    nats.freeze();
    try {
      expect(storeState(storePath).sequence).toBeLessThan(last); // frozen mid-rebuild
      expect(await ask(second.client, writeAs({ session_id: 's-bob' }))).toBe(STALE);
      expect((await second.readyz()).status).toBe(503);
    } finally {
      nats.thaw();
    }
    const answers = await askUntil(second.client, writeAs({ session_id: 's-bob' }, revoked), (a) =>
      a.endsWith('SESSION_REVOKED'),
    );
    expect(answers.filter((a) => a.startsWith('DECISION_ALLOW'))).toEqual([]);
    await second.waitForLog((l) => l['msg'] === 'applied' && l['last_sequence'] === last, 30_000);
    await eventually(async () => ((await second.readyz()).status === 200 ? true : undefined));
    expect(await second.metrics()).toMatch(/ipsie_store_rebuilds_total\{reason="store_ahead"\} 1\b/);
    expect(storeState(storePath)).toEqual(await referenceDigest(nats.url, last));
  }, 180_000);
});

describe('start-up before catching up', () => {
  it('a sidecar serving before it reached the stream’s end answers STALE_DATA and is not ready', async () => {
    const { nats, producer } = await startNats();
    await publishMany(producer, [...acmeDirectory(), ...filler(30_000)]);
    // Disabled at the very end: a half-replayed store still has bob active.
    const last = (
      await producer.publish(
        user('acme', bob.id, {
          user_name: bob.userName,
          external_id: 'bob',
          attributes: bob.attributes,
          active: false,
        }),
      )
    ).sequence;

    const sidecar = await startSidecar(nats.url, { env: { IPSIE_SYNC_WAIT_MS: '0' } });
    await sidecar.waitForLog((l) => l['msg'] === 'applied', 30_000);
    nats.freeze();
    try {
      expect(storeState(sidecar.storePath).sequence).toBeLessThan(last); // frozen mid-replay
      expect(await ask(sidecar.client, writeAs({ user_id: bob.id }))).toBe(STALE);
      expect((await sidecar.readyz()).status).toBe(503);
    } finally {
      nats.thaw();
    }
    const answers = await askUntil(sidecar.client, writeAs({ user_id: bob.id }), (a) => a.endsWith('ACCOUNT_INACTIVE'));
    expect(answers.filter((a) => a.startsWith('DECISION_ALLOW'))).toEqual([]);
    await eventually(async () => ((await sidecar.readyz()).status === 200 ? true : undefined));
    expect(storeState(sidecar.storePath)).toEqual(await referenceDigest(nats.url, last));
  }, 180_000);
});

describe('NATS frozen, not closed (SIGSTOP)', () => {
  it('turns STALE within the staleness bound plus one heartbeat, and converges once NATS resumes', async () => {
    const { nats, producer } = await startNats();
    await publishMany(producer, [...acmeDirectory(), bobSession()]);
    const sidecar = await startSidecar(nats.url);
    const asBob = writeAs({ session_id: 's-bob' });
    expect(await ask(sidecar.client, asBob)).toBe(ALLOW);
    expect((await sidecar.readyz()).status).toBe(200);

    const frozenAt = Date.now();
    nats.freeze();
    let staleAfter: number;
    try {
      const answers = await askUntil(sidecar.client, asBob, (a) => a === STALE, STALE_AFTER_MS + PROBE_MS);
      staleAfter = Date.now() - frozenAt;
      expect(new Set(answers)).toEqual(new Set([ALLOW, STALE]));
      expect((await sidecar.readyz()).status).toBe(503);
    } finally {
      nats.thaw();
    }
    expect(staleAfter).toBeLessThanOrEqual(STALE_AFTER_MS + PROBE_MS);

    const revoked = (await producer.publish(revokedBobSession())).sequence;
    const answers = await askUntil(sidecar.client, writeAs({ session_id: 's-bob' }, revoked), (a) =>
      a.endsWith('SESSION_REVOKED'),
    );
    expect(answers.filter((a) => a.startsWith('DECISION_ALLOW'))).toEqual([]);
    await eventually(async () => ((await sidecar.readyz()).status === 200 ? true : undefined));
    expect(storeState(sidecar.storePath)).toEqual(await referenceDigest(nats.url, revoked));
  }, 120_000);
});
