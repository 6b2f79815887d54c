/**
 * SSF stream management (SSF §8) through the tenant admin API, against a fake
 * transmitter found by its `/.well-known/ssf-configuration`: create, read,
 * update, status, subjects, delete, and the verification round trip over
 * push and over poll.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_ACTED_ON } from '../../src/security_event_types.js';
import { FakeTransmitter, SSF } from '../harness/fake_transmitter.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { makeTempDir } from '../harness/temp_dir.js';

const PUSH_TOKEN = `push-${randomUUID()}`;
const ADMIN = 'umbrella-admin';
const INITECH_ADMIN = 'initech-admin';

let nats: NatsServer;
let tx: FakeTransmitter;
/** Initech's transmitter: no test makes a stream there, so initech always knows no stream id. */
let untouched: FakeTransmitter;
let gw: TestGateway;
let tenants: Record<string, unknown>;
const secrets = makeTempDir('ipsie-ssf-');

/** A tenant whose one transmitter is `transmitter`, with push, poll and stream management. */
function tenantOf(name: string, transmitter: FakeTransmitter, adminToken: string): Record<string, unknown> {
  const managementFile = join(secrets.path, `${name}-management`);
  const pollFile = join(secrets.path, `${name}-poll`);
  writeFileSync(managementFile, transmitter.managementToken);
  writeFileSync(pollFile, transmitter.pollToken);
  return {
    admin: { bearer_token_sha256: [sha256(adminToken)] },
    ssf: {
      transmitters: [
        {
          issuer: transmitter.issuer,
          discovery: true,
          audience: transmitter.audience,
          push: { bearer_token_sha256: [sha256(PUSH_TOKEN)] },
          poll: { endpoint_url: transmitter.pollUrl, bearer_token_file: pollFile, interval_ms: 50 },
          management: { bearer_token_file: managementFile },
        },
      ],
    },
  };
}

beforeAll(async () => {
  tx = await FakeTransmitter.start();
  untouched = await FakeTransmitter.start();
  nats = await NatsServer.start();
  tenants = {
    umbrella: tenantOf('umbrella', tx, ADMIN),
    initech: tenantOf('initech', untouched, INITECH_ADMIN),
    globex: { admin: { bearer_token_sha256: [sha256('globex-admin')] } },
  };
  gw = await startTestGateway(nats.url, tenants);
});

afterAll(async () => {
  await gw.stop();
  await nats.dispose();
  await tx.stop();
  await untouched.stop();
  secrets.remove();
});

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown> | undefined;
}

async function admin(
  method: string,
  path: string,
  body?: unknown,
  token = ADMIN,
  tenant = 'umbrella',
): Promise<Answer> {
  const response = await fetch(`${gw.origin}/admin/v1/${tenant}/ssf/${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>) };
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** No stream at the transmitter: deletes the one there is (the fake transmitter allows one). */
async function givenNoStream(): Promise<void> {
  if (tx.streams().length > 0) expect((await admin('DELETE', 'streams')).status).toBe(204);
  expect(tx.streams()).toHaveLength(0);
}

/** A push stream to our endpoint, made unless there is one; returns its id. */
async function givenPushStream(): Promise<string> {
  const existing = tx.streams()[0];
  if (existing?.delivery.method === 'urn:ietf:rfc:8935') return existing.stream_id;
  await givenNoStream();
  const created = await admin('POST', 'streams', { delivery: 'push', push_bearer_token: PUSH_TOKEN });
  expect(created.status).toBe(201);
  return String(created.body?.['stream_id']);
}

describe('stream management', () => {
  it('needs the tenant’s admin credentials', async () => {
    expect((await admin('GET', 'streams', undefined, 'guess')).status).toBe(401);
    expect((await admin('GET', 'streams', undefined, 'globex-admin')).status).toBe(401);
    // globex has no transmitter with stream management.
    expect(await admin('GET', 'streams', undefined, 'globex-admin', 'globex')).toMatchObject({
      status: 400,
      body: { code: 'ERR_SSF_ADMIN_REQUEST_INVALID' },
    });
  });

  it('once the stream is deleted, status needs a stream id again, on this replica and on another that knew it', async () => {
    await givenPushStream();
    const replica = await startTestGateway(nats.url, tenants);
    try {
      const status = async (origin: string): Promise<unknown> =>
        await (
          await fetch(`${origin}/admin/v1/umbrella/ssf/status`, { headers: { authorization: `Bearer ${ADMIN}` } })
        ).json();
      // The replica learns the id from the shared record.
      expect(await status(replica.origin)).toMatchObject({ status: 'enabled' });
      await givenNoStream();
      for (const origin of [gw.origin, replica.origin]) {
        expect(await status(origin)).toMatchObject({ code: 'ERR_SSF_OPERATION_UNAVAILABLE' });
      }
    } finally {
      await replica.stop();
    }
  });

  it('before a stream exists: reads an empty list; status needs a stream id', async () => {
    expect(await admin('GET', 'streams', undefined, INITECH_ADMIN, 'initech')).toMatchObject({
      status: 200,
      body: { streams: [] },
    });
    expect(await admin('GET', 'status', undefined, INITECH_ADMIN, 'initech')).toMatchObject({
      status: 409,
      body: { code: 'ERR_SSF_OPERATION_UNAVAILABLE' },
    });
  });

  it('push delivery needs a token our push endpoint accepts', async () => {
    await givenNoStream();
    const r = await admin('POST', 'streams', { delivery: 'push', push_bearer_token: 'made-up' });
    expect(r).toMatchObject({ status: 400, body: { code: 'ERR_SSF_ADMIN_REQUEST_INVALID' } });
    expect(tx.streams()).toHaveLength(0);
  });

  it('creates a push stream pointing at our endpoint, and verifies it end to end', async () => {
    await givenNoStream();
    const pushesBefore = tx.verificationPushes.length;
    const created = await admin('POST', 'streams', {
      delivery: 'push',
      push_bearer_token: PUSH_TOKEN,
      description: 'umbrella sign-in signals',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      iss: tx.issuer,
      delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: `${gw.origin}/ssf/v1/umbrella/events` },
    });
    const [stream] = tx.streams();
    expect(stream?.events_requested).toEqual(EVENTS_ACTED_ON);
    expect(stream?.delivery.authorization_header).toBe(`Bearer ${PUSH_TOKEN}`);

    const verified = await admin('POST', 'verify');
    expect(verified).toMatchObject({
      status: 200,
      body: { verified: true, stream_id: stream?.stream_id, delivery: 'push' },
    });
    await until(() => tx.verificationPushes.length > pushesBefore);
    expect(tx.verificationPushes.slice(pushesBefore)).toEqual([202]);
  });

  it('a verification event naming another stream is refused once the stream is known', async () => {
    await givenPushStream();
    const set = await tx.set(`${SSF}verification`, { format: 'opaque', id: 'not-our-stream' }, {});
    const response = await fetch(`${gw.origin}/ssf/v1/umbrella/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt', authorization: `Bearer ${PUSH_TOKEN}` },
      body: set,
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ err: 'invalid_request' });
  });

  it('another gateway replica knows the stream id too (shared in a KV bucket)', async () => {
    const id = await givenPushStream();
    const replica = await startTestGateway(nats.url, tenants);
    try {
      const set = await tx.set(`${SSF}verification`, { format: 'opaque', id: 'not-our-stream' }, {});
      const response = await fetch(`${replica.origin}/ssf/v1/umbrella/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/secevent+jwt', authorization: `Bearer ${PUSH_TOKEN}` },
        body: set,
      });
      expect(response.status).toBe(400);
      const status = await fetch(`${replica.origin}/admin/v1/umbrella/ssf/status`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(await status.json()).toMatchObject({ stream_id: id, status: 'enabled' });
    } finally {
      await replica.stop();
    }
  });

  it('reads, updates, pauses and resumes the stream; adds and removes subjects', async () => {
    const id = await givenPushStream();
    expect(await admin('GET', 'streams')).toMatchObject({ status: 200, body: { streams: [{ stream_id: id }] } });
    const patched = await admin('PATCH', 'streams', { description: 'renamed' });
    expect(patched).toMatchObject({ status: 200, body: { stream_id: id, description: 'renamed' } });
    expect(await admin('POST', 'status', { status: 'paused', reason: 'maintenance' })).toMatchObject({
      status: 200,
      body: { status: 'paused' },
    });
    expect(await admin('GET', 'status')).toMatchObject({ status: 200, body: { stream_id: id, status: 'paused' } });
    expect((await admin('POST', 'status', { status: 'sleeping' })).status).toBe(400);
    await admin('POST', 'status', { status: 'enabled' });

    const subject = { format: 'email', email: 'ann@umbrella.example' };
    expect((await admin('POST', 'subjects/add', { subject, verified: true })).status).toBe(204);
    expect(tx.streams()[0]?.subjects).toEqual([subject]);
    expect((await admin('POST', 'subjects/remove', { subject })).status).toBe(204);
    expect(tx.streams()[0]?.subjects).toEqual([]);
    expect((await admin('POST', 'subjects/add', { subject: 'ann' })).status).toBe(400);
  });

  it('a transmitter error is reported as 502 with its status', async () => {
    // The fake allows one stream: a second create is 409 Conflict there.
    await givenPushStream();
    const r = await admin('POST', 'streams', { delivery: 'poll' });
    expect(r).toMatchObject({ status: 502, body: { code: 'ERR_SSF_MANAGEMENT_FAILED' } });
    expect(String(r.body?.['detail'])).toMatch(/409/);
  });

  it('stream management is in the tenant’s audit trail', async () => {
    await givenNoStream();
    expect((await admin('POST', 'streams', { delivery: 'push', push_bearer_token: 'made-up' })).status).toBe(400);
    await givenPushStream();
    expect((await admin('POST', 'verify')).status).toBe(200);
    expect((await admin('POST', 'status', { status: 'enabled' })).status).toBe(200);
    const response = await fetch(`${gw.origin}/admin/v1/umbrella/audit?limit=1000`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const actions = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { kind: string; data: { action?: string; status?: number } })
      .filter((r) => r.kind === 'admin.action')
      .map((r) => `${r.data.action ?? ''} ${r.data.status ?? ''}`);
    expect(actions).toEqual(
      expect.arrayContaining([
        'ssf POST streams 400',
        'ssf POST streams 201',
        'ssf POST verify 200',
        'ssf POST status 200',
      ]) as unknown,
    );
  });

  it('deletes the stream; a poll stream then verifies over poll', async () => {
    await givenPushStream();
    const ackedBefore = tx.acked.length;
    expect((await admin('DELETE', 'streams')).status).toBe(204);
    expect(tx.streams()).toHaveLength(0);
    const created = await admin('POST', 'streams', { delivery: 'poll' });
    expect(created).toMatchObject({
      status: 201,
      body: { delivery: { method: 'urn:ietf:rfc:8936', endpoint_url: tx.pollUrl } },
    });
    const verified = await admin('POST', 'verify');
    expect(verified).toMatchObject({ status: 200, body: { verified: true, delivery: 'poll' } });
    // Stored first, acknowledged with the next poll.
    await until(() => tx.acked.length > ackedBefore);
  });
});
