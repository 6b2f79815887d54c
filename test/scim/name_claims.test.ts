/**
 * Name claims on a real JetStream KV bucket and the real state stream: the
 * crash and partial-failure cases a gateway replica can leave behind.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { subjectOf } from '../../src/changes/index.js';
import type { Change } from '../../src/changes/index.js';
import { claimKey, foldName, NAME_CLAIMS_BUCKET, NameClaims } from '../../src/scim/index.js';
import type { ScimError } from '../../src/scim/index.js';
import {
  ChangePublisher,
  ChangeReader,
  ensureStateStream,
  KvRegister,
  SequenceConflictError,
} from '../../src/stream/index.js';
import { TenantCipher } from '../../src/tenant_keys/index.js';
import { change } from '../harness/changes.js';
import { capturingLogger } from '../harness/log_capture.js';
import { NatsServer } from '../harness/nats_server.js';

const PENDING_MS = 30_000;

let nats: NatsServer;
/** Two connections: two gateway replicas. */
let connections: NatsConnection[];
let publisher: ChangePublisher;
let reader: ChangeReader;
let register: KvRegister;
let logged: Record<string, unknown>[];
/** Added to the real clock: how far past a claim's store time the replica believes it is. */
let skewMs = 0;
let replicas: NameClaims[];
/** A tenant of its own per test, so the tests share the bucket without sharing names. */
let tenant: string;

beforeAll(async () => {
  nats = await NatsServer.start();
  connections = await Promise.all([connect({ servers: nats.url }), connect({ servers: nats.url })]);
  const jsm = await jetstreamManager(connections[0]!);
  await ensureStateStream(jsm);
  publisher = new ChangePublisher(jetstream(connections[0]!));
  reader = new ChangeReader(jsm);
  const captured = capturingLogger('info');
  logged = captured.lines;
  replicas = await Promise.all(
    connections.map(async (nc) => {
      const js = jetstream(nc);
      return new NameClaims({
        register: await KvRegister.open(nc, { bucket: NAME_CLAIMS_BUCKET, description: 'test' }),
        log: new ChangeReader(await jetstreamManager(nc)),
        changes: new ChangePublisher(js),
        logger: captured.logger,
        pendingMs: PENDING_MS,
        clock: () => Date.now() + skewMs,
      });
    }),
  );
  register = await KvRegister.open(connections[0]!, { bucket: NAME_CLAIMS_BUCKET, description: 'test' });
});

afterAll(async () => {
  await Promise.all(
    connections.map(async (nc) => {
      await nc.close();
    }),
  );
  await nats.dispose();
});

beforeEach(() => {
  skewMs = 0;
  tenant = `t${randomUUID().replaceAll('-', '').slice(0, 12)}`;
});

const [a, b] = [(): NameClaims => replicas[0]!, (): NameClaims => replicas[1]!];

function userUpsert(id: string, userName: string, active = true): Change {
  return change(tenant, 'user.upsert', {
    id,
    user_name: userName,
    external_id: null,
    active,
    attributes: {},
    roles: [],
  });
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return (error as ScimError).code;
  }
}

describe('foldName and claimKey', () => {
  it('folds case across Unicode and normalizes to NFC', () => {
    expect(foldName('ÉMILE')).toBe(foldName('e\u0301mile'));
    expect(foldName('Straße')).toBe(foldName('STRASSE'));
    expect(foldName('ΣΊΣΥΦΟΣ')).toBe(foldName('σίσυφος'));
    expect(foldName('alice')).not.toBe(foldName('alicé'));
  });

  it('keys any name (dots, spaces, emoji, 4096 characters) as a valid KV key per tenant and kind', async () => {
    const names = ['a.b c', '😀@acme.example', 'x'.repeat(4096), '*', '>'];
    for (const name of names) {
      expect(claimKey('acme', 'User', name)).toMatch(/^acme\.user\.[A-Za-z0-9_-]{43}$/);
      expect(
        await a()
          .claim(tenant, 'User', name, randomUUID(), 0)
          .then(() => 'ok'),
      ).toBe('ok');
    }
    expect(claimKey('acme', 'User', 'x')).not.toBe(claimKey('acme', 'Group', 'x'));
    expect(claimKey('acme', 'User', 'x')).not.toBe(claimKey('globex', 'User', 'x'));
  });
});

describe('NameClaims', () => {
  it('a claim whose create never reached the stream blocks the name only until it is fenced', async () => {
    const crashed = randomUUID();
    await a().claim(tenant, 'User', 'ghost@acme.example', crashed, 0);
    // Replica A "crashes" here: nothing published, nothing released.
    const next = randomUUID();
    expect(await codeOf(b().claim(tenant, 'User', 'GHOST@acme.example', next, 0))).toBe('ERR_SCIM_UNIQUENESS');

    skewMs = PENDING_MS + 1_000;
    await b().claim(tenant, 'User', 'GHOST@acme.example', next, 0);
    // The fence: a tombstone on the crashed owner's subject, so its write can never land late.
    const fenced = await reader.latest(subjectOf(userUpsert(crashed, 'ghost@acme.example')));
    expect(fenced?.change.kind).toBe('user.delete');
    await expect(
      publisher.publish(userUpsert(crashed, 'ghost@acme.example'), { expectedLastSubjectSequence: 0 }),
    ).rejects.toBeInstanceOf(SequenceConflictError);
    expect(logged.some((l) => l['msg'] === 'fenced the write of an abandoned name claim')).toBe(true);
    // The new owner holds the name.
    expect(JSON.parse((await register.read(claimKey(tenant, 'User', 'ghost@acme.example')))!.value)).toEqual({
      owner: next,
      base: 0,
    });
  });

  it('a stalled create that lands before the fence keeps its name: the late claimant gets 409', async () => {
    const slow = randomUUID();
    await a().claim(tenant, 'User', 'slow@acme.example', slow, 0);
    await publisher.publish(userUpsert(slow, 'slow@acme.example'), { expectedLastSubjectSequence: 0 });
    skewMs = PENDING_MS + 1_000;
    expect(await codeOf(b().claim(tenant, 'User', 'slow@acme.example', randomUUID(), 0))).toBe('ERR_SCIM_UNIQUENESS');
  });

  it('a failed write releases its claim at once; an ambiguous one (may still land) keeps it', async () => {
    const refused = randomUUID();
    await a().claim(tenant, 'Group', 'Refused', refused, 0);
    // The owner's subject moved on (a conflict): the write expecting 0 can never be stored.
    await publisher.publish(change(tenant, 'group.delete', { id: refused }));
    await a().release(tenant, 'Group', 'Refused', refused);
    expect(await register.read(claimKey(tenant, 'Group', 'refused'))).toBeUndefined();

    const unsure = randomUUID();
    await a().claim(tenant, 'Group', 'Unsure', unsure, 0);
    // Publish timed out: nothing on the subject yet, but the message may still be stored.
    await a().release(tenant, 'Group', 'Unsure', unsure);
    expect(await register.read(claimKey(tenant, 'Group', 'Unsure'))).toBeDefined();
    expect(await codeOf(b().claim(tenant, 'Group', 'unsure', randomUUID(), 0))).toBe('ERR_SCIM_UNIQUENESS');
  });

  it('release after a write that did land (its ack lost) keeps the name held', async () => {
    const landed = randomUUID();
    await a().claim(tenant, 'User', 'landed@acme.example', landed, 0);
    await publisher.publish(userUpsert(landed, 'landed@acme.example'), { expectedLastSubjectSequence: 0 });
    await a().release(tenant, 'User', 'landed@acme.example', landed);
    expect(await codeOf(b().claim(tenant, 'User', 'Landed@acme.example', randomUUID(), 0))).toBe('ERR_SCIM_UNIQUENESS');
  });

  it('an abandoned rename is fenced by storing the owner’s state again: same name, same active, new sequence', async () => {
    const owner = randomUUID();
    const before = await publisher.publish(userUpsert(owner, 'before@acme.example', false));
    await a().claim(tenant, 'User', 'after@acme.example', owner, before.sequence);
    // Crash before the rename is published.
    const other = randomUUID();
    expect(await codeOf(b().claim(tenant, 'User', 'after@acme.example', other, 0))).toBe('ERR_SCIM_UNIQUENESS');
    skewMs = PENDING_MS + 1_000;
    await b().claim(tenant, 'User', 'after@acme.example', other, 0);
    const latest = await reader.latest(subjectOf(userUpsert(owner, 'x')));
    expect(latest?.sequence).toBeGreaterThan(before.sequence);
    expect(latest?.change).toMatchObject({
      kind: 'user.upsert',
      data: { user_name: 'before@acme.example', active: false },
    });
    // The rename, were it published now, fails its expected-sequence check.
    await expect(
      publisher.publish(userUpsert(owner, 'after@acme.example'), { expectedLastSubjectSequence: before.sequence }),
    ).rejects.toBeInstanceOf(SequenceConflictError);
  });

  it('a claim left by a delete or a rename whose release was lost is taken at once', async () => {
    const deleted = randomUUID();
    await a().claim(tenant, 'User', 'gone@acme.example', deleted, 0);
    await publisher.publish(userUpsert(deleted, 'gone@acme.example'), { expectedLastSubjectSequence: 0 });
    await publisher.publish(change(tenant, 'user.delete', { id: deleted }));
    // No release (crash): the stream shows a tombstone, so the claim is stale.
    await b().claim(tenant, 'User', 'gone@acme.example', randomUUID(), 0);

    const renamed = randomUUID();
    await a().claim(tenant, 'Group', 'Old', renamed, 0);
    const created = await publisher.publish(
      change(tenant, 'group.upsert', { id: renamed, display_name: 'Old', external_id: null }),
    );
    await a().claim(tenant, 'Group', 'New', renamed, created.sequence);
    await publisher.publish(change(tenant, 'group.upsert', { id: renamed, display_name: 'New', external_id: null }), {
      expectedLastSubjectSequence: created.sequence,
    });
    await b().claim(tenant, 'Group', 'old', randomUUID(), 0);
    expect(await codeOf(b().claim(tenant, 'Group', 'new', randomUUID(), 0))).toBe('ERR_SCIM_UNIQUENESS');
  });

  it('two replicas racing for one stale claim: exactly one takes it (compare-and-set on the revision)', async () => {
    const deleted = randomUUID();
    await a().claim(tenant, 'User', 'prize@acme.example', deleted, 0);
    await publisher.publish(change(tenant, 'user.delete', { id: deleted }));
    const contenders = Array.from({ length: 10 }, (_, i) => ({ owner: randomUUID(), replica: replicas[i % 2]! }));
    const outcomes = await Promise.all(
      contenders.map(async (c) => await codeOf(c.replica.claim(tenant, 'User', 'prize@acme.example', c.owner, 0))),
    );
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(1);
    expect(outcomes.filter((o) => o !== 'ok')).toEqual(Array(9).fill('ERR_SCIM_UNIQUENESS'));
    const winner = contenders[outcomes.indexOf('ok')]!.owner;
    expect(JSON.parse((await register.read(claimKey(tenant, 'User', 'prize@acme.example')))!.value)).toMatchObject({
      owner: winner,
    });
  });

  it('an owner claiming again (a retried rename) moves the revision, so a takeover judged on the old one fails', async () => {
    const owner = randomUUID();
    await a().claim(tenant, 'User', 'retry@acme.example', owner, 0);
    const first = await register.read(claimKey(tenant, 'User', 'retry@acme.example'));
    await b().claim(tenant, 'User', 'retry@acme.example', owner, 7);
    const second = await register.read(claimKey(tenant, 'User', 'retry@acme.example'));
    expect(second!.revision).toBeGreaterThan(first!.revision);
    expect(JSON.parse(second!.value)).toEqual({ owner, base: 7 });
    expect(await register.replace(claimKey(tenant, 'User', 'retry@acme.example'), '{}', first!.revision)).toBe(
      undefined,
    );
  });

  it('claimExisting claims unclaimed names and leaves existing claims alone', async () => {
    const holder = randomUUID();
    await a().claim(tenant, 'User', 'claimed@acme.example', holder, 0);
    const written = await b().claimExisting([
      { tenantId: tenant, kind: 'User', id: 'u1', name: 'legacy@acme.example', sequence: 3 },
      { tenantId: tenant, kind: 'User', id: 'u2', name: 'LEGACY@acme.example', sequence: 4 },
      { tenantId: tenant, kind: 'User', id: 'u3', name: 'claimed@acme.example', sequence: 5 },
      { tenantId: tenant, kind: 'Group', id: 'g1', name: 'legacy@acme.example', sequence: 6 },
    ]);
    expect(written).toBe(2);
    expect(JSON.parse((await register.read(claimKey(tenant, 'User', 'legacy@acme.example')))!.value)).toEqual({
      owner: 'u1',
      base: 3,
    });
    expect(JSON.parse((await register.read(claimKey(tenant, 'User', 'claimed@acme.example')))!.value)).toEqual({
      owner: holder,
      base: 0,
    });
  });

  it('a claim value this build cannot read is treated as held (fail closed), never overwritten', async () => {
    await register.create(claimKey(tenant, 'User', 'future@acme.example'), '{"owner": 42, "v": 2}');
    skewMs = PENDING_MS + 1_000;
    expect(await codeOf(a().claim(tenant, 'User', 'future@acme.example', randomUUID(), 0))).toBe('ERR_SCIM_UNIQUENESS');
  });

  it('refuses a non-positive pendingMs at construction', () => {
    expect(
      () =>
        new NameClaims({
          register,
          log: reader,
          changes: publisher,
          logger: capturingLogger().logger,
          pendingMs: 0,
        }),
    ).toThrow(TypeError);
  });
});

describe('NameClaims of a tenant with a customer-managed key', () => {
  const cipher = (): TenantCipher => new TenantCipher(tenant, new Map([['k1', keyBytes]]), 'k1', lookupKey);
  const keyBytes = randomBytes(32);
  const lookupKey = randomBytes(32);

  async function sealedReplica(nc: NatsConnection): Promise<NameClaims> {
    const sealerOf = (t: string): TenantCipher | undefined => (t === tenant ? cipher() : undefined);
    return new NameClaims({
      register: await KvRegister.open(nc, { bucket: NAME_CLAIMS_BUCKET, description: 'test' }),
      log: new ChangeReader(await jetstreamManager(nc), sealerOf),
      changes: new ChangePublisher(jetstream(nc), sealerOf),
      logger: capturingLogger().logger,
      pendingMs: PENDING_MS,
      sealerOf,
    });
  }

  it('keeps a userName to its holder once the sealed write landed, on every replica', async () => {
    const [first, second] = await Promise.all(connections.map(sealedReplica));
    const holder = randomUUID();
    await first!.claim(tenant, 'User', 'ada@acme.example', holder, 0);
    const sealedPublisher = new ChangePublisher(jetstream(connections[0]!), () => cipher());
    await sealedPublisher.publish(userUpsert(holder, 'ada@acme.example'), { expectedLastSubjectSequence: 0 });
    expect(await codeOf(second!.claim(tenant, 'User', 'ADA@acme.example', randomUUID(), 0))).toBe(
      'ERR_SCIM_UNIQUENESS',
    );
  });

  it('replaces the claims made before the tenant had a key, whose plain hashes would confirm a guessed name', async () => {
    const owner = randomUUID();
    await a().claim(tenant, 'User', 'early@acme.example', owner, 0);
    const [sealed] = await Promise.all(connections.map(sealedReplica));
    await sealed!.claimExisting([
      { tenantId: tenant, kind: 'User', id: owner, name: 'early@acme.example', sequence: 1 },
    ]);
    const keys = [...(await register.keys())].filter((key) => key.startsWith(`${tenant}.`));
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toBe(claimKey(tenant, 'User', 'early@acme.example'));
  });

  it("keys its claims by the tenant's lookup hash, not a hash anyone can compute from a guessed name", async () => {
    const [first] = await Promise.all(connections.map(sealedReplica));
    await first!.claim(tenant, 'User', 'grace@acme.example', randomUUID(), 0);
    const keys = [...(await register.keys())].filter((key) => key.startsWith(`${tenant}.`));
    expect(keys).toHaveLength(1);
    expect(keys[0]).not.toBe(claimKey(tenant, 'User', 'grace@acme.example'));
  });
});

describe('NameClaims without NATS', () => {
  it('answers ERR_SCIM_UNAVAILABLE (503, retry) and never a 201 when the registry cannot be reached', async () => {
    const nc = await connect({ servers: nats.url });
    const claims = new NameClaims({
      register: await KvRegister.open(nc, { bucket: NAME_CLAIMS_BUCKET, description: 'test' }),
      log: new ChangeReader(await jetstreamManager(nc)),
      changes: new ChangePublisher(jetstream(nc)),
      logger: capturingLogger().logger,
    });
    await nc.close();
    expect(await codeOf(claims.claim(tenant, 'User', 'offline@acme.example', randomUUID(), 0))).toBe(
      'ERR_SCIM_UNAVAILABLE',
    );
  });
});
