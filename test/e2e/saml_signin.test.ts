/**
 * SAML 2.0 sign-in end to end: a test IdP signing real assertions (metadata fetched from its URL), two real
 * sidecar replicas on one real NATS, the AuthnRequest issued on one and its Response presented on the other,
 * the same session lifecycle as OIDC (linking, JIT, Check), and hostile responses refused with no session.
 */
import type { ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorReasonOf } from '../../src/check/index.js';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { ensureAuditStream } from '../../src/audit/index.js';
import { jitUserId } from '../../src/session/index.js';
import { startTestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { authnRequestXml, b64, requestIdOf, samlKeyPair, TestSamlIdp } from '../harness/saml_idp.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const SP = 'https://app.acme.example/saml';
const ACS = 'https://app.acme.example/saml/acs';
let nats: NatsServer;
let producer: TestProducer;
let idp: TestSamlIdp;
let a: TestSidecar;
let b: TestSidecar;
const bob = ACME.people['bob']!;
const alice = ACME.people['alice']!;

beforeAll(async () => {
  idp = new TestSamlIdp({ entityId: 'https://idp.acme.example/saml', spEntityId: SP, acsUrl: ACS });
  const metadataUrl = await idp.serveMetadata();
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await ensureAuditStream(producer.jsm);
  await producer.publishAll([...exampleDirectoryChanges()]);
  const options = {
    env: { IPSIE_NATS_URL: nats.url },
    tenants: {
      acme: {
        jit_provisioning: true,
        saml: {
          entity_id: SP,
          acs_url: ACS,
          idps: [
            {
              entity_id: idp.entityId,
              metadata_url: metadataUrl,
              acr_map: {
                'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport': 'pwd',
                'urn:test:ac:classes:phishing-resistant': 'phr',
              },
              requested_authn_context_comparison: 'minimum',
              email_attribute: 'mail',
              email_verified: true,
              link: { claim: 'mail', to: 'userName' },
              session: { default_lifetime_s: 1800, max_lifetime_s: 7200 },
            },
          ],
        },
      },
    },
  };
  [a, b] = await Promise.all([startTestSidecar(options), startTestSidecar(options)]);
  for (const s of [a, b]) await s.sidecar.deployPolicy(await examplePolicy('acme'));
});

afterAll(async () => {
  await Promise.all([a.stop(), b.stop()]);
  await idp.stop();
  await producer.close();
  await nats.dispose();
});

async function requestOn(s: TestSidecar): Promise<string> {
  return (await s.tcp.createSamlRequest({ tenant: 'acme', relay_state: '/after' })).request_id;
}

describe('SAML sign-in across replicas', () => {
  it('a request issued on one replica is answered on the other: bob is linked by mail and Check allows', async () => {
    const issued = await a.tcp.createSamlRequest({ tenant: 'acme', relay_state: '/after' });
    expect(new URL(issued.redirect_url).searchParams.get('RelayState')).toBe('/after');
    expect(issued.idp).toBe(idp.entityId);
    const started = await b.tcp.startSession({
      tenant: 'acme',
      saml_response: idp.response({
        inResponseTo: issued.request_id,
        nameId: 'pid-bob',
        attributes: { mail: bob.userName },
        sessionNotOnOrAfter: 600,
      }),
    });
    expect(started.user_id).toBe(bob.id);
    expect(started.binding).toBe('linked');
    // SessionNotOnOrAfter (10 min) caps the session below the default lifetime (30 min).
    expect(Number(started.expires_at)).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 601);
    const check = await a.tcp.check({
      tenant: 'acme',
      subject: { session_id: started.session_id },
      action: { name: 'write' },
      resource: { type: 'repository', id: 'r1' },
      min_sequence: started.sequence,
    });
    expect(check.decision).toBe('DECISION_ALLOW');
    // Irreversible actions need phr: the pwd session of this IdP steps up.
    const strong = await a.tcp.check({
      tenant: 'acme',
      subject: { session_id: started.session_id },
      action: { name: 'delete' },
      resource: { type: 'repository', id: 'r1' },
      min_sequence: started.sequence,
    });
    expect(strong.decision).not.toBe('DECISION_ALLOW');
  });

  it('a new NameID with no matching user is provisioned (JIT) under its deterministic id', async () => {
    const started = await a.tcp.startSession({
      tenant: 'acme',
      saml_response: idp.response({ inResponseTo: await requestOn(b), nameId: 'pid-newcomer' }),
    });
    expect(started.binding).toBe('provisioned');
    expect(started.user_id).toBe(jitUserId('acme', idp.entityId, 'pid-newcomer'));
  });

  it('the same Response presented on both replicas at once starts exactly one session', async () => {
    const response = idp.response({
      inResponseTo: await requestOn(a),
      nameId: 'pid-bob',
      attributes: { mail: bob.userName },
    });
    const results = await Promise.allSettled([
      a.tcp.startSession({ tenant: 'acme', saml_response: response }),
      b.tcp.startSession({ tenant: 'acme', saml_response: response }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(errorReasonOf(failed?.reason as ServiceError)).toBe('SAML_REQUEST_UNKNOWN');
    // And replayed later on the other replica.
    expect(await b.tcp.failure(b.tcp.startSession({ tenant: 'acme', saml_response: response }))).toMatchObject({
      reason: 'SAML_REQUEST_UNKNOWN',
    });
  });

  it('an assertion ID the IdP reuses for another request is claimed once across replicas (TOKEN_REPLAYED)', async () => {
    const assertionId = `_reused-${Date.now()}`;
    const first = await a.tcp.startSession({
      tenant: 'acme',
      saml_response: idp.response({ inResponseTo: await requestOn(a), nameId: 'pid-reuse', assertionId }),
    });
    expect(first.binding).toBe('provisioned');
    expect(
      await b.tcp.failure(
        b.tcp.startSession({
          tenant: 'acme',
          saml_response: idp.response({ inResponseTo: await requestOn(b), nameId: 'pid-reuse', assertionId }),
        }),
      ),
    ).toMatchObject({ reason: 'TOKEN_REPLAYED' });
  });

  it.each([
    ['unsolicited (IdP-initiated)', () => idp.response({}), 'SAML_UNSOLICITED'],
    ['unknown InResponseTo', () => idp.response({ inResponseTo: '_forged' }), 'SAML_REQUEST_UNKNOWN'],
  ])('%s is refused', async (_name, response, reason) => {
    expect(await a.tcp.failure(a.tcp.startSession({ tenant: 'acme', saml_response: response() }))).toMatchObject({
      reason,
    });
  });

  it.each([
    ['unsigned', { sign: 'none' as const }, 'SAML_SIGNATURE_INVALID'],
    ['signed by another key', { key: samlKeyPair('evil') }, 'SAML_SIGNATURE_INVALID'],
    ['wrong Audience', { audience: 'https://evil.example' }, 'SAML_AUDIENCE_INVALID'],
    ['wrong Recipient', { recipient: 'https://evil.example/acs' }, 'SAML_RECIPIENT_INVALID'],
    ['wrong Destination', { destination: 'https://evil.example/acs' }, 'SAML_DESTINATION_INVALID'],
    ['expired', { notBefore: -900, notOnOrAfter: -600 }, 'SAML_EXPIRED'],
  ])('%s is refused, and the request stays answerable by the real response', async (_name, options, reason) => {
    const id = await requestOn(a);
    expect(
      await b.tcp.failure(
        b.tcp.startSession({
          tenant: 'acme',
          saml_response: idp.response({ inResponseTo: id, nameId: 'pid-bob', ...options }),
        }),
      ),
    ).toMatchObject({ reason });
    const started = await b.tcp.startSession({
      tenant: 'acme',
      saml_response: idp.response({ inResponseTo: id, nameId: 'pid-bob', attributes: { mail: bob.userName } }),
    });
    expect(started.user_id).toBe(bob.id);
  });

  it('comment injection and signature wrapping are refused with no session', async () => {
    const id = await requestOn(a);
    const signed = idp.signedAssertion({ inResponseTo: id, nameId: 'pid-bob.evil' });
    const injected = signed.replace('pid-bob.evil', 'pid-bob<!---->.evil');
    expect(
      await a.tcp.failure(
        a.tcp.startSession({ tenant: 'acme', saml_response: b64(idp.responseXml({ inResponseTo: id }, injected)) }),
      ),
    ).toMatchObject({ reason: 'SAML_MALFORMED' });
    const evil = idp.assertion({ inResponseTo: id, nameId: 'pid-bob' });
    expect(
      await a.tcp.failure(
        a.tcp.startSession({
          tenant: 'acme',
          saml_response: b64(idp.responseXml({ inResponseTo: id }, signed + evil)),
        }),
      ),
    ).toMatchObject({ reason: 'SAML_SIGNATURE_INVALID' });
  });

  it('SAML for a tenant without it, and an ID token and a SAML Response together, are refused', async () => {
    expect(await a.tcp.failure(a.tcp.createSamlRequest({ tenant: 'globex' }))).toMatchObject({
      reason: 'SAML_NOT_CONFIGURED',
    });
    expect(
      await a.tcp.failure(a.tcp.startSession({ tenant: 'acme', id_token: 'a.b.c', saml_response: 'PHg+' })),
    ).toMatchObject({ reason: 'SIGNIN_INVALID' });
  });
});

describe('SAML step-up', () => {
  it('a STEP_UP for a SAML session carries a ready AuthnRequest (RequestedAuthnContext, ForceAuthn) that completes it', async () => {
    const signIn = async (id: string, classRef?: string): Promise<{ session_id: string; sequence: string }> =>
      await b.tcp.startSession({
        tenant: 'acme',
        saml_response: idp.response({
          inResponseTo: id,
          nameId: 'pid-alice',
          attributes: { mail: alice.userName },
          ...(classRef === undefined ? {} : { authnContextClassRef: classRef }),
        }),
      });
    const weak = await signIn(await requestOn(a));
    const approve = (session: { session_id: string; sequence: string }): Parameters<typeof a.tcp.check>[0] => ({
      tenant: 'acme',
      subject: { session_id: session.session_id },
      action: { name: 'approve' },
      resource: { type: 'deployment', id: 'd1' },
      min_sequence: session.sequence,
    });
    const answer = await a.tcp.check(approve(weak));
    expect(answer.decision).toBe('DECISION_STEP_UP');
    const request = answer.step_up?.saml_request;
    expect(request?.idp).toBe(idp.entityId);
    const xml = await authnRequestXml(request?.redirect_url ?? '');
    expect(xml).toContain('ForceAuthn="true"');
    expect(xml).toContain('Comparison="minimum"');
    expect(xml).toContain('urn:test:ac:classes:phishing-resistant</saml:AuthnContextClassRef>');
    expect(await requestIdOf(request?.redirect_url ?? '')).toBe(request?.request_id);
    // The IdP authenticates her strongly and answers that very request, on the other replica.
    const strong = await signIn(request?.request_id ?? '', 'urn:test:ac:classes:phishing-resistant');
    expect((await a.tcp.check(approve(strong))).decision).toBe('DECISION_ALLOW');
  });
});

describe('our SP metadata on the gateway', () => {
  it('is served per SAML tenant with entityID, ACS, SLO and NameID formats; 404 for a tenant without SAML', async () => {
    const gateway = await startTestGateway(nats.url, {
      acme: {
        saml: {
          entity_id: SP,
          acs_url: ACS,
          slo_url: `${SP}/slo`,
          idps: [{ entity_id: idp.entityId, metadata_xml: idp.metadata() }],
        },
      },
      globex: {},
    });
    try {
      const response = await fetch(`${gateway.origin}/saml/v1/acme/metadata`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('application/samlmetadata+xml');
      const xml = await response.text();
      expect(xml).toContain(`entityID="${SP}"`);
      expect(xml).toContain(
        `<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${ACS}"`,
      );
      expect(xml).toContain(`Location="${SP}/slo"`);
      expect(xml).toContain('urn:oasis:names:tc:SAML:2.0:nameid-format:persistent');
      expect((await fetch(`${gateway.origin}/saml/v1/globex/metadata`)).status).toBe(404);
    } finally {
      await gateway.stop();
    }
  });
});

describe('SAML Single Logout', () => {
  it('a signed LogoutRequest naming the IdP session revokes it; forged, replayed or stale ones revoke nothing', async () => {
    const SLO = `${SP}/slo`;
    const gateway = await startTestGateway(nats.url, {
      acme: {
        saml: {
          entity_id: SP,
          acs_url: ACS,
          slo_url: SLO,
          idps: [{ entity_id: idp.entityId, metadata_xml: idp.metadata() }],
        },
      },
    });
    const post = async (samlRequest: string): Promise<Response> =>
      await fetch(`${gateway.origin}/saml/v1/acme/slo`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ SAMLRequest: samlRequest }).toString(),
      });
    try {
      const started = await a.tcp.startSession({
        tenant: 'acme',
        saml_response: idp.response({
          inResponseTo: await requestOn(a),
          nameId: 'pid-bob',
          attributes: { mail: bob.userName },
          sessionIndex: 'idp-session-42',
        }),
      });
      const write = (minSequence: string): Parameters<typeof a.tcp.check>[0] => ({
        tenant: 'acme',
        subject: { session_id: started.session_id },
        action: { name: 'write' },
        resource: { type: 'repository', id: 'r1' },
        min_sequence: minSequence,
      });
      expect((await a.tcp.check(write(started.sequence))).decision).toBe('DECISION_ALLOW');
      // Forged (unsigned, another key), stale or for another SP's SLO: refused, the session stays.
      const refusals = [
        idp.logoutRequest({ nameId: 'pid-bob', sessionIndex: 'idp-session-42', sign: 'none' }),
        idp.logoutRequest({ nameId: 'pid-bob', sessionIndex: 'idp-session-42', key: samlKeyPair('evil') }),
        idp.logoutRequest({ nameId: 'pid-bob', sessionIndex: 'idp-session-42', issuedAgoS: 3600 }),
        idp.logoutRequest({
          nameId: 'pid-bob',
          sessionIndex: 'idp-session-42',
          destination: 'https://evil.example/slo',
        }),
      ];
      const statuses = [];
      for (const request of refusals) {
        const response = await post(request);
        statuses.push([response.status, ((await response.json()) as { error: string }).error]);
      }
      expect(statuses).toEqual([
        [401, 'ERR_SAML_SIGNATURE_INVALID'],
        [401, 'ERR_SAML_SIGNATURE_INVALID'],
        [401, 'ERR_SAML_EXPIRED'],
        [401, 'ERR_SAML_DESTINATION_INVALID'],
      ]);
      expect((await a.tcp.check(write(started.sequence))).decision).toBe('DECISION_ALLOW');
      const logout = idp.logoutRequest({ nameId: 'pid-bob', sessionIndex: 'idp-session-42', destination: SLO });
      const accepted = await post(logout);
      expect(accepted.status).toBe(200);
      const sequence = accepted.headers.get('x-ipsie-sequence') ?? '0';
      const after = await a.tcp.check(write(sequence));
      expect(after.decision).toBe('DECISION_DENY');
      expect(after.reasons.map((r) => r.code)).toContain('SESSION_REVOKED');
      // The same LogoutRequest again: received once.
      const replay = await post(logout);
      expect(replay.status).toBe(400);
      expect(((await replay.json()) as { error: string }).error).toBe('ERR_LOGOUT_TOKEN_INVALID');
      // A sign-in of that IdP session afterwards starts nothing.
      expect(
        await a.tcp.failure(
          a.tcp.startSession({
            tenant: 'acme',
            saml_response: idp.response({
              inResponseTo: await requestOn(a),
              nameId: 'pid-bob',
              sessionIndex: 'idp-session-42',
            }),
          }),
        ),
      ).toMatchObject({ reason: 'SESSION_REVOKED' });
    } finally {
      await gateway.stop();
    }
  });
});
