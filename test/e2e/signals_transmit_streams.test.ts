/**
 * Our SSF transmitter offers stream management (SSF §8) to each tenant's
 * receiver, as the CAEP interoperability profile asks of a transmitter: the
 * receiver (a fake IdP) finds the endpoints in our metadata, creates its
 * stream with its bearer token, reads, updates, pauses, disables and deletes
 * it, removes and adds subjects, and asks for verification events. Session
 * changes a real sidecar observes then go where, and only where, the stream
 * says.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_STREAM } from '../../src/audit/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { OBSERVATIONS_STREAM } from '../../src/observations/index.js';
import { TRANSMITTER_CONSUMER } from '../../src/transmit/index.js';
import { change, session, user } from '../harness/changes.js';
import { CAEP, FakeTransmitter, SSF } from '../harness/fake_transmitter.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const TENANT = 'umbrella';
const AUDIENCE = 'https://idp.umbrella.example/ssf/receiver';
const MANAGEMENT_TOKEN = `mgmt-${randomUUID()}`;
const GLOBEX_TOKEN = `mgmt-${randomUUID()}`;
const PUSH = 'urn:ietf:rfc:8935';
const PRESENTED = `${CAEP}session-presented`;

let nats: NatsServer;
let producer: TestProducer;
/** umbrella's IdP: our SETs' receiver. */
let idp: FakeTransmitter;
let gw: TestGateway;
let t: TestSidecar;
let tenants: Record<string, unknown>;
const dir = makeTempDir('ipsie-transmit-streams-');
const keysFile = join(dir.path, 'ssf-keys.json');

beforeAll(async () => {
  idp = await FakeTransmitter.start();
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  writeFileSync(keysFile, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'k1', alg: 'RS256' }] }));
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  const management = (token: string): Record<string, unknown> => ({
    bearer_token_sha256: [sha256(token)],
    endpoint_origins: [idp.issuer],
  });
  tenants = {
    [TENANT]: { ssf: { receiver: { audience: AUDIENCE, management: management(MANAGEMENT_TOKEN) } } },
    globex: { ssf: { receiver: { audience: 'https://idp.globex.example', management: management(GLOBEX_TOKEN) } } },
  };
  gw = await startTestGateway(nats.url, tenants, { IPSIE_SSF_SIGNING_KEYS_FILE: keysFile });
  // Decisions here are about transmitting, not evaluation budgets: a busy machine may take long to evaluate.
  t = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url, IPSIE_POLICY_BUDGET_MS: '5000' } });
  await t.sidecar.deployPolicy({
    tenantId: TENANT,
    modules: new Map([['authz.rego', `package tenants.${TENANT}\n\nallow if input.action.name == "read"\n`]]),
  });
});

afterAll(async () => {
  await t.stop();
  await gw.stop();
  await producer.close();
  await nats.dispose();
  await idp.stop();
  dir.remove();
});

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
}

/** A stream management call as the receiver makes it. */
async function manage(
  method: string,
  path: string,
  body?: unknown,
  options: { token?: string | undefined; origin?: string } = {},
): Promise<Answer> {
  const token = 'token' in options ? options.token : MANAGEMENT_TOKEN;
  const response = await fetch(`${options.origin ?? gw.origin}/ssf/v1/${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text) };
}

const pushDelivery = (): Record<string, unknown> => ({
  method: PUSH,
  endpoint_url: idp.receiverUrl,
  authorization_header: `Bearer ${idp.receiverToken}`,
});

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function claims(set: string | undefined): JWTPayload {
  return JSON.parse(Buffer.from(set?.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload;
}

/** Verifies a SET as the receiver would: our metadata, then the JWKS it names. */
async function verifyAsReceiver(set: string): Promise<JWTPayload> {
  const metadata = (await (await fetch(`${gw.origin}/.well-known/ssf-configuration`)).json()) as {
    issuer: string;
    jwks_uri: string;
  };
  const jwks = (await (await fetch(metadata.jwks_uri)).json()) as { keys: JWK[] };
  const { payload } = await jwtVerify(set, createLocalJWKSet(jwks), {
    issuer: metadata.issuer,
    audience: AUDIENCE,
    typ: 'secevent+jwt',
  });
  return payload;
}

interface Person {
  readonly id: string;
  readonly sub: string;
  readonly session: string;
}

/** A user bound to the IdP, with a session established at 198.51.100.1. */
async function person(name: string): Promise<Person> {
  const id = `${name}-${randomUUID().slice(0, 8)}`;
  await producer.publishAll([
    user(TENANT, id, { user_name: `${id}@umbrella.example` }),
    change(TENANT, 'binding.upsert', { issuer: idp.issuer, subject: `sub-${id}`, user_id: id }),
    session(TENANT, `sess-${id}`, id, { issuer: idp.issuer, idp_session_id: `sid-${id}`, ip: '198.51.100.1' }),
  ]);
  return { id, sub: `sub-${id}`, session: `sess-${id}` };
}

/** The app presents the session from `ip`: a change the sidecar reports. */
async function presentFrom(p: Person, ip: string): Promise<void> {
  const r = await t.tcp.check({
    tenant: TENANT,
    subject: { session_id: p.session },
    action: { name: 'read' },
    resource: { type: 'doc', id: 'd1' },
    context: { ip },
    min_sequence: await producer.lastSequence(),
  });
  expect(r.decision).toBe('DECISION_ALLOW');
}

/** The transmitter's latest record of a session change of `p` (sent, refused or not sent). */
async function transmitted(p: Person): Promise<AuditRecord | undefined> {
  const message = await producer.jsm.streams
    .getMessage(AUDIT_STREAM, { last_by_subj: `ipsie.audit.${TENANT}.set_transmitted` })
    .catch(() => null);
  const record = message?.json<AuditRecord>();
  return record?.data['session_id'] === p.session ? record : undefined;
}

/** umbrella's receiver has no stream: deletes the one there is. */
async function givenNoStream(): Promise<void> {
  for (const stream of (await manage('GET', 'stream')).body as { stream_id: string }[]) {
    expect((await manage('DELETE', `stream?stream_id=${stream.stream_id}`)).status).toBe(204);
  }
}

/** A new push stream to umbrella's receiver for session-presented events (any earlier one deleted); returns its id. */
async function givenNewStream(): Promise<string> {
  await givenNoStream();
  const created = await manage('POST', 'stream', {
    delivery: pushDelivery(),
    events_requested: [PRESENTED, `${CAEP}credential-change`],
    description: 'umbrella at the IdP',
  });
  expect(created.status).toBe(201);
  return (created.body as { stream_id: string }).stream_id;
}

/** An enabled push stream that delivers session-presented events, the one there is if it does; returns its id. */
async function givenStream(): Promise<string> {
  const [stream] = (await manage('GET', 'stream')).body as { stream_id: string; events_delivered: string[] }[];
  if (!stream?.events_delivered.includes(PRESENTED)) return await givenNewStream();
  const enabled = await manage('POST', 'status', { stream_id: stream.stream_id, status: 'enabled' });
  expect(enabled.status).toBe(200);
  return stream.stream_id;
}

describe('stream management offered to the tenant’s receiver (SSF §8)', () => {
  it('the metadata names the endpoints and the authorization scheme, also at the issuer’s path (SSF §7)', async () => {
    const metadata = (await (await fetch(`${gw.origin}/.well-known/ssf-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata).toMatchObject({
      spec_version: '1_0',
      issuer: gw.origin,
      jwks_uri: `${gw.origin}/ssf/v1/jwks`,
      delivery_methods_supported: [PUSH],
      configuration_endpoint: `${gw.origin}/ssf/v1/stream`,
      status_endpoint: `${gw.origin}/ssf/v1/status`,
      add_subject_endpoint: `${gw.origin}/ssf/v1/subjects:add`,
      remove_subject_endpoint: `${gw.origin}/ssf/v1/subjects:remove`,
      verification_endpoint: `${gw.origin}/ssf/v1/verify`,
      authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6750' }],
    });
    // Our public URL has a path behind a proxy: the well-known path goes between host and path (SSF §7.2).
    const proxied = await startTestGateway(nats.url, tenants, {
      IPSIE_SSF_SIGNING_KEYS_FILE: keysFile,
      IPSIE_PUBLIC_URL: 'https://app.example/ipsie',
    });
    try {
      const response = await fetch(`${proxied.origin}/.well-known/ssf-configuration/ipsie`);
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({
        issuer: 'https://app.example/ipsie',
        jwks_uri: 'https://app.example/ipsie/ssf/v1/jwks',
        configuration_endpoint: 'https://app.example/ipsie/ssf/v1/stream',
      });
      expect((await fetch(`${proxied.origin}/.well-known/ssf-configuration/elsewhere`)).status).toBe(404);
    } finally {
      await proxied.stop();
    }
  });

  it('needs a receiver’s bearer token, in the header', async () => {
    for (const token of [undefined, 'guess', `${MANAGEMENT_TOKEN}x`]) {
      const r = await manage('GET', 'stream', undefined, { token });
      expect(r.status, String(token)).toBe(401);
      expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(r.body).toMatchObject({ code: 'ERR_TRANSMIT_STREAM_UNAUTHORIZED' });
    }
    const inQuery = await fetch(`${gw.origin}/ssf/v1/stream?access_token=${MANAGEMENT_TOKEN}`);
    expect(inQuery.status).toBe(401);
  });

  it('creates one push stream, only to an origin the tenant allows; poll and bad deliveries are refused', async () => {
    await givenNoStream();
    const refusals: [unknown, RegExp][] = [
      [{ events_requested: [PRESENTED] }, /delivery/],
      [{ delivery: { method: 'urn:ietf:rfc:8936' } }, /push/],
      [{ delivery: { method: PUSH, endpoint_url: 'http://169.254.169.254/latest' } }, /origin/],
      [{ delivery: { method: PUSH, endpoint_url: `${idp.issuer.replace('127.0.0.1', 'localhost')}/x` } }, /origin/],
      [{ delivery: { ...pushDelivery(), authorization_header: 'Bearer x\r\nX-Injected: 1' } }, /header/],
      [{ delivery: pushDelivery(), events_requested: 'all' }, /events_requested/],
      ['not json', /JSON/],
    ];
    for (const [body, description] of refusals) {
      const r = await manage('POST', 'stream', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ code: 'ERR_TRANSMIT_STREAM_REQUEST_INVALID' });
      expect((r.body as { description: string }).description).toMatch(description);
    }
    expect((await manage('GET', 'stream')).body).toEqual([]);

    const created = await manage('POST', 'stream', {
      delivery: pushDelivery(),
      events_requested: [PRESENTED, `${CAEP}credential-change`],
      description: 'umbrella at the IdP',
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body).toEqual({
      stream_id: expect.any(String) as unknown,
      iss: gw.origin,
      aud: AUDIENCE,
      events_supported: [PRESENTED],
      events_requested: [PRESENTED, `${CAEP}credential-change`],
      events_delivered: [PRESENTED],
      // The authorization header is the receiver's secret: never read back.
      delivery: { method: PUSH, endpoint_url: idp.receiverUrl },
      min_verification_interval: 30,
      description: 'umbrella at the IdP',
    });
    const again = await manage('POST', 'stream', { delivery: pushDelivery() });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ code: 'ERR_TRANSMIT_STREAM_EXISTS' });
  });

  it('two creates at once (any replicas): one stream, the other gets 409', async () => {
    const [a, b] = await Promise.all(
      [0, 1].map(async () => await manage('POST', 'stream', { delivery: pushDelivery() }, { token: GLOBEX_TOKEN })),
    );
    expect([a?.status, b?.status].sort()).toEqual([201, 409]);
    const streams = (await manage('GET', 'stream', undefined, { token: GLOBEX_TOKEN })).body as unknown[];
    expect(streams).toHaveLength(1);
    await manage('DELETE', `stream?stream_id=${(streams[0] as { stream_id: string }).stream_id}`, undefined, {
      token: GLOBEX_TOKEN,
    });
  });

  it('another tenant’s receiver never finds this stream', async () => {
    const streamId = await givenStream();
    const other = { token: GLOBEX_TOKEN };
    expect((await manage('GET', 'stream', undefined, other)).body).toEqual([]);
    for (const [method, path, body] of [
      ['GET', `stream?stream_id=${streamId}`, undefined],
      ['GET', `status?stream_id=${streamId}`, undefined],
      ['POST', 'status', { stream_id: streamId, status: 'disabled' }],
      ['PATCH', 'stream', { stream_id: streamId, events_requested: [] }],
      ['POST', 'subjects:remove', { stream_id: streamId, subject: { format: 'email', email: 'a@b' } }],
      ['POST', 'verify', { stream_id: streamId }],
      ['DELETE', `stream?stream_id=${streamId}`, undefined],
    ] as const) {
      const r = await manage(method, path, body, other);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.body).toMatchObject({ code: 'ERR_TRANSMIT_STREAM_NOT_FOUND' });
    }
    expect((await manage('GET', `status?stream_id=${streamId}`)).body).toEqual({
      stream_id: streamId,
      status: 'enabled',
    });
  });

  it('session changes go to the stream’s endpoint with its authorization header', async () => {
    const streamId = await givenStream();
    const ann = await person('ann');
    const before = idp.received.length;
    await presentFrom(ann, '203.0.113.9');
    await until(() => idp.received.length > before);
    const payload = await verifyAsReceiver(idp.received[before] ?? '');
    expect(payload).toMatchObject({
      sub_id: { format: 'complex', user: { format: 'iss_sub', iss: idp.issuer, sub: ann.sub } },
      events: { [PRESENTED]: { ext_id: ann.session, ips: ['203.0.113.9'] } },
    });
    expect(await transmitted(ann)).toMatchObject({ data: { stream_id: streamId, status: 202 } });
  });

  it('sends a verification event on request, carrying the state; at most once per interval (429)', async () => {
    const streamId = await givenStream();
    const before = idp.received.length;
    const state = randomUUID();
    const asked = await manage('POST', 'verify', { stream_id: streamId, state });
    expect(asked.status).toBe(204);
    await until(() => idp.received.length > before);
    const payload = await verifyAsReceiver(idp.received[before] ?? '');
    expect(payload).toMatchObject({
      sub_id: { format: 'opaque', id: streamId },
      events: { [`${SSF}verification`]: { state } },
    });
    expect(payload).not.toHaveProperty('sub');
    expect(payload).not.toHaveProperty('exp');
    const soon = await manage('POST', 'verify', { stream_id: streamId });
    expect(soon.status).toBe(429);
    expect(Number(soon.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('a paused stream holds session changes until it is enabled again; a disabled one drops them', async () => {
    const streamId = await givenStream();
    const paused = await manage('POST', 'status', { stream_id: streamId, status: 'paused', reason: 'maintenance' });
    expect(paused.body).toEqual({ stream_id: streamId, status: 'paused', reason: 'maintenance' });
    const bo = await person('bo');
    const before = idp.received.length;
    const jsm = producer.jsm;
    const held = (await jsm.streams.info(OBSERVATIONS_STREAM)).state.last_seq + 1;
    await presentFrom(bo, '203.0.113.20');
    // Barrier: the transmitter took the change, put it back, and got it again (held, not sent).
    await until(async () => {
      const consumer = await jsm.consumers.info(OBSERVATIONS_STREAM, TRANSMITTER_CONSUMER);
      return consumer.delivered.stream_seq >= held && consumer.num_redelivered > 0;
    });
    expect(idp.received.length).toBe(before);
    expect((await manage('POST', 'status', { stream_id: streamId, status: 'enabled' })).status).toBe(200);
    await until(() => idp.received.length > before);
    expect(claims(idp.received[before])).toMatchObject({ events: { [PRESENTED]: { ext_id: bo.session } } });

    await manage('POST', 'status', { stream_id: streamId, status: 'disabled' });
    const cy = await person('cy');
    const count = idp.received.length;
    await presentFrom(cy, '203.0.113.21');
    await until(async () => (await transmitted(cy)) !== undefined);
    expect(await transmitted(cy)).toMatchObject({ data: { status: null, skipped: 'the stream is disabled' } });
    expect(idp.received.length).toBe(count);
    await manage('POST', 'status', { stream_id: streamId, status: 'enabled' });
  });

  it('a removed subject’s changes are not sent until it is added again (SSF §8.1.3)', async () => {
    const streamId = await givenStream();
    const dee = await person('dee');
    const subject = { format: 'iss_sub', iss: idp.issuer, sub: dee.sub };
    expect((await manage('POST', 'subjects:remove', { stream_id: streamId, subject })).status).toBe(204);
    const count = idp.received.length;
    await presentFrom(dee, '203.0.113.30');
    await until(async () => (await transmitted(dee)) !== undefined);
    expect(await transmitted(dee)).toMatchObject({
      data: { skipped: 'the receiver removed this subject from the stream' },
    });
    expect(idp.received.length).toBe(count);

    const added = await manage('POST', 'subjects:add', { stream_id: streamId, subject, verified: true });
    expect(added.status).toBe(200);
    expect(added.body).toBeUndefined();
    await presentFrom(dee, '203.0.113.31');
    await until(() => idp.received.length > count);
    expect(claims(idp.received[count])).toMatchObject({ events: { [PRESENTED]: { ips: ['203.0.113.31'] } } });
    const bad = await manage('POST', 'subjects:add', { stream_id: streamId, subject: 'dee' });
    expect(bad.status).toBe(400);
  });

  it('reads, updates and replaces the stream (transmitter members only as they are), then deletes it', async () => {
    const streamId = await givenNewStream();
    expect((await manage('GET', `stream?stream_id=${streamId}`)).body).toMatchObject({ stream_id: streamId });
    expect((await manage('GET', 'stream?stream_id=no-such-stream')).status).toBe(404);
    const patched = await manage('PATCH', 'stream', { stream_id: streamId, events_requested: [] });
    expect(patched.body).toMatchObject({
      events_requested: [],
      events_delivered: [],
      description: 'umbrella at the IdP',
    });
    const forged = await manage('PATCH', 'stream', { stream_id: streamId, iss: 'https://evil.example' });
    expect(forged.status).toBe(400);
    expect((await manage('PUT', 'stream', { stream_id: streamId })).status).toBe(400);
    const replaced = await manage('PUT', 'stream', {
      stream_id: streamId,
      iss: gw.origin,
      delivery: pushDelivery(),
      events_requested: [PRESENTED],
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body).not.toHaveProperty('description');
    expect(replaced.body).toMatchObject({ events_delivered: [PRESENTED] });
    expect((await manage('DELETE', 'stream')).status).toBe(400);
    expect((await manage('DELETE', `stream?stream_id=${streamId}`)).status).toBe(204);
    expect((await manage('GET', 'stream')).body).toEqual([]);
    expect((await manage('GET', `status?stream_id=${streamId}`)).status).toBe(404);
  });

  it('an oversized request body is refused with 413', async () => {
    const r = await manage('POST', 'stream', { delivery: pushDelivery(), description: 'x'.repeat(70_000) });
    expect(r.status).toBe(413);
  });
});
