/**
 * Transaction tokens between real sidecar processes on one stream: minted by one after an ALLOW, accepted by
 * another (no IdP exists here: none is asked), limited to the decision's action and resource, refused when
 * tampered, mistyped, expired, of another tenant, or when their session was revoked; keys rotating under
 * live traffic, their public halves served by the real gateway.
 */
import { status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges, GLOBEX } from '../../demo/example_directory.js';
import type { CheckRequestMessage, CheckResponseMessage } from '../../src/check/index.js';
import { errorReasonOf } from '../../src/check/index.js';
import { change, session } from '../harness/changes.js';
import { sha256, spawnGatewayProcess } from '../harness/gateway.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { SidecarProcess } from '../harness/sidecar_process.js';
import { TestProducer } from '../harness/stream.js';

const ROTATION_S = 5;
const LIFETIME_S = 30;
/** Both sidecars: tokens live 30 s, keys rotate every 5 s, no clock leeway (one machine, one clock). */
const SIDECAR_ENV = {
  IPSIE_TXN_KEY_ROTATION_S: String(ROTATION_S),
  IPSIE_TXN_TOKEN_LIFETIME_S: String(LIFETIME_S),
  IPSIE_CLOCK_TOLERANCE_S: '0',
};

const bob = ACME.people['bob']!;
const carol = ACME.people['carol']!;
const alice = ACME.people['alice']!;
const erin = GLOBEX.people['erin']!;

let nats: NatsServer;
let producer: TestProducer;
let gateway: GatewayProcess;
let a: SidecarProcess;
let b: SidecarProcess;
let sequence = 0;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  const now = Math.floor(Date.now() / 1000);
  const strong = { acr: 'phr', amr: ['hwk'], auth_time: now - 60, issuer: ACME.issuer };
  await producer.publishAll([
    ...exampleDirectoryChanges(),
    session('acme', 's-bob', bob.id, strong),
    session('acme', 's-carol', carol.id, strong),
    // Signed in with a password only: approving a deployment asks her to step up.
    session('acme', 's-alice', alice.id, { acr: 'pwd', amr: ['pwd'], auth_time: now - 60, issuer: ACME.issuer }),
    session('globex', 's-erin', erin.id, { ...strong, issuer: GLOBEX.issuer }),
  ]);
  sequence = await producer.lastSequence();
  // The gateway creates the key bucket and serves the public keys; the sidecars create and rotate the keys.
  gateway = await spawnGatewayProcess(nats.url, {
    acme: { display_name: 'Acme', scim: { bearer_token_sha256: [sha256('scim')] } },
    globex: { display_name: 'Globex', scim: { bearer_token_sha256: [sha256('scim')] } },
  });
  [a, b] = await Promise.all([
    SidecarProcess.spawn({ natsUrl: nats.url, tenants: ['acme', 'globex'], env: SIDECAR_ENV }),
    SidecarProcess.spawn({ natsUrl: nats.url, tenants: ['acme', 'globex'], env: SIDECAR_ENV }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.all([a.stop(), b.stop(), gateway.stop()]);
  await producer.close();
  await nats.dispose();
});

function request(
  subject: NonNullable<CheckRequestMessage['subject']>,
  action: string,
  type: string,
  id: string,
  extra: Partial<CheckRequestMessage> = {},
): CheckRequestMessage {
  return {
    tenant: 'acme',
    subject,
    action: { name: action },
    resource: { type, id },
    min_sequence: String(sequence),
    ...extra,
  };
}

/** bob (a developer) may write repository r1; sidecar A answers and mints. */
async function bobWritesR1(purpose = 'ci'): Promise<CheckResponseMessage> {
  const response = await a.client.check(
    request({ session_id: 's-bob' }, 'write', 'repository', 'r1', { txn_token: { purpose } }),
  );
  expect(response.decision).toBe('DECISION_ALLOW');
  return response;
}

const reasonsOf = (response: CheckResponseMessage): string[] => response.reasons.map((r) => r.code);

describe('minting', () => {
  it('an ALLOW that asks for one carries a txntoken+jwt naming the tenant, user, IdP binding, session, decision and scope', async () => {
    const response = await bobWritesR1();
    const token = response.txn_token;
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: 'txntoken+jwt', alg: 'ES256' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: 'urn:ipsie-sidecar:txn',
      aud: 'urn:ipsie-sidecar:txn:acme',
      sub: bob.id,
      tctx: {
        tenant: 'acme',
        action: 'write',
        resource: { type: 'repository', id: 'r1' },
        decision_id: response.decision_id,
        policy_version: response.policy_version,
        sid: 's-bob',
        idp: { iss: ACME.issuer, sub: 'sub-bob' },
        purpose: 'ci',
      },
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(LIFETIME_S);
    expect(typeof claims['txn']).toBe('string');
  });

  it('an ALLOW that does not ask carries none', async () => {
    const response = await a.client.check(request({ session_id: 's-bob' }, 'write', 'repository', 'r1'));
    expect(response.decision).toBe('DECISION_ALLOW');
    expect(response.txn_token).toBe('');
  });

  it('a DENY or a STEP_UP never carries one, though asked', async () => {
    const denied = await a.client.check(
      request({ session_id: 's-carol' }, 'write', 'repository', 'r1', { txn_token: { purpose: '' } }),
    );
    expect(denied.decision).toBe('DECISION_DENY');
    expect(denied.txn_token).toBe('');
    const stepUp = await a.client.check(
      request({ session_id: 's-alice' }, 'approve', 'deployment', 'd1', { txn_token: { purpose: '' } }),
    );
    expect(stepUp.decision).toBe('DECISION_STEP_UP');
    expect(stepUp.txn_token).toBe('');
  });

  it('is refused for a transaction-token subject (no exchange of one token for another)', async () => {
    const token = (await bobWritesR1()).txn_token;
    const refused = await b.client
      .check(request({ txn_token: token }, 'write', 'repository', 'r1', { txn_token: { purpose: '' } }))
      .then(
        () => undefined,
        (error: unknown) => error as ServiceError,
      );
    expect(refused).toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(errorReasonOf(refused ?? {})).toBe('TXN_TOKEN_UNSUPPORTED');
  });
});

describe('a second sidecar', () => {
  it('accepts the token as the subject for the same action and resource, and the policy decides for its user', async () => {
    const minted = await bobWritesR1();
    const token = minted.txn_token;
    const response = await b.client.check(request({ txn_token: token }, 'write', 'repository', 'r1'));
    expect(response.decision).toBe('DECISION_ALLOW');
    expect(reasonsOf(response)).toEqual(['POLICY_ALLOWED']);
    // B logged the decision for bob's session (the token's subject, not a caller-named one), with the call chain.
    const logged = await b.waitForLog((l) => l['decision_id'] === response.decision_id);
    expect(logged).toMatchObject({
      user_id: bob.id,
      session_id: 's-bob',
      txn: decodeJwt(token)['txn'],
      txn_decision_id: minted.decision_id,
    });
  });

  it('denies anything outside the token’s scope with TXN_TOKEN_SCOPE_EXCEEDED, even what the user may do', async () => {
    const token = (await bobWritesR1()).txn_token;
    for (const [action, type, id] of [
      ['read', 'repository', 'r1'],
      ['write', 'repository', 'r2'],
      ['write', 'repository', ''],
      ['delete', 'repository', 'r1'],
      ['write', 'invoice', 'r1'],
    ] as const) {
      const response = await b.client.check(request({ txn_token: token }, action, type, id));
      expect(response.decision, `${action} ${type}/${id}`).toBe('DECISION_DENY');
      expect(reasonsOf(response)).toEqual(['TXN_TOKEN_SCOPE_EXCEEDED']);
    }
  });

  it('decides a BatchCheck per item: in scope by the policy, out of scope denied', async () => {
    const token = (await bobWritesR1()).txn_token;
    const batch = await b.client.batchCheck({
      tenant: 'acme',
      subject: { txn_token: token },
      items: [
        { action: { name: 'write' }, resource: { type: 'repository', id: 'r1' } },
        { action: { name: 'read' }, resource: { type: 'repository', id: 'r1' } },
      ],
      min_sequence: String(sequence),
    });
    expect(batch.results.map((r) => r.decision)).toEqual(['DECISION_ALLOW', 'DECISION_DENY']);
    expect(batch.results[1]?.reasons.map((r) => r.code)).toEqual(['TXN_TOKEN_SCOPE_EXCEEDED']);
  });

  it('refuses a token whose signature or claims were altered', async () => {
    const token = (await bobWritesR1()).txn_token;
    const [h, p, s] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const widened = { ...claims, tctx: { ...(claims['tctx'] as object), action: 'delete' } };
    const tampered = `${h}.${Buffer.from(JSON.stringify(widened)).toString('base64url')}.${s}`;
    const flipped = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
    for (const forged of [tampered, flipped]) {
      const response = await b.client.check(request({ txn_token: forged }, 'delete', 'repository', 'r1'));
      expect(response.decision).toBe('DECISION_DENY');
      expect(reasonsOf(response)).toEqual(['TOKEN_SIGNATURE_INVALID']);
    }
  });

  it('refuses other typed tokens (ID token, access token, logout token, SET) as transaction tokens', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    for (const typ of ['JWT', 'at+jwt', 'logout+jwt', 'secevent+jwt']) {
      const other = await new SignJWT({ txn: 'x' })
        .setProtectedHeader({
          alg: 'ES256',
          typ,
          kid: decodeProtectedHeader((await bobWritesR1()).txn_token).kid ?? '',
        })
        .setSubject(bob.id)
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(privateKey);
      const response = await b.client.check(request({ txn_token: other }, 'write', 'repository', 'r1'));
      expect(reasonsOf(response), typ).toEqual(['TOKEN_TYPE_INVALID']);
    }
  });

  it('refuses another tenant’s token', async () => {
    const globex = await a.client.check({
      tenant: 'globex',
      subject: { session_id: 's-erin' },
      action: { name: 'read' },
      resource: { type: 'document', id: 'g1', properties: { fields: { department: { stringValue: 'R&D' } } } },
      min_sequence: String(sequence),
      txn_token: { purpose: '' },
    });
    expect(globex.decision).toBe('DECISION_ALLOW');
    const response = await b.client.check(request({ txn_token: globex.txn_token }, 'read', 'document', 'g1'));
    expect(response.decision).toBe('DECISION_DENY');
    expect(reasonsOf(response)).toEqual(['TOKEN_KEY_UNKNOWN']);
  });

  it('denies with the session reasons once the token’s session is revoked', async () => {
    const now = Math.floor(Date.now() / 1000);
    const started = await producer.publish(
      session('acme', 's-bob-2', bob.id, { acr: 'phr', amr: ['hwk'], auth_time: now - 60, issuer: ACME.issuer }),
    );
    const minted = await a.client.check(
      request({ session_id: 's-bob-2' }, 'write', 'repository', 'r1', {
        txn_token: { purpose: '' },
        min_sequence: String(started.sequence),
      }),
    );
    const token = minted.txn_token;
    expect(token).not.toBe('');
    const revoked = await producer.publish(
      change('acme', 'session.revoke', {
        ...session('acme', 's-bob-2', bob.id, { acr: 'phr', amr: ['hwk'], auth_time: now - 60, issuer: ACME.issuer })
          .data,
        revoked_at: now,
        revoke_reason: 'CAEP session-revoked',
      }),
    );
    const response = await b.client.check(
      request({ txn_token: token }, 'write', 'repository', 'r1', { min_sequence: String(revoked.sequence) }),
    );
    expect(response.decision).toBe('DECISION_DENY');
    expect(reasonsOf(response)).toContain('SESSION_REVOKED');
  });
});

describe('expiry and rotation', () => {
  it('an expired token is refused (a third sidecar mints 3-second tokens)', async () => {
    const c = await SidecarProcess.spawn({
      natsUrl: nats.url,
      env: { ...SIDECAR_ENV, IPSIE_TXN_TOKEN_LIFETIME_S: '3' },
    });
    try {
      const minted = await c.client.check(
        request({ session_id: 's-bob' }, 'write', 'repository', 'r1', { txn_token: { purpose: '' } }),
      );
      const token = minted.txn_token;
      const exp = decodeJwt(token).exp ?? 0;
      // Asked until B answers otherwise; B's clock is this machine's.
      let response: CheckResponseMessage;
      for (;;) {
        response = await b.client.check(request({ txn_token: token }, 'write', 'repository', 'r1'));
        if (response.decision !== 'DECISION_ALLOW') break;
        expect(Date.now() / 1000).toBeLessThan(exp + 1);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(Date.now() / 1000).toBeGreaterThanOrEqual(exp);
      expect(reasonsOf(response)).toEqual(['TOKEN_EXPIRED']);
    } finally {
      await c.stop();
    }
  });

  it('after a rotation new tokens name the successor key, tokens of the old key still verify, and the gateway serves both public keys', async () => {
    const first = (await bobWritesR1()).txn_token;
    const oldKid = decodeProtectedHeader(first).kid;
    const deadline = Date.now() + (ROTATION_S + 5) * 1000;
    let second = first;
    while (decodeProtectedHeader(second).kid === oldKid) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 250));
      second = (await bobWritesR1()).txn_token;
    }
    const newKid = decodeProtectedHeader(second).kid;
    for (const token of [first, second]) {
      const response = await b.client.check(request({ txn_token: token }, 'write', 'repository', 'r1'));
      expect(response.decision).toBe('DECISION_ALLOW');
    }
    const jwks = (await (await fetch(`${gateway.origin}/txn-tokens/v1/acme/jwks`)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys.map((k) => k['kid'])).toEqual(expect.arrayContaining([oldKid, newKid]));
    for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
    expect((await fetch(`${gateway.origin}/txn-tokens/v1/nobody/jwks`)).status).toBe(404);
  });
});
