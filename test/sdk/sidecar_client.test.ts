import { join } from 'node:path';
import { InterceptingCall } from '@grpc/grpc-js';
import type { Interceptor } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleGroupId } from '../../demo/example_directory.js';
import { SidecarClient, SidecarClientError, sessionTerminator } from '../../sdk/src/index.js';
import type { CheckInput, SessionEvent } from '../../sdk/src/index.js';
import { change, session } from '../harness/changes.js';
import { EXAMPLE_CALLER_TOKEN, startExampleSidecar } from '../harness/example_sidecar.js';
import type { ExampleSidecar } from '../harness/example_sidecar.js';

/** How long the sidecar waits for a min_sequence it has not applied before refusing it. */
const SEQUENCE_WAIT_MS = 3_000;

let example: ExampleSidecar;
let client: SidecarClient;

const bob = ACME.people['bob']!;
const carol = ACME.people['carol']!;
const alice = ACME.people['alice']!;

beforeAll(async () => {
  example = await startExampleSidecar({ IPSIE_MIN_SEQUENCE_WAIT_MS: String(SEQUENCE_WAIT_MS) });
  client = new SidecarClient({ socketPath: example.socketPath, callerToken: EXAMPLE_CALLER_TOKEN });
});

afterAll(async () => {
  client.close();
  await example.stop();
});

const asUser = (userId: string, action: string, type: string, minSequence?: number): CheckInput => ({
  tenant: 'acme',
  subject: { userId },
  action,
  resource: { type, id: `${type}-1`, properties: { owner: userId, tags: ['a', 1, true, null] } },
  context: { ip: '10.0.0.1', userAgent: 'vitest' },
  minSequence,
});

async function failureOf(call: Promise<unknown>): Promise<SidecarClientError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof SidecarClientError) return error;
    throw error;
  }
  throw new Error('the call succeeded but was expected to fail');
}

describe('SidecarClient against a real sidecar process', () => {
  it('check answers ALLOW, DENY with its reason, and STEP_UP with the RFC 9470 challenge and authorization parameters', async () => {
    const allowed = await client.check(asUser(bob.id, 'read', 'repository'));
    expect(allowed).toMatchObject({ decision: 'ALLOW', reasons: [{ code: 'POLICY_ALLOWED' }] });
    expect(allowed.decisionId).not.toBe('');
    expect(allowed.sequence).toBeGreaterThan(0);

    const denied = await client.check(asUser(bob.id, 'pay', 'invoice'));
    expect(denied).toMatchObject({ decision: 'DENY', reasons: [{ code: 'POLICY_DENIED' }] });

    const stepUp = await client.check(asUser(carol.id, 'pay', 'invoice'));
    if (stepUp.decision !== 'STEP_UP') throw new Error(`expected STEP_UP, got ${stepUp.decision}`);
    expect(stepUp.reasons.map((r) => r.code)).toEqual(['AUTHENTICATION_REQUIRED']);
    expect(stepUp.stepUp).toMatchObject({ acrValues: ['phr'], maxAge: 900 });
    // This sidecar's IdP default: the acr as an essential claim (an OP may ignore a bare acr_values).
    expect(stepUp.stepUp.authorizationParams).toMatchObject({ max_age: '900' });
    expect(JSON.parse(stepUp.stepUp.authorizationParams['claims']!)).toEqual({
      id_token: { acr: { essential: true, values: ['phr'] } },
    });
    expect(stepUp.stepUp.wwwAuthenticate).toContain('error="insufficient_user_authentication"');
    expect(stepUp.stepUp.wwwAuthenticate).toContain('acr_values="phr"');
  });

  it('asks for a transaction token with an ALLOW and presents it as the subject downstream, limited to its scope', async () => {
    const allowed = await client.check({ ...asUser(bob.id, 'read', 'repository'), txnToken: { purpose: 'export' } });
    expect(allowed.decision).toBe('ALLOW');
    const txnToken = allowed.txnToken ?? '';
    expect(txnToken.split('.')).toHaveLength(3);
    const notAsked = await client.check(asUser(bob.id, 'read', 'repository'));
    expect(notAsked.txnToken).toBeUndefined();
    const downstream = { tenant: 'acme', subject: { txnToken }, resource: { type: 'repository', id: 'repository-1' } };
    expect(await client.check({ ...downstream, action: 'read' })).toMatchObject({ decision: 'ALLOW' });
    expect(await client.check({ ...downstream, action: 'write' })).toMatchObject({
      decision: 'DENY',
      reasons: [{ code: 'TXN_TOKEN_SCOPE_EXCEEDED' }],
    });
    const refused = await failureOf(client.check({ ...downstream, action: 'read', txnToken: {} }));
    expect(refused.reason).toBe('TXN_TOKEN_UNSUPPORTED');
  });

  it('names the subject by identifier, as AuthZEN does: bob by the IdP subject identifier his IdP provisioned', async () => {
    const byIdentity = await client.check({
      tenant: 'acme',
      subject: { identifier: { type: 'identity', id: 'bob' } },
      action: 'read',
      resource: { type: 'repository' },
    });
    expect(byIdentity).toMatchObject({ decision: 'ALLOW', reasons: [{ code: 'POLICY_ALLOWED' }] });
    const nobody = await client.check({
      tenant: 'acme',
      subject: { identifier: { type: 'identity', id: 'nobody' } },
      action: 'read',
      resource: { type: 'repository' },
    });
    expect(nobody).toMatchObject({ decision: 'DENY', reasons: [{ code: 'SUBJECT_UNKNOWN' }] });
  });

  it('batchCheck answers each item in request order at one sequence', async () => {
    const batch = await client.batchCheck({
      tenant: 'acme',
      subject: { userId: bob.id },
      items: [
        { action: 'read', resource: { type: 'repository' } },
        { action: { name: 'pay' }, resource: { type: 'invoice', id: 'inv-1' } },
      ],
    });
    expect(batch.results.map((r) => r.decision)).toEqual(['ALLOW', 'DENY']);
    expect(batch.policyVersion).not.toBe('');
  });

  it('minSequence makes the Check see a change just published', async () => {
    const added = await example.producer.publish(
      change('acme', 'member.add', { group_id: exampleGroupId(ACME, 'Finance'), user_id: alice.id }),
    );
    const result = await client.check(asUser(alice.id, 'read', 'invoice', added.sequence));
    expect(result.decision).toBe('ALLOW');
    expect(result.sequence).toBeGreaterThanOrEqual(added.sequence);
  });

  it('a minSequence the store never reaches fails with SEQUENCE_NOT_REACHED, not retried into a decision', async () => {
    const failure = await failureOf(
      client.check(asUser(bob.id, 'read', 'repository', 1_000_000), { deadlineMs: 20_000 }),
    );
    expect(failure.reason).toBe('SEQUENCE_NOT_REACHED');
    expect(failure.retryable).toBe(false);
  });

  it('a call that outlives its deadline fails with DEADLINE_EXCEEDED', async () => {
    // The sidecar holds the call for SEQUENCE_WAIT_MS; the deadline is far shorter.
    const failure = await failureOf(client.check(asUser(bob.id, 'read', 'repository', 1_000_000), { deadlineMs: 200 }));
    expect(failure.reason).toBe('DEADLINE_EXCEEDED');
  });

  it('an aborted call fails with CANCELLED', async () => {
    const abort = new AbortController();
    const call = client.check(asUser(bob.id, 'read', 'repository', 1_000_000), { signal: abort.signal });
    abort.abort();
    expect((await failureOf(call)).reason).toBe('CANCELLED');
  });

  it('over TCP with mutual TLS, the client certificate and the caller token are both presented', async () => {
    const withToken = new SidecarClient({
      address: example.address,
      tls: example.tls,
      callerToken: EXAMPLE_CALLER_TOKEN,
    });
    const withoutToken = new SidecarClient({ address: example.address, tls: example.tls });
    const withoutCertificate = new SidecarClient({
      address: example.address,
      tls: { caFile: example.tls.caFile },
      callerToken: EXAMPLE_CALLER_TOKEN,
      retry: { maxAttempts: 1 },
    });
    try {
      expect((await withToken.check(asUser(bob.id, 'read', 'repository'))).decision).toBe('ALLOW');
      const unauthenticated = await failureOf(withoutToken.check(asUser(bob.id, 'read', 'repository')));
      expect(unauthenticated.reason).toBe('CALLER_UNAUTHENTICATED');
      // The listener refuses the handshake: no call reaches the service.
      const refused = await failureOf(withoutCertificate.check(asUser(bob.id, 'read', 'repository')));
      expect(refused.reason).toBe('SIDECAR_UNREACHABLE');
    } finally {
      withToken.close();
      withoutToken.close();
      withoutCertificate.close();
    }
  });

  it('a request the sidecar refuses fails with its ErrorInfo reason', async () => {
    const failure = await failureOf(client.check({ ...asUser(bob.id, 'read', 'repository'), tenant: 'initech' }));
    expect(failure.reason).toBe('TENANT_UNKNOWN');
  });

  it('a sidecar that cannot be reached fails with SIDECAR_UNREACHABLE after the retries', async () => {
    const nowhere = new SidecarClient({ socketPath: join(example.socketPath, '..', 'missing.sock') });
    try {
      const failure = await failureOf(nowhere.check(asUser(bob.id, 'read', 'repository')));
      expect(failure.reason).toBe('SIDECAR_UNREACHABLE');
      expect(failure.retryable).toBe(true);
    } finally {
      nowhere.close();
    }
  });

  it('sends a Check again while the sidecar is unreachable, up to maxAttempts, and a StartSession only once', async () => {
    const sent: string[] = [];
    const counting: Interceptor = (options, nextCall) => {
      sent.push(options.method_definition.path);
      return new InterceptingCall(nextCall(options));
    };
    const nowhere = new SidecarClient({
      socketPath: join(example.socketPath, '..', 'missing.sock'),
      retry: { maxAttempts: 3, backoffMs: 1 },
      interceptors: [counting],
    });
    try {
      expect((await failureOf(nowhere.check(asUser(bob.id, 'read', 'repository')))).reason).toBe('SIDECAR_UNREACHABLE');
      expect(sent).toEqual(Array(3).fill('/ipsie.sidecar.v1.Authorization/Check'));
      sent.length = 0;
      const signIn = nowhere.startSession({ tenant: 'acme', idToken: 'eyJ.single-use.token', nonce: 'n' });
      expect((await failureOf(signIn)).reason).toBe('SIDECAR_UNREACHABLE');
      expect(sent).toEqual(['/ipsie.sidecar.v1.Authorization/StartSession']);
    } finally {
      nowhere.close();
    }
  });

  it('startSession fails with the sidecar reason for a malformed ID token', async () => {
    const failure = await failureOf(client.startSession({ tenant: 'acme', idToken: 'not-a-jwt', nonce: 'n' }));
    expect(failure.reason).toBe('TOKEN_MALFORMED');
  });

  it('startSession({ samlResponse }) and createSamlRequest reach the sidecar: a tenant without SAML says so', async () => {
    expect((await failureOf(client.startSession({ tenant: 'acme', samlResponse: 'PHg+' }))).reason).toBe(
      'SAML_NOT_CONFIGURED',
    );
    expect((await failureOf(client.createSamlRequest({ tenant: 'acme', relayState: '/x' }))).reason).toBe(
      'SAML_NOT_CONFIGURED',
    );
  });

  it('sessionTerminator ends the app session the sidecar reports revoked', async () => {
    const ended: SessionEvent[] = [];
    let revoked: (event: SessionEvent) => void = () => undefined;
    const seen = new Promise<SessionEvent>((resolve) => {
      revoked = resolve;
    });
    const terminator = sessionTerminator(client, {
      tenant: 'acme',
      userIds: [alice.id],
      endSessions: (event) => {
        ended.push(event);
        if (event.kind === 'SESSION_REVOKED') revoked(event);
      },
    });
    try {
      await terminator.connected;
      const start = session('acme', 'sess-alice-sdk', alice.id);
      await example.producer.publish(start);
      const revoke = await example.producer.publish(
        change('acme', 'session.revoke', {
          ...start.data,
          revoked_at: Math.floor(Date.now() / 1000),
          revoke_reason: 'CAEP session-revoked',
        }),
      );
      expect(await seen).toMatchObject({
        kind: 'SESSION_REVOKED',
        tenant: 'acme',
        userId: alice.id,
        sessionId: 'sess-alice-sdk',
        reason: 'CAEP session-revoked',
        sequence: revoke.sequence,
      });
    } finally {
      await terminator.close();
    }
  });
});
