/**
 * Federation metadata that maintains itself (seed 4.1), seen from a sidecar: an IdP that rotates its keys
 * and says how long its key set stays fresh is followed without a restart, and the change is on the
 * tenant's audit trail.
 */
import { randomUUID } from 'node:crypto';
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_STREAM, ensureAuditStream } from '../../src/audit/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import { errorReasonOf } from '../../src/check/index.js';
import { change } from '../harness/changes.js';
import { FakeIdp } from '../harness/fake_idp.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const CLIENT_ID = 'acme-app';
let nats: NatsServer;
let producer: TestProducer;
let idp: FakeIdp;
let t: TestSidecar;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await ensureAuditStream(producer.jsm);
  idp = await FakeIdp.start();
  idp.cacheControl.jwks = 'max-age=1';
  await producer.publishAll([change('acme', 'tenant.upsert', { display_name: 'Acme' })]);
  t = await startTestSidecar({
    env: { IPSIE_NATS_URL: nats.url, IPSIE_JWKS_MIN_INTERVAL_MS: '100' },
    tenants: {
      acme: { jit_provisioning: true, idps: [{ issuer: idp.issuer, client_id: CLIENT_ID, jwks_uri: idp.jwksUri }] },
    },
  });
});

afterAll(async () => {
  await t.stop();
  await idp.stop();
  await producer.close();
  await nats.dispose();
});

async function signIn(): Promise<string> {
  const nonce = randomUUID();
  return (
    await t.tcp.startSession({ tenant: 'acme', id_token: await idp.idToken('sub-ann', CLIENT_ID, { nonce }), nonce })
  ).session_id;
}

describe("an IdP's key rotation", () => {
  it('is followed at the key set max-age, the retired key refused, and recorded on the tenant audit trail', async () => {
    await signIn();
    const retired = idp.keys.jwks().keys[0]?.kid ?? '';
    const fresh = await idp.addKey('PS256');
    idp.retire(retired);
    // A token of the retired key: refused once the set's one-second freshness has passed (not after 300 s).
    const deadline = Date.now() + 10_000;
    let refused: unknown;
    while (refused === undefined && Date.now() < deadline) {
      const nonce = randomUUID();
      const token = await idp.idToken('sub-ann', CLIENT_ID, { nonce }, { kid: retired });
      refused = await t.tcp.startSession({ tenant: 'acme', id_token: token, nonce }).then(
        () => undefined,
        (error: unknown) => errorReasonOf(error as ServiceError),
      );
      if (refused === undefined) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(refused).toBe('TOKEN_KEY_UNKNOWN');
    const nonce = randomUUID();
    const token = await idp.idToken('sub-ann', CLIENT_ID, { nonce }, { kid: fresh });
    expect((await t.tcp.startSession({ tenant: 'acme', id_token: token, nonce })).session_id).not.toBe('');

    let record: AuditRecord | undefined;
    while (record === undefined && Date.now() < deadline + 5_000) {
      const message = await producer.jsm.streams
        .getMessage(AUDIT_STREAM, { last_by_subj: 'ipsie.audit.acme.idp_change' })
        .catch(() => null);
      record = message?.json<AuditRecord>();
      if (record === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(record).toMatchObject({
      tenant: 'acme',
      kind: 'idp.change',
      data: { kind: 'keys', issuer: idp.issuer, jwksUri: idp.jwksUri, added: [fresh], removed: [retired] },
    });
  });
});
