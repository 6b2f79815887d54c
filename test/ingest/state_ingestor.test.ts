import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeChange, STATE_STREAM } from '../../src/changes/index.js';
import type { SessionEvent } from '../../src/changes/index.js';
import { StateIngestor } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import type { UserRecord } from '../../src/store/index.js';
import { connectNats, ensureStateStream } from '../../src/stream/index.js';
import { change, directory, session, user } from '../harness/changes.js';
import { capturingLogger } from '../harness/log_capture.js';
import { NatsServer } from '../harness/nats_server.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

let nats: NatsServer;
let producer: TestProducer;
let dir: ReturnType<typeof makeTempDir>;
const running: { ingestor: StateIngestor; store: EntitlementStore }[] = [];

beforeEach(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  dir = makeTempDir();
});

afterEach(async () => {
  for (const r of running.splice(0)) {
    await r.ingestor.stop();
    r.store.close();
  }
  await producer.close();
  await nats.dispose();
  dir.remove();
});

interface TestSidecar {
  readonly ingestor: StateIngestor;
  readonly store: EntitlementStore;
  readonly log: ReturnType<typeof capturingLogger>;
}

/** A store file plus an ingestor consuming into it, as a sidecar has. */
function sidecar(
  name: string,
  options: { staleAfterMs?: number; probeIntervalMs?: number; logger?: ReturnType<typeof capturingLogger> } = {},
): TestSidecar {
  const store = EntitlementStore.open(join(dir.path, `${name}.db`));
  const log = options.logger ?? capturingLogger();
  const ingestor = new StateIngestor({
    store,
    logger: log.logger,
    staleAfterMs: options.staleAfterMs ?? 30_000,
    ...(options.probeIntervalMs === undefined ? {} : { probeIntervalMs: options.probeIntervalMs }),
    connect: async () => await connectNats({ servers: [nats.url], name }, log.logger),
  });
  ingestor.start();
  const handle = { ingestor, store, log };
  running.push(handle);
  return handle;
}

async function stopSidecar(handle: { ingestor: StateIngestor; store: EntitlementStore }): Promise<void> {
  running.splice(running.indexOf(handle), 1);
  await handle.ingestor.stop();
  handle.store.close();
}

const isActive = (store: EntitlementStore, tenant: string, id: string): boolean | undefined =>
  store.readSubject(tenant, { kind: 'user', userId: id }).slice?.user.active;

describe('StateIngestor on a real nats-server -js', () => {
  it('applies published changes in order and records the stream sequence with them', async () => {
    const s = sidecar('a');
    const last = await producer.publishAll(directory('acme', 20, 3));
    expect(await s.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(s.store.appliedSequence()).toBe(last);
    expect(s.store.readSubject('acme', { kind: 'user', userId: 'u4' }).slice?.groups.map((g) => g.id)).toEqual(['g1']);
    const removed = await producer.publish(change('acme', 'member.remove', { group_id: 'g1', user_id: 'u4' }));
    expect(await s.ingestor.waitForSequence(removed.sequence, 10_000)).toBe(true);
    expect(s.store.readSubject('acme', { kind: 'user', userId: 'u4' }).slice?.groups).toEqual([]);
    expect(s.ingestor.status()).toMatchObject({ connected: true, caughtUp: true, pending: 0, stale: false });
  });

  it('a retried publish with the same change id is stored once', async () => {
    const c = user('acme', 'u1');
    const first = await producer.publish(c);
    const again = await producer.publish(c);
    expect(again).toMatchObject({ duplicate: true, sequence: first.sequence });
    expect(await producer.lastSequence()).toBe(first.sequence);
  });

  it('resumes from the stored sequence after a restart, and replays everything into an empty store', async () => {
    const first = sidecar('a');
    const midway = await producer.publishAll(directory('acme', 10, 2));
    await first.ingestor.waitForSequence(midway, 10_000);
    await stopSidecar(first);

    // Changes published while the sidecar is down, including ones that rewrite earlier entities.
    const last = await producer.publishAll([
      user('acme', 'u1', { active: false }),
      change('acme', 'member.remove', { group_id: 'g0', user_id: 'u2' }),
      user('acme', 'u99'),
    ]);
    const { lines, logger } = capturingLogger();
    const resumed = sidecar('a', { logger: { lines, logger } });
    await resumed.ingestor.waitForSequence(last, 10_000);
    expect(lines.find((l) => l['msg'] === 'consuming the state stream')).toMatchObject({ from_sequence: midway + 1 });
    const applied = lines.filter((l) => l['msg'] === 'applied');
    expect(applied.reduce((n, l) => n + (l['applied'] as number), 0)).toBe(3);

    const fresh = sidecar('b');
    await fresh.ingestor.waitForSequence(last, 10_000);
    expect(fresh.store.digest('acme')).toBe(resumed.store.digest('acme'));
    expect(isActive(fresh.store, 'acme', 'u1')).toBe(false);
  });

  it('two sidecars, one live and one started late, end with byte-identical digests', async () => {
    const live = sidecar('live');
    const changes = [
      ...directory('acme', 50, 5),
      ...directory('globex', 30, 3),
      // Rewrites, deletions and re-creations: the compacted stream must still say the same.
      user('acme', 'u3', { active: false }),
      change('acme', 'member.remove', { group_id: 'g3', user_id: 'u3' }),
      change('acme', 'group.delete', { id: 'g4' }),
      change('acme', 'user.delete', { id: 'u7' }),
      user('acme', 'u7', { user_name: 'again@acme.example' }),
      session('acme', 's1', 'u1', { device_id: 'd1' }),
      change('acme', 'posture.set', { kind: 'device', subject_id: 'd1', state: { compliant: true } }),
      change('acme', 'user.sessions_revoke', { user_id: 'u1', before: Math.floor(Date.now() / 1000), reason: 'risk' }),
      change('globex', 'binding.upsert', { issuer: 'https://globex.okta.example', subject: 's-1', user_id: 'u1' }),
      change('globex', 'token.revoke', { jti: 'j-1', user_id: 'u1', revoked_at: 1, expires_at: null }),
    ];
    const last = await producer.publishAll(changes);
    await live.ingestor.waitForSequence(last, 10_000);
    const late = sidecar('late');
    await late.ingestor.waitForSequence(last, 10_000);
    for (const tenant of ['acme', 'globex']) {
      expect(late.store.digest(tenant)).toBe(live.store.digest(tenant));
    }
    expect(late.store.digest('acme')).not.toBe(late.store.digest('globex'));
  });

  it('a session purge on the stream: live and late stores purge alike to one digest, and no live session goes', async () => {
    const live = sidecar('live');
    const now = Math.floor(Date.now() / 1000);
    const sessionIds = (store: EntitlementStore): string[] => store.sessionsOfUser('acme', 'u1').map((s) => s.id);
    const last = await producer.publishAll([
      ...directory('acme', 2, 1),
      session('acme', 'ended-long-ago', 'u1', { expires_at: now - 7200 }),
      session('acme', 'revoked-and-ended', 'u1', {
        expires_at: now - 5000,
        revoked_at: now - 6000,
        revoke_reason: 'r',
      }),
      session('acme', 'ended-lately', 'u1', { expires_at: now - 1000 }),
      session('acme', 'live', 'u1', { expires_at: now + 3600 }),
      session('acme', 'ends-at-cutoff', 'u1', { expires_at: now - 3000 }),
      change('acme', 'sessions.purge', { expired_before: now - 4000 }),
      // Written again after the first purge, still before the second's cutoff: the second purge takes it.
      session('acme', 'ended-long-ago', 'u1', { expires_at: now - 7200, revoked_at: now - 7000, revoke_reason: 'r' }),
      session('acme', 'ended-lately', 'u1', { expires_at: now - 1000, revoked_at: now - 1100, revoke_reason: 'r' }),
      change('acme', 'sessions.purge', { expired_before: now - 3000 }),
    ]);
    expect(await live.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(sessionIds(live.store)).toEqual(['ended-lately', 'ends-at-cutoff', 'live']);
    expect(live.store.sessionsPurgedBefore('acme')).toBe(now - 3000);
    const late = sidecar('late');
    expect(await late.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(sessionIds(late.store)).toEqual(sessionIds(live.store));
    expect(late.store.digest('acme')).toBe(live.store.digest('acme'));
    expect(live.store.readSubject('acme', { kind: 'session', sessionId: 'live' }).slice?.session?.id).toBe('live');
  });

  it('a sid revocation expires from the stream at its TTL: every store forgets it, a late one never sees it', async () => {
    const live = sidecar('live');
    const base = await producer.publishAll(directory('acme', 2, 1));
    await live.ingestor.waitForSequence(base, 10_000);
    const before = live.store.digest('acme');
    const now = Math.floor(Date.now() / 1000);
    const revoked = await producer.publish(
      change('acme', 'sid.revoke', { issuer: null, sid: 'sid-1', revoked_at: now, expires_at: now + 1, reason: 'r' }),
    );
    expect(await live.ingestor.waitForSequence(revoked.sequence, 10_000)).toBe(true);
    expect(live.store.digest('acme')).not.toBe(before);
    const stored = await producer.jsm.streams.getMessage(STATE_STREAM, { seq: revoked.sequence });
    expect(stored?.header.get('Nats-TTL')).toBe('1s');

    // The barrier: the delete marker JetStream appends once the TTL runs out.
    const deadline = Date.now() + 10_000;
    while ((await producer.lastSequence()) === revoked.sequence) {
      if (Date.now() > deadline) throw new Error('no delete marker within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const marker = await producer.lastSequence();
    expect(await live.ingestor.waitForSequence(marker, 10_000)).toBe(true);
    expect(live.store.digest('acme')).toBe(before);
    expect(live.ingestor.status().rejected).toBe(0);
    const late = sidecar('late');
    expect(await late.ingestor.waitForSequence(marker, 10_000)).toBe(true);
    expect(late.store.digest('acme')).toBe(before);
  });

  it('a delete marker on a subject that never expires is rejected, and nothing is deleted', async () => {
    const { lines, logger } = capturingLogger();
    const s = sidecar('a', { logger: { lines, logger } });
    await producer.publish(change('acme', 'tenant.upsert', { display_name: 'Acme' }));
    // Published with a TTL by no producer of ours: the stream still leaves a marker when it runs out.
    const raw = await jetstream(producer.nc).publish('ipsie.state.acme.user.u1', encodeChange(user('acme', 'u1')), {
      ttl: '1s',
    });
    const deadline = Date.now() + 10_000;
    while ((await producer.lastSequence()) === raw.seq) {
      if (Date.now() > deadline) throw new Error('no delete marker within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await s.ingestor.waitForSequence(raw.seq + 1, 10_000)).toBe(true);
    expect(isActive(s.store, 'acme', 'u1')).toBe(true);
    expect(lines.filter((l) => l['msg'] === 'change rejected and skipped').map((l) => l['code'])).toEqual([
      'ERR_CHANGE_SUBJECT_MISMATCH',
    ]);
  });

  it('rejects a malformed message, logs it with its sequence, and applies the rest', async () => {
    const { lines, logger } = capturingLogger();
    const s = sidecar('a', { logger: { lines, logger } });
    await producer.publish(change('acme', 'tenant.upsert', { display_name: 'Acme' }));
    const garbage = await producer.publishRaw('ipsie.state.acme.user.u1', '{"v":1,"kind":');
    const unknownKind = await producer.publishRaw(
      'ipsie.state.acme.user.u2',
      JSON.stringify({ ...user('acme', 'u2'), kind: 'user.promote' }),
    );
    const misplaced = await producer.publishRaw('ipsie.state.acme.user.u3', JSON.stringify(user('acme', 'u4')));
    const last = await producer.publish(user('acme', 'u5'));
    expect(await s.ingestor.waitForSequence(last.sequence, 10_000)).toBe(true);

    expect(isActive(s.store, 'acme', 'u5')).toBe(true);
    for (const id of ['u1', 'u2', 'u3', 'u4']) expect(isActive(s.store, 'acme', id)).toBeUndefined();
    const rejected = lines.filter((l) => l['msg'] === 'change rejected and skipped');
    expect(rejected.map((l) => [l['sequence'], l['code']])).toEqual([
      [garbage, 'ERR_CHANGE_MALFORMED'],
      [unknownKind, 'ERR_CHANGE_KIND_UNKNOWN'],
      [misplaced, 'ERR_CHANGE_SUBJECT_MISMATCH'],
    ]);
    expect(s.ingestor.status().rejected).toBe(3);
  });

  it('loses nothing across a nats-server restart mid-stream', async () => {
    const s = sidecar('a');
    const changes = directory('acme', 300, 10);
    const half = Math.floor(changes.length / 2);
    await producer.publishAll(changes.slice(0, half));
    await nats.restart();
    const last = await producer.publishAll(changes.slice(half));
    expect(await s.ingestor.waitForSequence(last, 20_000)).toBe(true);
    expect(await producer.lastSequence()).toBe(changes.length);
    const replayed = sidecar('replayed');
    await replayed.ingestor.waitForSequence(last, 20_000);
    expect(s.store.digest('acme')).toBe(replayed.store.digest('acme'));
    expect(s.store.readSubject('acme', { kind: 'user', userId: 'u299' }).slice?.groups.map((g) => g.id)).toEqual([
      'g9',
    ]);
  });

  it('turns stale when cut off from NATS longer than the bound, and fresh again on reconnect', async () => {
    let now = Date.now();
    const store = EntitlementStore.open(join(dir.path, 'stale.db'));
    const { logger } = capturingLogger();
    const ingestor = new StateIngestor({
      store,
      logger,
      staleAfterMs: 1_000,
      clock: () => now,
      connect: async () => await connectNats({ servers: [nats.url], name: 'stale' }, logger),
    });
    running.push({ ingestor, store });
    ingestor.start();
    await ingestor.caughtUp();
    expect(ingestor.isStale()).toBe(false);

    await nats.stop();
    await until(() => !ingestor.status().connected);
    now += 999;
    expect(ingestor.isStale()).toBe(false);
    now += 2;
    expect(ingestor.isStale()).toBe(true);

    await nats.restart();
    const published = await producer.publish(user('acme', 'back'));
    expect(await ingestor.waitForSequence(published.sequence, 20_000)).toBe(true);
    expect(ingestor.isStale()).toBe(false);
  });

  it('reports session events after their change is committed', async () => {
    const s = sidecar('a');
    const events: SessionEvent[] = [];
    s.ingestor.onSessionEvent((e) => events.push(e));
    const at = Math.floor(Date.now() / 1000);
    const start = session('acme', 's1', 'u1');
    // One at a time: a lagging consumer sees only each entity's latest state
    // (the stream keeps one message per subject), and so fewer transitions.
    const steps = [
      user('acme', 'u1'),
      start,
      change('acme', 'session.revoke', { ...start.data, revoked_at: at, revoke_reason: 'caep session-revoked' }),
      user('acme', 'u1', { active: false }),
      user('acme', 'u1', { active: false }), // already inactive: no second event
      change('acme', 'user.sessions_revoke', { user_id: 'u1', before: at, reason: 'credential-change' }),
      change('acme', 'user.reauthenticate', { user_id: 'u1', after: at }),
      change('acme', 'user.delete', { id: 'u1' }),
    ];
    for (const step of steps) {
      const { sequence } = await producer.publish(step);
      expect(await s.ingestor.waitForSequence(sequence, 10_000)).toBe(true);
    }
    expect(events.map((e) => [e.kind, e.userId, e.sessionId ?? null])).toEqual([
      ['session_revoked', 'u1', 's1'],
      ['user_deactivated', 'u1', null],
      ['user_sessions_revoked', 'u1', null],
      ['reauthentication_required', 'u1', null],
      ['user_deleted', 'u1', null],
    ]);
    expect(events[0]).toMatchObject({ tenantId: 'acme', reason: 'caep session-revoked' });
  });

  it('a storage failure applies nothing of the batch, and the change is applied once storage recovers', async () => {
    // The batch is on the stream before the consumer starts, so it arrives as one batch: the tenant and u0 are
    // written, then u1 fails. Another connection (what every reader sees) must find none of it committed.
    const last = await producer.publishAll([
      change('acme', 'tenant.upsert', { display_name: 'A' }),
      user('acme', 'u0'),
      user('acme', 'u1'),
    ]);
    const path = join(dir.path, 'flaky.db');
    const store = EntitlementStore.open(path);
    const seenWhenFailing: { users: number; sequence: number }[] = [];
    let failures = 1;
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'upsertUser') {
          return (record: UserRecord): unknown => {
            if (record.id === 'u1' && failures > 0) {
              failures--;
              const reader = new Database(path, { readonly: true });
              seenWhenFailing.push({
                users: (reader.prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n,
                sequence: (
                  reader.prepare("SELECT value FROM store_meta WHERE key = 'applied_sequence'").get() as {
                    value: number;
                  }
                ).value,
              });
              reader.close();
              throw new Error('SQLITE_FULL: database or disk is full');
            }
            target.upsertUser(record);
            return undefined;
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { logger, lines } = capturingLogger();
    const ingestor = new StateIngestor({
      store: flaky,
      logger,
      staleAfterMs: 30_000,
      connect: async () => await connectNats({ servers: [nats.url], name: 'flaky' }, logger),
    });
    running.push({ ingestor, store });
    ingestor.start();
    expect(await ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(seenWhenFailing).toEqual([{ users: 0, sequence: 0 }]);
    expect(isActive(store, 'acme', 'u0')).toBe(true);
    expect(isActive(store, 'acme', 'u1')).toBe(true);
    expect(lines.some((l) => l['msg'] === 'could not apply changes; will retry')).toBe(true);
  });

  it('a Check-style wait for an unreachable sequence times out', async () => {
    const s = sidecar('a');
    await s.ingestor.caughtUp();
    expect(await s.ingestor.waitForSequence(1_000_000, 100)).toBe(false);
  });
});

/** A user no stream ever held. */
const GHOST: UserRecord = {
  tenantId: 'acme',
  id: 'ghost',
  userName: 'ghost@acme.example',
  externalId: undefined,
  active: true,
  attributes: {},
  roles: [],
};

describe('the stream the store materializes', () => {
  const recreateStream = async (): Promise<void> => {
    await producer.jsm.streams.delete('IPSIE_STATE');
    await ensureStateStream(producer.jsm);
  };
  const rebuildLines = (lines: Record<string, unknown>[]): unknown[] =>
    lines
      .filter((l) => l['msg'] === 'the store does not materialize the state stream; rebuilding it')
      .map((l) => l['reason']);

  it('a new store records the stream it materializes; a restart on the same stream resumes without a rebuild', async () => {
    const first = sidecar('a');
    const last = await producer.publishAll(directory('acme', 5, 1));
    expect(await first.ingestor.waitForSequence(last, 10_000)).toBe(true);
    const info = await producer.jsm.streams.info('IPSIE_STATE');
    expect(first.store.streamOrigin()).toEqual({ stream: 'IPSIE_STATE', created: info.created });
    await stopSidecar(first);
    const again = sidecar('a');
    await again.ingestor.caughtUp();
    await until(() => again.log.lines.some((l) => l['msg'] === 'consuming the state stream'));
    expect(rebuildLines(again.log.lines)).toEqual([]);
    expect(again.log.lines.find((l) => l['msg'] === 'consuming the state stream')).toMatchObject({
      from_sequence: last + 1,
    });
  });

  it('a stream recreated with more messages than the store applied is another stream: rebuilt, never resumed', async () => {
    const first = sidecar('a');
    const old = await producer.publishAll(directory('acme', 3, 1));
    expect(await first.ingestor.waitForSequence(old, 10_000)).toBe(true);
    await stopSidecar(first);
    await recreateStream();
    // Past the old end: by sequence alone the store would look merely behind.
    const last = await producer.publishAll(directory('globex', 20, 2));
    const resumed = sidecar('a');
    expect(await resumed.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(rebuildLines(resumed.log.lines)).toEqual(['stream_recreated']);
    expect(resumed.store.tenantIds()).toEqual(['globex']);
    const fresh = sidecar('fresh');
    expect(await fresh.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(resumed.store.digest('globex')).toBe(fresh.store.digest('globex'));
    expect(resumed.ingestor.status().rebuilds).toMatchObject({ stream_recreated: 1, store_ahead: 0 });
  });

  it('the read barrier notices a recreated stream before the probe does, and waits for the rebuild', async () => {
    // The probe timer would take 29 s: only the barrier can notice in time.
    const s = sidecar('replica', { staleAfterMs: 30_000, probeIntervalMs: 29_000 });
    const old = await producer.publishAll(directory('acme', 30, 3));
    expect(await s.ingestor.waitForSequence(old, 10_000)).toBe(true);
    await recreateStream();
    const last = await producer.publishAll([
      change('acme', 'tenant.upsert', { display_name: 'Acme' }),
      user('acme', 'new'),
    ]);
    const position = await s.ingestor.streamPosition();
    expect(position).toBe(last);
    expect(s.ingestor.isStale()).toBe(true);
    expect(await s.ingestor.waitForSequence(position, 10_000)).toBe(true);
    // Answered from the rebuilt store: the old users are gone.
    expect(isActive(s.store, 'acme', 'u1')).toBeUndefined();
    expect(isActive(s.store, 'acme', 'new')).toBe(true);
  });

  it('a store ahead of the stream answers no sequence wait until it is rebuilt', async () => {
    const first = sidecar('a');
    const last = await producer.publishAll(directory('acme', 3, 1));
    expect(await first.ingestor.waitForSequence(last, 10_000)).toBe(true);
    await stopSidecar(first);
    const copied = EntitlementStore.open(join(dir.path, 'a.db'));
    copied.transaction(() => {
      copied.upsertUser(GHOST);
      copied.setAppliedSequence(1_000);
    });
    copied.close();
    const ahead = sidecar('a');
    const reached = await ahead.ingestor.waitForSequence(last, 10_000);
    // Answered only by the rebuilt store.
    expect(reached).toBe(true);
    expect(ahead.ingestor.status().rebuilds.store_ahead).toBe(1);
    expect(isActive(ahead.store, 'acme', 'ghost')).toBeUndefined();
    expect(ahead.store.appliedSequence()).toBe(last);
  });

  it('a store with state but no recorded stream (an older version wrote it) is rebuilt', async () => {
    const last = await producer.publishAll(directory('acme', 3, 1));
    const legacy = EntitlementStore.open(join(dir.path, 'legacy.db'));
    legacy.transaction(() => {
      legacy.upsertTenant({ id: 'acme', displayName: 'stale copy' });
      legacy.setAppliedSequence(1);
    });
    legacy.close();
    const s = sidecar('legacy');
    expect(await s.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(rebuildLines(s.log.lines)).toEqual(['origin_unknown']);
    const fresh = sidecar('fresh');
    expect(await fresh.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(s.store.digest('acme')).toBe(fresh.store.digest('acme'));
  });

  it('rebuild() fails closed at once, keeps nothing of the old state, and resolves once caught up', async () => {
    const s = sidecar('a');
    const last = await producer.publishAll(directory('acme', 10, 2));
    expect(await s.ingestor.waitForSequence(last, 10_000)).toBe(true);
    await until(() => !s.ingestor.isStale());
    // State the stream never held (a corrupt page, a hand edit): a rebuild must not keep it.
    s.store.transaction(() => {
      s.store.upsertUser(GHOST);
    });
    const rebuilt = s.ingestor.rebuild('test: store found corrupt');
    expect(s.ingestor.isStale()).toBe(true);
    // Two callers at once: one rebuild, both told when it is done.
    const again = s.ingestor.rebuild('test: a second report');
    await Promise.all([rebuilt, again]);
    expect(s.ingestor.isStale()).toBe(false);
    expect(isActive(s.store, 'acme', 'ghost')).toBeUndefined();
    const fresh = sidecar('fresh');
    expect(await fresh.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(s.store.digest('acme')).toBe(fresh.store.digest('acme'));
    expect(s.ingestor.status()).toMatchObject({ rebuilding: undefined, rebuilds: { requested: 1 } });
  });

  it('a rebuild whose reset fails (disk full) keeps failing closed and is retried until it succeeds', async () => {
    const last = await producer.publishAll(directory('acme', 5, 1));
    const store = EntitlementStore.open(join(dir.path, 'flaky.db'));
    store.resetTo({ stream: 'IPSIE_STATE', created: (await producer.jsm.streams.info('IPSIE_STATE')).created });
    store.transaction(() => {
      store.upsertTenant({ id: 'acme', displayName: 'Acme' });
      store.upsertUser(GHOST);
      store.setAppliedSequence(1_000); // ahead of the stream
    });
    let failures = 2;
    const flaky = new Proxy(store, {
      get(target, property, receiver) {
        if (property === 'resetTo' && failures > 0) {
          return () => {
            failures--;
            throw new Error('SQLITE_FULL: database or disk is full');
          };
        }
        const value: unknown = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
    const { logger, lines } = capturingLogger();
    const ingestor = new StateIngestor({
      store: flaky,
      logger,
      staleAfterMs: 30_000,
      connect: async () => await connectNats({ servers: [nats.url], name: 'flaky' }, logger),
    });
    running.push({ ingestor, store });
    ingestor.start();
    await until(() => failures === 0);
    // Between failed resets the old store is still there, and still distrusted.
    expect(ingestor.isStale()).toBe(true);
    expect(isActive(store, 'acme', 'ghost')).toBe(true);
    expect(await ingestor.waitForSequence(1, 0)).toBe(false);
    expect(await ingestor.waitForSequence(last, 20_000)).toBe(true);
    expect(isActive(store, 'acme', 'ghost')).toBeUndefined();
    expect(ingestor.status().rebuilds.store_ahead).toBe(1);
    expect(lines.filter((l) => l['msg'] === 'stream consumer stopped; restarting').length).toBeGreaterThanOrEqual(2);
  });

  it('a stream recreated twice under a running consumer ends as a view of the latest one', async () => {
    const s = sidecar('a', { staleAfterMs: 2_000, probeIntervalMs: 100 });
    const first = await producer.publishAll(directory('acme', 50, 5));
    expect(await s.ingestor.waitForSequence(first, 10_000)).toBe(true);
    await recreateStream();
    await producer.publishAll(directory('globex', 300, 5));
    await recreateStream();
    const last = await producer.publishAll(directory('initech', 20, 2));
    await until(() => !s.ingestor.isStale() && s.store.tenantIds().join() === 'initech', 20_000);
    const fresh = sidecar('fresh');
    expect(await fresh.ingestor.waitForSequence(last, 10_000)).toBe(true);
    expect(s.store.digest('initech')).toBe(fresh.store.digest('initech'));
    expect(s.store.appliedSequence()).toBe(last);
    expect(s.ingestor.status().rebuilds.stream_recreated).toBeGreaterThanOrEqual(1);
  });

  it('a rebuild the ingestor is stopped during rejects with ERR_INGEST_STOPPED', async () => {
    await producer.publishAll(directory('acme', 3, 1));
    const s = sidecar('a');
    await s.ingestor.caughtUp();
    await producer.close();
    await nats.stop();
    const rebuilt = s.ingestor.rebuild('test');
    await stopSidecar(s);
    await expect(rebuilt).rejects.toMatchObject({ code: 'ERR_INGEST_STOPPED' });
    await nats.restart();
    producer = await TestProducer.connect(nats.url);
  });
});

describe('staleness is proven by liveness', () => {
  it('is stale from start until it has reached the stream’s end, even while connected', async () => {
    await producer.publishAll(directory('acme', 200, 5));
    const s = sidecar('late');
    expect(s.ingestor.isStale()).toBe(true);
    await s.ingestor.caughtUp();
    expect(s.ingestor.isStale()).toBe(false);
  });

  it('a frozen server (SIGSTOP: the connection stays open) makes it stale within the bound, and fresh once resumed', async () => {
    const s = sidecar('frozen', { staleAfterMs: 1_000, probeIntervalMs: 200 });
    await s.ingestor.caughtUp();
    await until(() => !s.ingestor.isStale());
    const frozenAt = Date.now();
    nats.freeze();
    try {
      await until(() => s.ingestor.isStale(), 5_000);
      expect(Date.now() - frozenAt).toBeLessThanOrEqual(1_000 + 200);
      expect(s.ingestor.status()).toMatchObject({ connected: true, stale: true });
    } finally {
      nats.thaw();
    }
    await until(() => !s.ingestor.isStale(), 10_000);
  });
});

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
