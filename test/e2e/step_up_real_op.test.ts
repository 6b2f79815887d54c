/**
 * Step-up with a stock, certified OpenID Provider (panva `oidc-provider`): the
 * STEP_UP answer's `authorization_params` make the OP authenticate at the
 * level asked for, where `acr_values` alone (a voluntary claim) lets it answer
 * from the existing, weaker session - and the app would loop on STEP_UP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { ensureAuditStream } from '../../src/audit/index.js';
import type { CheckResponseMessage } from '../../src/check/index.js';
import { NatsServer } from '../harness/nats_server.js';
import { PASSWORD_ACR, PHISHING_RESISTANT_ACR, TestOp } from '../harness/oidc_provider.js';
import { examplePolicy } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';
import { change } from '../harness/changes.js';

const alice = ACME.people['alice']!;
let nats: NatsServer;
let producer: TestProducer;
let op: TestOp;
let t: TestSidecar;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await ensureAuditStream(producer.jsm);
  await producer.publishAll(exampleDirectoryChanges());
  op = await TestOp.start({ sub: 'op-alice', email: alice.userName });
  t = await startTestSidecar({
    env: { IPSIE_NATS_URL: nats.url },
    tenants: {
      acme: {
        idps: [
          { issuer: op.issuer, client_id: op.clientId, discovery: true, link: { claim: 'email', to: 'userName' } },
        ],
      },
    },
  });
  await t.sidecar.deployPolicy(await examplePolicy('acme'));
});

afterAll(async () => {
  await t.stop();
  await op.stop();
  await producer.close();
  await nats.dispose();
});

async function signInAndApprove(params: Readonly<Record<string, string>>): Promise<CheckResponseMessage> {
  const { idToken, nonce } = await op.signIn(params);
  const started = await t.tcp.startSession({ tenant: 'acme', id_token: idToken, nonce });
  return await t.tcp.check({
    tenant: 'acme',
    subject: { session_id: started.session_id },
    action: { name: 'approve' },
    resource: { type: 'deployment', id: 'd-9' },
  });
}

describe('step-up against a real OP', () => {
  it('the STEP_UP parameters make the OP authenticate at the level asked for; acr_values alone do not', async () => {
    // Signed in with a password: approving a deployment needs phishing-resistant MFA within 15 minutes.
    const first = await signInAndApprove({});
    expect(op.logins).toEqual([PASSWORD_ACR]);
    expect(first.decision).toBe('DECISION_STEP_UP');
    const params = first.step_up?.authorization_params ?? {};
    expect(first.step_up).toMatchObject({ acr_values: [PHISHING_RESISTANT_ACR], max_age: 900 });
    expect(params).toEqual({
      max_age: '900',
      claims: JSON.stringify({ id_token: { acr: { essential: true, values: [PHISHING_RESISTANT_ACR] } } }),
    });

    // What RFC 9470's acr_values and max_age alone get from a stock OP with a live session: no new login, the
    // same password-level ID token, STEP_UP again - the loop.
    const naive = await signInAndApprove({
      acr_values: (first.step_up?.acr_values ?? []).join(' '),
      max_age: String(first.step_up?.max_age ?? ''),
    });
    expect(op.logins).toEqual([PASSWORD_ACR]);
    expect(naive.decision).toBe('DECISION_STEP_UP');
    expect(naive.reasons.map((r) => r.code)).toContain('AUTHN_LEVEL_INSUFFICIENT');

    // The parameters as the sidecar gave them: the OP must meet the essential acr, so the user logs in again.
    const stepped = await signInAndApprove(params);
    expect(op.logins).toEqual([PASSWORD_ACR, PHISHING_RESISTANT_ACR]);
    expect(stepped.decision).toBe('DECISION_ALLOW');
  });

  it('a forced re-authentication (IPSIE SL2) asks the OP for prompt=login: a fresh login, not the live session', async () => {
    const before = op.logins.length;
    const sequence = await producer.publishAll([
      change('acme', 'user.reauthenticate', { user_id: alice.id, after: Math.floor(Date.now() / 1000) }),
    ]);
    await t.sidecar.ingestor?.waitForSequence(sequence, 10_000);
    // The app signs in as usual: the OP answers from its live session, authenticated before the request.
    const { idToken, nonce } = await op.signIn({});
    expect(op.logins.length).toBe(before);
    const started = await t.tcp.startSession({ tenant: 'acme', id_token: idToken, nonce });
    const read = {
      tenant: 'acme',
      subject: { session_id: started.session_id },
      action: { name: 'write' },
      resource: { type: 'repository' },
    };
    const asked = await t.tcp.check(read);
    expect(asked.decision).toBe('DECISION_STEP_UP');
    expect(asked.reasons.map((r) => r.code)).toEqual(['REAUTHENTICATION_REQUIRED']);
    const params = asked.step_up?.authorization_params ?? {};
    expect(params).toMatchObject({ prompt: 'login', max_age: '0' });
    // The OP's session is live, yet prompt=login makes the user authenticate again, after the request.
    const renewed = await op.signIn(params);
    expect(op.logins.length).toBe(before + 1);
    const again = await t.tcp.startSession({ tenant: 'acme', id_token: renewed.idToken, nonce: renewed.nonce });
    expect((await t.tcp.check({ ...read, subject: { session_id: again.session_id } })).decision).toBe('DECISION_ALLOW');
  });
});
