/**
 * A tenant's personal data under its customer-managed key, end to end: a real gateway and sidecar, a real
 * nats-server and a real KMS API (local-kms, through the AWS SDK). SCIM writes reach the stream and the
 * sidecar's SQLite file as ciphertext, Check and SCIM still answer, key rotation happens under load without
 * a failed call, and revoking the key (crypto-shredding) stops that tenant with a stable reason while
 * another tenant keeps answering.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { structFromJson } from '../../src/check/index.js';
import { STATE_STREAM } from '../../src/changes/index.js';
import { connectNats, KvRegister } from '../../src/stream/index.js';
import { TENANT_KEYS_BUCKET_OPTIONS } from '../../src/tenant_keys/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { awsEnvironment, LocalKms } from '../harness/local_kms.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { ScimClient } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';

const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

let nats: NatsServer;
let kms: LocalKms;
let gateway: TestGateway;
let sidecar: TestSidecar;
let globex: ScimClient;
let acme: ScimClient;
let lastWrite = 0;
let tenants: Record<string, unknown>;
const ENV = { IPSIE_TENANT_KEY_REVALIDATE_S: '1' };

beforeAll(async () => {
  nats = await NatsServer.start();
  kms = await LocalKms.start();
  for (const [name, value] of Object.entries(awsEnvironment(kms))) process.env[name] = value;
  tenants = {
    // globex keeps its personal data under its own KMS key; acme in clear.
    globex: {
      scim: { bearer_token_sha256: [sha256('globex-scim')] },
      admin: { bearer_token_sha256: [sha256('globex-admin')] },
      customer_managed_key: { provider: 'aws_kms', key_id: await kms.createKey() },
    },
    acme: { scim: { bearer_token_sha256: [sha256('acme-scim')] } },
  };
  gateway = await startTestGateway(nats.url, tenants, ENV);
  sidecar = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url, ...ENV }, tenants });
  await sidecar.sidecar.deployPolicy(await examplePolicy('globex'));
  await sidecar.sidecar.deployPolicy(await examplePolicy('acme'));
  globex = new ScimClient(gateway.origin, 'globex', 'globex-scim');
  acme = new ScimClient(gateway.origin, 'acme', 'acme-scim');
}, 120_000);

afterAll(async () => {
  await sidecar.stop();
  await gateway.stop();
  await kms.dispose();
  await nats.dispose();
});

interface Person {
  readonly userName: string;
  readonly email: string;
  readonly phone: string;
  readonly given: string;
  readonly family: string;
}

function person(tag: string): Person {
  return {
    userName: `${tag}.lovelace@globex.example`,
    email: `${tag}.private@mail.example`,
    phone: `+1 206 555 ${String(1000 + Math.floor(Math.random() * 8999))}`,
    given: `Augusta${tag}`,
    family: `Lovelace${tag}`,
  };
}

async function provision(client: ScimClient, who: Person): Promise<string> {
  const created = await client.post('/Users', {
    schemas: [USER_SCHEMA, ENTERPRISE],
    userName: who.userName,
    name: { givenName: who.given, familyName: who.family },
    emails: [{ value: who.email, type: 'work', primary: true }],
    phoneNumbers: [{ value: who.phone, type: 'work' }],
    title: 'Engineer',
    active: true,
    [ENTERPRISE]: { department: 'R&D' },
  });
  expect(created.status).toBe(201);
  lastWrite = Math.max(lastWrite, Number(created.headers.get('x-ipsie-sequence')));
  return created.body?.['id'] as string;
}

/** globex lets active R&D members read R&D documents: ALLOW needs the user's sealed department opened. */
async function decision(tenant: string, userId: string): Promise<string> {
  const check = await sidecar.tcp.check({
    tenant,
    subject: { user_id: userId },
    action: { name: 'read' },
    resource: { type: 'document', properties: structFromJson({ department: 'R&D' }) },
    min_sequence: lastWrite,
  });
  return check.decision;
}

/** Every message on the state stream's subjects of `tenant`, as text. */
async function streamText(tenant: string): Promise<string> {
  const nc = await connect({ servers: nats.url });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(STATE_STREAM, { subjects_filter: `ipsie.state.${tenant}.>` });
    const texts: string[] = [];
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const message = await jsm.streams.getMessage(STATE_STREAM, { last_by_subj: subject });
      if (message !== null) texts.push(new TextDecoder().decode(message.data));
    }
    return texts.join('\n');
  } finally {
    await nc.close();
  }
}

/** Every row of `tenant` in the sidecar's SQLite file, read with a connection of its own. */
function storeText(tenant: string): string {
  const raw = new Database(sidecar.storePath, { readonly: true });
  try {
    return JSON.stringify(
      ['users', 'sessions', 'posture'].map((table) =>
        raw.prepare(`SELECT * FROM ${table} WHERE tenant_id = ?`).all(tenant),
      ),
    );
  } finally {
    raw.close();
  }
}

function expectNoneOf(text: string, who: Person): void {
  for (const value of [who.userName, who.email, who.phone, who.given, who.family, 'R&D', 'Engineer']) {
    expect(text).not.toContain(value);
  }
}

describe('a tenant with a customer-managed key', () => {
  const ada = person('a');
  let adaId: string;

  beforeAll(async () => {
    adaId = await provision(globex, ada);
  });

  it('is decided on its sealed profile: Check answers from the opened department', async () => {
    expect(await decision('globex', adaId)).toBe('DECISION_ALLOW');
  });

  it('puts only ciphertext and lookup hashes on the state stream and in the sidecar store file', async () => {
    const onStream = await streamText('globex');
    expect(onStream).toContain(adaId);
    expect(onStream).toMatch(/"sealed":"s1\./);
    expectNoneOf(onStream, ada);
    const atRest = storeText('globex');
    expect(atRest).toContain(adaId);
    expectNoneOf(atRest, ada);
  });

  it('keeps a tenant without a key in clear', async () => {
    const bob = { ...person('b'), userName: 'bob@acme.example' };
    await provision(acme, bob);
    expect(await streamText('acme')).toContain('bob@acme.example');
    expect(storeText('acme')).toContain('bob@acme.example');
  });

  it('answers SCIM in clear: reads, userName filters and uniqueness work through the lookup hashes', async () => {
    const read = await globex.get(`/Users/${adaId}`);
    expect(read.body).toMatchObject({
      userName: ada.userName,
      name: { givenName: ada.given },
      emails: [{ value: ada.email }],
    });
    const found = await globex.get(
      `/Users?filter=${encodeURIComponent(`userName eq "${ada.userName.toUpperCase()}"`)}`,
    );
    expect(found.body?.['totalResults']).toBe(1);
    const again = await globex.post('/Users', { schemas: [USER_SCHEMA], userName: ada.userName });
    expect(again.status).toBe(409);
  });

  it('rotates its data key and re-wraps under a new KMS key while Checks run, without one failed call', async () => {
    const failures: unknown[] = [];
    const answers: string[] = [];
    let running = true;
    const load = Array.from({ length: 4 }, async () => {
      while (running) {
        try {
          answers.push(await decision('globex', adaId));
        } catch (error) {
          failures.push(error);
        }
      }
    });
    const admin = async (path: string, body: unknown): Promise<number> =>
      (
        await fetch(`${gateway.origin}/admin/v1/globex/keys${path}`, {
          method: 'POST',
          headers: { authorization: 'Bearer globex-admin', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        })
      ).status;
    expect(await admin('/rotate', { data_key: true })).toBe(200);
    const grace = person('g');
    const graceId = await provision(globex, grace);
    expect(await admin('/rotate', { key_id: await kms.createKey() })).toBe(200);
    // Written under the new data key, read after the re-wrap: both generations open.
    await vi.waitFor(async () => {
      expect(await decision('globex', graceId)).toBe('DECISION_ALLOW');
    });
    running = false;
    await Promise.all(load);
    expect(failures).toEqual([]);
    expect(answers.length).toBeGreaterThan(0);
    expect(new Set(answers)).toEqual(new Set(['DECISION_ALLOW']));
    expect(await decision('globex', adaId)).toBe('DECISION_ALLOW');
    expectNoneOf(storeText('globex'), grace);
  });

  it('fails closed for good once its key is revoked (crypto-shredding), and another tenant keeps answering', async () => {
    const bobId = (await acme.get(`/Users?filter=${encodeURIComponent('userName eq "bob@acme.example"')}`)).body?.[
      'Resources'
    ] as { id: string }[];
    const revoked = await fetch(`${gateway.origin}/admin/v1/globex/keys/revoke`, {
      method: 'POST',
      headers: { authorization: 'Bearer globex-admin', 'content-type': 'application/json' },
      body: JSON.stringify({ confirm: 'globex' }),
    });
    expect(revoked.status).toBe(200);
    await vi.waitFor(
      async () => {
        expect(await sidecar.tcp.failure(decision('globex', adaId))).toMatchObject({
          code: status.PERMISSION_DENIED,
          reason: 'TENANT_KEY_REVOKED',
        });
      },
      { timeout: 15_000, interval: 100 },
    );
    // The gateway too: SCIM cannot read or write the tenant's people any more.
    expect((await globex.get(`/Users/${adaId}`)).status).toBe(403);
    expect(
      (await globex.post('/Users', { schemas: [USER_SCHEMA], userName: `x-${randomUUID()}@globex.example` })).status,
    ).toBe(403);
    // What is kept is ciphertext whose keys are gone; acme is untouched.
    expectNoneOf(storeText('globex'), ada);
    expect(await decision('acme', bobId[0]?.id ?? '')).toMatch(/^DECISION_/);
  });

  it('lets a gateway start after the revocation, serving the other tenants and refusing the revoked one', async () => {
    const second = await startTestGateway(nats.url, tenants, ENV);
    try {
      const acmeThere = new ScimClient(second.origin, 'acme', 'acme-scim');
      expect((await acmeThere.get('/Users')).status).toBe(200);
      expect((await new ScimClient(second.origin, 'globex', 'globex-scim').get('/Users')).status).toBe(403);
    } finally {
      await second.stop();
    }
  });

  it('gives a shredded tenant no new keys when its record is deleted from the key bucket', async () => {
    const nc = await connectNats({ servers: [nats.url], name: 'bucket-writer' }, pino({ level: 'silent' }));
    try {
      const bucket = await KvRegister.openOrCreate(nc, TENANT_KEYS_BUCKET_OPTIONS(1));
      const record = await bucket.read('globex');
      expect(record?.value).toContain('revoked_at');
      expect(await bucket.remove('globex', record!.revision)).toBe(true);
      const third = await startTestGateway(nats.url, tenants, ENV);
      try {
        expect((await new ScimClient(third.origin, 'globex', 'globex-scim').get('/Users')).status).toBe(403);
        expect(() => third.gateway.tenantKeys.cipherOf('globex')).toThrow(
          expect.objectContaining({ code: 'ERR_TENANT_KEY_REVOKED' }) as Error,
        );
        expect(await bucket.read('globex')).toBeUndefined();
      } finally {
        await third.stop();
      }
    } finally {
      await nc.close();
    }
  });
});
