/**
 * IPSIE SL3, the app telling the IdP: a Check presents a session from a new
 * IP address or device; the gateway signs a CAEP session-presented SET and
 * pushes it to the tenant IdP's receiver (a fake that records it). The SETs
 * verify with the JWKS our SSF metadata names, across a key rotation.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair, jwtVerify } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { change, session, user } from '../harness/changes.js';
import { CAEP, FakeTransmitter } from '../harness/fake_transmitter.js';
import { startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const TENANT = 'umbrella';
const RECEIVER_AUDIENCE = 'https://idp.umbrella.example/ssf/receiver';
const POLICY = `package tenants.umbrella

allow if input.action.name == "read"
`;

let nats: NatsServer;
let producer: TestProducer;
let idp: FakeTransmitter;
let gw: TestGateway;
let t: TestSidecar;
const dir = makeTempDir('ipsie-transmit-');
const keysFile = join(dir.path, 'ssf-keys.json');

async function privateKey(alg: 'RS256' | 'ES256'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), kid: `${alg.toLowerCase()}-${randomUUID().slice(0, 8)}`, alg };
}

function writeKeys(keys: readonly JWK[]): void {
  writeFileSync(keysFile, JSON.stringify({ keys }));
}

let first: JWK;

beforeAll(async () => {
  idp = await FakeTransmitter.start();
  first = await privateKey('RS256');
  writeKeys([first]);
  const tokenFile = join(dir.path, 'receiver-token');
  writeFileSync(tokenFile, idp.receiverToken);
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  gw = await startTestGateway(
    nats.url,
    {
      [TENANT]: {
        ssf: {
          receiver: { endpoint_url: idp.receiverUrl, bearer_token_file: tokenFile, audience: RECEIVER_AUDIENCE },
        },
      },
    },
    { IPSIE_SSF_SIGNING_KEYS_FILE: keysFile, IPSIE_SSF_KEYS_RELOAD_MS: '100' },
  );
  t = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url } });
  await t.sidecar.deployPolicy({ tenantId: TENANT, modules: new Map([['authz.rego', POLICY]]) });
});

afterAll(async () => {
  await t.stop();
  await gw.stop();
  await producer.close();
  await nats.dispose();
  await idp.stop();
  dir.remove();
});

interface Signed {
  readonly id: string;
  readonly session: string;
}

/** A user bound to the IdP, with a session established at 198.51.100.1 on dev-1. */
async function signedIn(name: string): Promise<Signed> {
  const id = `${name}-${randomUUID().slice(0, 8)}`;
  await producer.publishAll([
    user(TENANT, id, { user_name: `${id}@umbrella.example` }),
    change(TENANT, 'binding.upsert', { issuer: idp.issuer, subject: `sub-${id}`, user_id: id }),
    session(TENANT, `sess-${id}`, id, {
      issuer: idp.issuer,
      idp_session_id: `sid-${id}`,
      ip: '198.51.100.1',
      device_id: 'dev-1',
    }),
  ]);
  return { id, session: `sess-${id}` };
}

async function checkFrom(s: Signed, ip: string, deviceId = 'dev-1'): Promise<void> {
  const r = await t.tcp.check({
    tenant: TENANT,
    subject: { session_id: s.session },
    action: { name: 'read' },
    resource: { type: 'doc', id: 'd1' },
    context: { ip, device_id: deviceId, user_agent: 'Mozilla/5.0 (test)' },
    min_sequence: await producer.lastSequence(),
  });
  expect(r.decision).toBe('DECISION_ALLOW');
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const sleep = async (ms: number): Promise<void> => {
  await new Promise((resolve) => setTimeout(resolve, ms));
};

/** Our published JWKS, as the IdP fetches it through our SSF metadata. */
async function publishedKeys(): Promise<JWK[]> {
  const metadata = (await (await fetch(`${gw.origin}/.well-known/ssf-configuration`)).json()) as { jwks_uri: string };
  return ((await (await fetch(metadata.jwks_uri)).json()) as { keys: JWK[] }).keys;
}

/** Makes `keys` the signing keys (the first signs) and waits until the gateway has reloaded them. */
async function givenSigningKeys(keys: readonly JWK[]): Promise<void> {
  writeKeys(keys);
  const kids = keys.map((k) => k.kid);
  const deadline = Date.now() + 10_000;
  while (JSON.stringify((await publishedKeys()).map((k) => k.kid)) !== JSON.stringify(kids)) {
    if (Date.now() > deadline) throw new Error(`the gateway does not publish ${kids.join(', ')}`);
    await sleep(20);
  }
}

/** Verifies a SET the way the IdP would: our metadata, then the JWKS it names. */
async function verifyAsReceiver(set: string): Promise<JWTPayload> {
  const metadata = (await (await fetch(`${gw.origin}/.well-known/ssf-configuration`)).json()) as {
    issuer: string;
    jwks_uri: string;
  };
  const jwks = (await (await fetch(metadata.jwks_uri)).json()) as { keys: JWK[] };
  const { payload } = await jwtVerify(set, createLocalJWKSet(jwks), {
    issuer: metadata.issuer,
    audience: RECEIVER_AUDIENCE,
    typ: 'secevent+jwt',
  });
  return payload;
}

describe('transmitting session changes (SSF transmitter)', () => {
  it('publishes SSF metadata and a JWKS without private key material', async () => {
    await givenSigningKeys([first]);
    const metadata = (await (await fetch(`${gw.origin}/.well-known/ssf-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(metadata).toMatchObject({
      issuer: gw.origin,
      jwks_uri: `${gw.origin}/ssf/v1/jwks`,
      delivery_methods_supported: ['urn:ietf:rfc:8935'],
    });
    const jwks = (await (await fetch(String(metadata['jwks_uri']))).json()) as { keys: JWK[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([first.kid]);
    for (const key of jwks.keys)
      for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi']) expect(key).not.toHaveProperty(member);
  });

  it('a session presented from a new IP is reported once as a signed CAEP session-presented SET', async () => {
    await givenSigningKeys([first]);
    const ann = await signedIn('ann');
    const before = idp.received.length;
    await checkFrom(ann, '198.51.100.1');
    await sleep(300);
    expect(idp.received.length).toBe(before);

    await checkFrom(ann, '203.0.113.9');
    await until(() => idp.received.length > before);
    const set = idp.received[before] ?? '';
    const payload = await verifyAsReceiver(set);
    expect(payload).toMatchObject({
      sub_id: {
        format: 'complex',
        user: { format: 'iss_sub', iss: idp.issuer, sub: `sub-${ann.id}` },
        session: { format: 'opaque', id: `sid-${ann.id}` },
      },
      events: { [`${CAEP}session-presented`]: { ext_id: ann.session, ips: ['203.0.113.9'] } },
    });
    expect(payload).not.toHaveProperty('sub');
    expect(payload).not.toHaveProperty('exp');
    expect(decodeProtectedHeader(set)).toMatchObject({ typ: 'secevent+jwt', kid: first.kid, alg: 'RS256' });

    // Seen again from there: nothing new to say.
    await checkFrom(ann, '203.0.113.9');
    await sleep(300);
    expect(idp.received.length).toBe(before + 1);
    // A new device is a change too.
    await checkFrom(ann, '203.0.113.9', 'dev-2');
    await until(() => idp.received.length > before + 1);
  });

  it('each change of a session is reported with a txn of its own (SSF §4.1.9)', async () => {
    const dee = await signedIn('dee');
    const before = idp.received.length;
    await checkFrom(dee, '203.0.113.30');
    await until(() => idp.received.length > before);
    await checkFrom(dee, '203.0.113.30', 'dev-3');
    await until(() => idp.received.length > before + 1);
    const [ip, device] = await Promise.all(idp.received.slice(before).map(verifyAsReceiver));
    expect(ip?.['txn']).toEqual(expect.any(String));
    expect(device?.['txn']).toEqual(expect.any(String));
    expect(ip?.['txn']).not.toBe(device?.['txn']);
  });

  it('after a key rotation, SETs are signed by the new key and both verify with the published JWKS', async () => {
    await givenSigningKeys([first]);
    const bo = await signedIn('bo');
    const sent = idp.received.length;
    await checkFrom(bo, '203.0.113.10');
    await until(() => idp.received.length > sent);
    const old = idp.received.at(-1) ?? '';
    expect(decodeProtectedHeader(old).kid).toBe(first.kid);

    // Rotation, step 1: the new key signs; the old one stays published.
    const second = await privateKey('ES256');
    await givenSigningKeys([second, first]);
    const count = idp.received.length;
    await checkFrom(bo, '203.0.113.11');
    await until(() => idp.received.length > count);
    const rotated = idp.received.at(-1) ?? '';
    expect(decodeProtectedHeader(rotated)).toMatchObject({ kid: second.kid, alg: 'ES256' });
    await verifyAsReceiver(rotated);
    await verifyAsReceiver(old);

    // Step 2: the old key is retired: the JWKS no longer has it.
    await givenSigningKeys([second]);
    await expect(verifyAsReceiver(old)).rejects.toThrow();
    await verifyAsReceiver(rotated);
  });

  it('a gateway with a tenant reporting to a receiver, and no signing keys, does not start', async () => {
    const tenants = { [TENANT]: { ssf: { receiver: { endpoint_url: idp.receiverUrl, audience: RECEIVER_AUDIENCE } } } };
    await expect(startTestGateway(nats.url, tenants)).rejects.toThrow(/IPSIE_SSF_SIGNING_KEYS_FILE/);
  });

  it('a receiver that is down gets the same SET again; one that refuses it does not', async () => {
    const cy = await signedIn('cy');
    try {
      idp.receiverStatus = 503;
      const before = idp.received.length;
      await checkFrom(cy, '203.0.113.20');
      await until(() => idp.received.length > before);
      idp.receiverStatus = 202;
      await until(() => idp.received.length > before + 1, 15_000);
      const [failed, retried] = idp.received.slice(before);
      const jti = (s: string | undefined): unknown =>
        (JSON.parse(Buffer.from(s?.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload).jti;
      expect(jti(retried)).toBe(jti(failed));
      const txn = (s: string | undefined): unknown =>
        (JSON.parse(Buffer.from(s?.split('.')[1] ?? '', 'base64url').toString()) as JWTPayload)['txn'];
      expect(txn(retried)).toBe(txn(failed));

      idp.receiverStatus = 400;
      const refusedBefore = idp.received.length;
      await checkFrom(cy, '203.0.113.21');
      await until(() => idp.received.length > refusedBefore);
      await sleep(2_500);
      expect(idp.received.length).toBe(refusedBefore + 1);
    } finally {
      // The other tests' receiver accepts.
      idp.receiverStatus = 202;
    }
  });
});
