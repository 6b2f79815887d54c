/**
 * IPSIE SL1/SL2 on the RP side: ID tokens and access tokens from fake IdPs that sign with real keys,
 * verified by a real sidecar fed by real NATS.
 */
import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges, exampleGroupId } from '../../demo/example_directory.js';
import type { Change } from '../../src/changes/index.js';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { ensureAuditStream } from '../../src/audit/index.js';
import { jitUserId } from '../../src/session/index.js';
import { change, user } from '../harness/changes.js';
import { FakeIdp, hmacWithPublicKey, unsignedToken } from '../harness/fake_idp.js';
import { NatsServer } from '../harness/nats_server.js';
import { examplePolicy } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const CLIENT_ID = 'acme-app';
const API = 'https://api.acme.example';

let nats: NatsServer;
let producer: TestProducer;
let idpA: FakeIdp; // acme's primary IdP (Entra-like)
let idpB: FakeIdp; // acme's second IdP
let idpOther: FakeIdp; // globex's IdP
let idpDiscovered: FakeIdp; // configured through discovery
let t: TestSidecar;
let now = Math.floor(Date.now() / 1000);

const bob = ACME.people['bob']!;
const alice = ACME.people['alice']!;

/** The sidecar of these tests; every replica is started with the same. */
function sidecarOptions(): Parameters<typeof startTestSidecar>[0] {
  return {
    clock: () => now,
    env: { IPSIE_NATS_URL: nats.url, IPSIE_JWKS_COOLDOWN_MS: '0', IPSIE_JWKS_MIN_INTERVAL_MS: '0' },
    tenants: {
      acme: {
        idps: [
          {
            issuer: idpA.issuer,
            client_id: CLIENT_ID,
            jwks_uri: idpA.jwksUri,
            link: { claim: 'oid', to: 'externalId' },
            session: { default_lifetime_s: 1800, max_lifetime_s: 7200 },
          },
          {
            issuer: idpB.issuer,
            client_id: CLIENT_ID,
            jwks_uri: idpB.jwksUri,
            link: { claim: 'email', to: 'userName' },
            access_tokens: { audience: API, client_ids: ['acme-mobile'] },
          },
          { issuer: idpDiscovered.issuer, client_id: CLIENT_ID, discovery: true },
        ],
      },
      globex: {
        idps: [
          {
            issuer: idpOther.issuer,
            client_id: 'globex-app',
            jwks_uri: idpOther.jwksUri,
            algorithms: ['PS256', 'RS256'],
          },
        ],
        jit_provisioning: true,
      },
    },
  };
}

beforeAll(async () => {
  [idpA, idpB, idpOther, idpDiscovered] = await Promise.all([
    FakeIdp.start(),
    FakeIdp.start(),
    FakeIdp.start(),
    FakeIdp.start(),
  ]);
  await idpA.addKey('ES256');
  await idpA.addKey('EdDSA');
  await idpA.addKey('RS256');
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  // Where the gateway would have created it: sign-in assertions are claimed there.
  await ensureAuditStream(producer.jsm);
  await producer.publishAll([
    ...exampleDirectoryChanges(),
    change('acme', 'binding.upsert', { issuer: idpA.issuer, subject: 'sub-bob', user_id: bob.id }),
    change('acme', 'binding.upsert', { issuer: idpA.issuer, subject: 'sub-alice', user_id: alice.id }),
    // A user pre-provisioned by SCIM, not yet signed in: linked by the IdP's "oid" claim.
    user('acme', 'dana-id', { user_name: 'dana@acme.example', external_id: 'oid-dana' }),
    change('acme', 'member.add', { group_id: exampleGroupId(ACME, 'Engineering'), user_id: 'dana-id' }),
    user('acme', 'erik-id', { user_name: 'erik@acme.example', external_id: 'oid-erik', active: false }),
    // Provisioned by SCIM, linked by IdP B's verified e-mail at first sign-in.
    user('acme', 'fay-id', { user_name: 'fay@acme.example' }),
    change('acme', 'member.add', { group_id: exampleGroupId(ACME, 'Engineering'), user_id: 'fay-id' }),
    change('acme', 'binding.upsert', { issuer: idpB.issuer, subject: 'b-bob', user_id: bob.id }),
    change('globex', 'tenant.upsert', { display_name: 'Globex' }),
    // Provisioned by SCIM at globex (which provisions at sign-in too), under a userName that is not her address.
    user('globex', 'globex-ceo', {
      user_name: 'cfreeman',
      attributes: { emails: [{ value: 'ceo@globex.example', type: 'work', primary: true }] },
    }),
  ]);
  t = await startTestSidecar(sidecarOptions());
  await t.sidecar.deployPolicy(await examplePolicy('acme'));
  await t.sidecar.deployPolicy(await examplePolicy('globex'));
});

afterAll(async () => {
  await t.stop();
  await producer.close();
  await nats.dispose();
  await Promise.all(
    [idpA, idpB, idpOther, idpDiscovered].map(async (i) => {
      await i.stop();
    }),
  );
});

const tick = (): number => (now = Math.floor(Date.now() / 1000));

function byToken(token: string, action = 'write', type = 'repository'): CheckRequestMessage {
  return { tenant: 'acme', subject: { token }, action: { name: action }, resource: { type, id: 'r1' } };
}

/** A sign-in as the app makes it: the ID token and the nonce the app sent in its authentication request. */
async function signIn(
  idp: FakeIdp,
  sub: string,
  claims: Record<string, unknown> = {},
  tenant = 'acme',
  audience = CLIENT_ID,
): Promise<{ tenant: string; id_token: string; nonce: string }> {
  const nonce = randomUUID();
  return { tenant, id_token: await idp.idToken(sub, audience, { nonce, ...claims }, { now }), nonce };
}

interface Developer {
  readonly id: string;
  /** The subject IdP A knows the developer by. */
  readonly sub: string;
}

/**
 * A developer of acme (in Engineering) bound to IdP A, whom the sidecar knows: for the tests that revoke
 * sessions or force a re-authentication, so that bob, whom the other tests sign in, stays as he was.
 */
async function givenDeveloper(name: string): Promise<Developer> {
  const id = `${name}-${randomUUID().slice(0, 8)}`;
  const sequence = await producer.publishAll([
    user('acme', id, { user_name: `${id}@acme.example` }),
    change('acme', 'member.add', { group_id: exampleGroupId(ACME, 'Engineering'), user_id: id }),
    change('acme', 'binding.upsert', { issuer: idpA.issuer, subject: `sub-${id}`, user_id: id }),
  ]);
  expect(await t.sidecar.ingestor?.waitForSequence(sequence, 10_000)).toBe(true);
  return { id, sub: `sub-${id}` };
}

async function reasonsFor(token: string): Promise<string[]> {
  const response = await t.tcp.check(byToken(token));
  expect(response.decision).toBe('DECISION_DENY');
  return response.reasons.map((r) => r.code);
}

describe('Check with a token', () => {
  it('a valid ID token of the bound IdP is allowed, whatever the key algorithm (PS256, ES256, EdDSA)', async () => {
    tick();
    const jwks = (await (await fetch(idpA.jwksUri)).json()) as { keys: { kid: string; alg: string }[] };
    for (const alg of ['PS256', 'ES256', 'EdDSA']) {
      const kid = jwks.keys.find((k) => k.alg === alg)?.kid;
      const token = await idpA.idToken('sub-bob', CLIENT_ID, {}, { kid, now });
      const response = await t.tcp.check(byToken(token));
      expect(response.decision, alg).toBe('DECISION_ALLOW');
    }
  });

  it('RS256 is refused unless the IdP opts in to it', async () => {
    const rsKid = ((await (await fetch(idpA.jwksUri)).json()) as { keys: { kid: string; alg: string }[] }).keys.find(
      (k) => k.alg === 'RS256',
    )?.kid;
    expect(await reasonsFor(await idpA.idToken('sub-bob', CLIENT_ID, {}, { kid: rsKid, now }))).toEqual([
      'TOKEN_ALGORITHM_REFUSED',
    ]);
  });

  it.each([
    ['expired', { exp: () => now - 120, iat: () => now - 900 }, 'TOKEN_EXPIRED'],
    ['issued in the future', { iat: () => now + 600, exp: () => now + 1200 }, 'TOKEN_NOT_YET_VALID'],
    ['for another audience', { aud: () => 'someone-else' }, 'TOKEN_AUDIENCE_INVALID'],
    ['with an audience array (IPSIE: a single string)', { aud: () => [CLIENT_ID] }, 'TOKEN_AUDIENCE_INVALID'],
    ['without a subject', { sub: () => undefined }, 'TOKEN_CLAIM_INVALID'],
    ['without iat', { iat: () => undefined }, 'TOKEN_CLAIM_INVALID'],
    ['issued to another party (azp)', { azp: () => 'someone-else' }, 'TOKEN_AUDIENCE_INVALID'],
    ['issued longer ago than max_token_age_s', { iat: () => now - 2 * 86_400 }, 'TOKEN_EXPIRED'],
    ['authenticated in the future', { auth_time: () => now + 3_600 }, 'TOKEN_CLAIM_INVALID'],
  ])('a token %s gets its own reason', async (_name, overrides, reason) => {
    tick();
    const claims = Object.fromEntries(Object.entries(overrides).map(([k, v]) => [k, (v as () => unknown)()]));
    expect(await reasonsFor(await idpA.idToken('sub-bob', CLIENT_ID, claims, { now }))).toEqual([reason]);
  });

  it('a logout token, a SET or an access token of the IdP is denied TOKEN_TYPE_INVALID, never allowed', async () => {
    tick();
    const events = { 'http://schemas.openid.net/event/backchannel-logout': {} };
    for (const [claims, typ] of [
      [{ events, nonce: undefined }, 'logout+jwt'],
      [{ events }, 'secevent+jwt'],
      [{ events }, null], // an untyped logout token
      [{ client_id: CLIENT_ID }, 'at+jwt'], // IdP A accepts no access tokens
    ] as const) {
      const token = await idpA.idToken('sub-bob', CLIENT_ID, claims, { now, typ });
      expect(await reasonsFor(token), String(typ)).toEqual(['TOKEN_TYPE_INVALID']);
    }
  });

  it('an RFC 9068 access token for the API is allowed where the IdP accepts them; an ID token for the API is not', async () => {
    tick();
    const access = await idpB.idToken('b-bob', API, { client_id: 'acme-mobile' }, { now, typ: 'at+jwt' });
    expect((await t.tcp.check(byToken(access))).decision).toBe('DECISION_ALLOW');
    expect(await reasonsFor(await idpB.idToken('b-bob', API, {}, { now }))).toEqual(['TOKEN_AUDIENCE_INVALID']);
    const forClient = await idpB.idToken('b-bob', CLIENT_ID, { client_id: 'acme-mobile' }, { now, typ: 'at+jwt' });
    expect(await reasonsFor(forClient)).toEqual(['TOKEN_AUDIENCE_INVALID']);
  });

  it("an unknown critical header is the token's reason, not IDP_UNAVAILABLE", async () => {
    tick();
    const header = { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true };
    expect(await reasonsFor(await idpA.idToken('sub-bob', CLIENT_ID, {}, { now, header }))).toEqual([
      'TOKEN_MALFORMED',
    ]);
  });

  it("a token from an issuer the tenant does not trust (or another tenant's IdP) does not resolve", async () => {
    tick();
    const stranger = await FakeIdp.start();
    try {
      expect(await reasonsFor(await stranger.idToken('sub-bob', CLIENT_ID, {}, { now }))).toEqual([
        'TOKEN_ISSUER_UNKNOWN',
      ]);
    } finally {
      await stranger.stop();
    }
    expect(await reasonsFor(await idpOther.idToken('sub-bob', CLIENT_ID, {}, { now }))).toEqual([
      'TOKEN_ISSUER_UNKNOWN',
    ]);
  });

  it('alg "none" and HS256 keyed with the IdP public key are refused', async () => {
    tick();
    const claims = { iss: idpA.issuer, sub: 'sub-bob', aud: CLIENT_ID, iat: now, exp: now + 600 };
    expect(await reasonsFor(unsignedToken(claims))).toEqual(['TOKEN_ALGORITHM_REFUSED']);
    expect(await reasonsFor(await hmacWithPublicKey(claims, idpA.publicJwk()))).toEqual(['TOKEN_ALGORITHM_REFUSED']);
  });

  it('a forged signature is refused', async () => {
    tick();
    const token = await idpA.idToken('sub-bob', CLIENT_ID, {}, { now });
    const [header, payload] = token.split('.');
    const tampered = JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()) as Record<string, unknown>;
    tampered['sub'] = 'sub-alice';
    const forged = `${header ?? ''}.${Buffer.from(JSON.stringify(tampered)).toString('base64url')}.${token.split('.')[2] ?? ''}`;
    expect(await reasonsFor(forged)).toEqual(['TOKEN_SIGNATURE_INVALID']);
  });

  it('rotation: a new key is fetched on first sight; a kid still unknown after the refetch is refused', async () => {
    tick();
    const newKid = await idpA.addKey('PS256', false);
    const fetches = idpA.jwksFetches;
    const early = await idpA.idToken('sub-bob', CLIENT_ID, {}, { kid: newKid, now });
    expect(await reasonsFor(early)).toEqual(['TOKEN_KEY_UNKNOWN']);
    expect(idpA.jwksFetches).toBeGreaterThan(fetches); // it did look again before refusing
    idpA.publish(newKid);
    const rotated = await idpA.idToken('sub-bob', CLIENT_ID, {}, { kid: newKid, now });
    expect((await t.tcp.check(byToken(rotated))).decision).toBe('DECISION_ALLOW');
  });

  it('the IdP found by discovery is trusted; its keys come from the discovered jwks_uri', async () => {
    tick();
    await producer.publish(
      change('acme', 'binding.upsert', { issuer: idpDiscovered.issuer, subject: 'd-bob', user_id: bob.id }),
    );
    const token = await idpDiscovered.idToken('d-bob', CLIENT_ID, {}, { now });
    await expect.poll(async () => (await t.tcp.check(byToken(token))).decision).toBe('DECISION_ALLOW');
  });

  it('a token of IdP B for a subject bound through IdP A never resolves to that user', async () => {
    tick();
    const token = await idpB.idToken('sub-bob', CLIENT_ID, {}, { now });
    expect(await reasonsFor(token)).toEqual(['SUBJECT_UNKNOWN']);
  });

  it('too low an acr steps up, with the RFC 9470 challenge', async () => {
    tick();
    // alice is an Engineering Lead: approving a deployment needs phr within 15 minutes.
    const weak = await idpA.idToken('sub-alice', CLIENT_ID, { acr: 'urn:okta:loa:1fa:pwd', amr: ['pwd'] }, { now });
    const response = await t.tcp.check(byToken(weak, 'approve', 'deployment'));
    expect(response.decision).toBe('DECISION_STEP_UP');
    expect(response.reasons.map((r) => r.code)).toEqual(['AUTHN_LEVEL_INSUFFICIENT']);
    expect(response.step_up).toMatchObject({ acr_values: ['phr'], max_age: 900 });
    expect(response.www_authenticate).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="phr", max_age="900"',
    );
  });

  it('an authentication older than max_age steps up', async () => {
    tick();
    const old = await idpA.idToken('sub-alice', CLIENT_ID, { auth_time: now - 3600 }, { now });
    const response = await t.tcp.check(byToken(old, 'approve', 'deployment'));
    expect(response.decision).toBe('DECISION_STEP_UP');
    expect(response.reasons.map((r) => r.code)).toEqual(['AUTHN_TOO_OLD']);
  });

  it('a token past its session_expiry asks to authenticate again (SESSION_EXPIRED)', async () => {
    tick();
    const token = await idpA.idToken('sub-bob', CLIENT_ID, { session_expiry: now - 5 }, { now });
    const response = await t.tcp.check(byToken(token));
    expect(response.decision).toBe('DECISION_STEP_UP');
    expect(response.reasons.map((r) => r.code)).toEqual(['SESSION_EXPIRED']);
  });

  it('the session the token names is revoked when the IdP revokes its sid, or signs the user out', async () => {
    tick();
    const dev = await givenDeveloper('revoked');
    const token = await idpA.idToken(dev.sub, CLIENT_ID, { sid: 'sid-revoked-1' }, { now });
    expect((await t.tcp.check(byToken(token))).decision).toBe('DECISION_ALLOW');
    const revoked = await producer.publish(
      change('acme', 'session.revoke', {
        id: 'sid-revoked-1',
        user_id: dev.id,
        issuer: idpA.issuer,
        acr: null,
        amr: [],
        auth_time: null,
        expires_at: now + 60,
        created_at: now,
        revoked_at: now,
        revoke_reason: 'CAEP session-revoked',
        ip: null,
        device_id: null,
      }),
    );
    const denied = await t.tcp.check({ ...byToken(token), min_sequence: revoked.sequence });
    expect(denied.reasons.map((r) => r.code)).toEqual(['SESSION_REVOKED']);

    const before = await idpA.idToken(dev.sub, CLIENT_ID, { auth_time: now - 60 }, { now });
    const signout = await producer.publish(
      change('acme', 'user.sessions_revoke', { user_id: dev.id, before: now - 1, reason: 'password reset' }),
    );
    const out = await t.tcp.check({ ...byToken(before), min_sequence: signout.sequence });
    expect(out.reasons.map((r) => r.code)).toEqual(['SESSION_REVOKED']);
    const after = await idpA.idToken(dev.sub, CLIENT_ID, { auth_time: now }, { now });
    expect((await t.tcp.check(byToken(after))).decision).toBe('DECISION_ALLOW');
  });
});

describe('StartSession (sign-in)', () => {
  it('starts a session bound to the user; Checks name it; its lifetime follows session_expiry', async () => {
    tick();
    const nonce = 'n-0S6_WzA2Mj';
    const token = await idpA.idToken('sub-bob', CLIENT_ID, { nonce, session_expiry: now + 600 }, { now });
    const started = await t.tcp.startSession({
      tenant: 'acme',
      id_token: token,
      nonce,
      context: { ip: '203.0.113.7' },
    });
    expect(started).toMatchObject({ user_id: bob.id, binding: 'existing', expires_at: String(now + 600) });
    const check: CheckRequestMessage = {
      tenant: 'acme',
      subject: { session_id: started.session_id },
      action: { name: 'write' },
      resource: { type: 'repository' },
      min_sequence: started.sequence,
    };
    expect((await t.uds.check(check)).decision).toBe('DECISION_ALLOW');
    now += 601; // past session_expiry
    const expired = await t.uds.check(check);
    expect(expired.decision).toBe('DECISION_STEP_UP');
    expect(expired.reasons.map((r) => r.code)).toEqual(['SESSION_EXPIRED']);
    tick();
  });

  it('never keeps a session longer than the IdP maximum, and defaults without session_expiry', async () => {
    tick();
    const long = await signIn(idpA, 'sub-bob', { session_expiry: now + 86_400, auth_time: now });
    expect((await t.tcp.startSession(long)).expires_at).toBe(String(now + 7200));
    const none = await signIn(idpA, 'sub-bob', { session_expiry: undefined, auth_time: now });
    expect((await t.tcp.startSession(none)).expires_at).toBe(String(now + 1800));
  });

  it('refuses a replayed ID token and a wrong nonce, with their reasons', async () => {
    tick();
    const token = await idpA.idToken('sub-bob', CLIENT_ID, { nonce: 'abc' }, { now });
    await t.tcp.startSession({ tenant: 'acme', id_token: token, nonce: 'abc' });
    expect(await t.tcp.failure(t.tcp.startSession({ tenant: 'acme', id_token: token, nonce: 'abc' }))).toMatchObject({
      code: status.UNAUTHENTICATED,
      reason: 'TOKEN_REPLAYED',
    });
    const other = await idpA.idToken('sub-bob', CLIENT_ID, { nonce: 'abc' }, { now });
    expect(await t.tcp.failure(t.tcp.startSession({ tenant: 'acme', id_token: other, nonce: 'xyz' }))).toMatchObject({
      code: status.UNAUTHENTICATED,
      reason: 'TOKEN_NONCE_MISMATCH',
    });
    expect(await t.tcp.failure(t.tcp.startSession({ tenant: 'acme', id_token: '' }))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'TOKEN_MISSING',
    });
  });

  it('refuses a sign-in without a nonce when the token carries one, and by default when neither does', async () => {
    tick();
    for (const claims of [{ nonce: 'n-of-another-browser' }, {}]) {
      const token = await idpA.idToken('sub-bob', CLIENT_ID, claims, { now });
      expect(await t.tcp.failure(t.tcp.startSession({ tenant: 'acme', id_token: token }))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'TOKEN_NONCE_MISMATCH',
      });
    }
  });

  it('an access token or a logout token never signs in', async () => {
    tick();
    const claims = { nonce: 'n-1', client_id: 'acme-mobile' };
    const access = await idpB.idToken('b-bob', API, claims, { now, typ: 'at+jwt' });
    const logout = await idpA.idToken('sub-bob', CLIENT_ID, claims, { now, typ: 'logout+jwt' });
    for (const id_token of [access, logout]) {
      const request = { tenant: 'acme', id_token, nonce: 'n-1' };
      expect(await t.tcp.failure(t.tcp.startSession(request))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'TOKEN_TYPE_INVALID',
      });
    }
  });

  it('links by e-mail only when the IdP says it verified the address (nOAuth)', async () => {
    tick();
    for (const verified of [{ email_verified: false }, { email_verified: 'true' }, {}]) {
      const request = await signIn(idpB, 'b-fay', { email: 'fay@acme.example', ...verified });
      expect(await t.tcp.failure(t.tcp.startSession(request)), JSON.stringify(verified)).toMatchObject({
        code: status.PERMISSION_DENIED,
        reason: 'USER_NOT_PROVISIONED',
      });
    }
    const request = await signIn(idpB, 'b-fay', { email: 'fay@acme.example', email_verified: true });
    expect(await t.tcp.startSession(request)).toMatchObject({ user_id: 'fay-id', binding: 'linked' });
  });

  it('reads session_lifetime as session_expiry, and refuses a sign-in whose session has already ended', async () => {
    tick();
    const lifetime = await signIn(idpA, 'sub-bob', { session_expiry: undefined, session_lifetime: now + 900 });
    expect((await t.tcp.startSession(lifetime)).expires_at).toBe(String(now + 900));
    for (const claims of [
      { session_expiry: now - 5 },
      { session_expiry: undefined, session_lifetime: now - 5 },
      { session_expiry: now + 600, session_lifetime: now - 5 }, // the earlier wins
      { session_expiry: undefined, auth_time: now - 7_300 }, // past max_lifetime_s after authentication
    ]) {
      expect(await t.tcp.failure(t.tcp.startSession(await signIn(idpA, 'sub-bob', claims)))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'SESSION_EXPIRED',
      });
    }
  });

  it('an ID token whose IdP session (sid) was revoked starts no session: SESSION_REVOKED, bound or not', async () => {
    tick();
    const revoke = (sid: string, issuer: string | null): Change =>
      change('acme', 'sid.revoke', {
        issuer,
        sid,
        revoked_at: now,
        expires_at: now + 600,
        reason: 'OIDC back-channel logout',
      });
    await producer.publish(revoke('sid-logged-out', idpA.issuer));
    const anyIdp = await producer.publish(revoke('sid-caep-revoked', null)); // CAEP: any IdP of the tenant
    await expect.poll(() => t.sidecar.store.appliedSequence()).toBeGreaterThanOrEqual(anyIdp.sequence);
    for (const [sub, sid] of [
      ['sub-bob', 'sid-logged-out'], // bound to bob
      ['sub-bob', 'sid-caep-revoked'],
      ['sub-nobody', 'sid-logged-out'], // not bound, nor linkable: refused before anything is looked up
    ] as const) {
      const request = await signIn(idpA, sub, { sid });
      expect(await t.tcp.failure(t.tcp.startSession(request)), `${sub} ${sid}`).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'SESSION_REVOKED',
      });
    }
    // Presented again, the same assertion starts nothing either.
    const replayed = await signIn(idpA, 'sub-bob', { sid: 'sid-logged-out' });
    expect(await t.tcp.failure(t.tcp.startSession(replayed))).toMatchObject({ reason: 'SESSION_REVOKED' });
    expect(await t.tcp.failure(t.tcp.startSession(replayed))).toMatchObject({ code: status.UNAUTHENTICATED });
    // The same sid at another IdP is another session.
    const elsewhere = await signIn(idpB, 'b-bob', { sid: 'sid-logged-out' });
    expect(await t.tcp.startSession(elsewhere)).toMatchObject({ user_id: bob.id, binding: 'existing' });
  });

  it('the same ID token is accepted by one sidecar replica only, even when both see it at once', async () => {
    tick();
    const replica = await startTestSidecar(sidecarOptions());
    try {
      const first = await signIn(idpA, 'sub-bob');
      await t.tcp.startSession(first);
      expect(await replica.tcp.failure(replica.tcp.startSession(first))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'TOKEN_REPLAYED',
      });
      for (let round = 0; round < 5; round++) {
        const raced = await signIn(idpA, 'sub-bob');
        const outcomes = await Promise.allSettled([t.tcp.startSession(raced), replica.tcp.startSession(raced)]);
        expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
        const [refused] = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
        expect(await t.tcp.failure(Promise.reject(refused ?? new Error('none refused')))).toMatchObject({
          reason: 'TOKEN_REPLAYED',
        });
      }
    } finally {
      await replica.stop();
    }
  });

  it('links a SCIM-provisioned user by the configured claim at first sign-in, then finds the binding', async () => {
    tick();
    const first = await signIn(idpA, 'sub-dana', { oid: 'oid-dana' });
    expect(await t.tcp.startSession(first)).toMatchObject({
      user_id: 'dana-id',
      binding: 'linked',
    });
    const again = await signIn(idpA, 'sub-dana', { oid: 'oid-dana' });
    const second = await t.tcp.startSession(again);
    expect(second).toMatchObject({ user_id: 'dana-id', binding: 'existing' });
    const check = await t.tcp.check({ ...byToken(again.id_token), min_sequence: second.sequence });
    expect(check.decision).toBe('DECISION_ALLOW');
  });

  it('refuses unknown identities where the tenant does not provision at sign-in, and deactivated accounts', async () => {
    tick();
    const stranger = await signIn(idpA, 'sub-nobody', { oid: 'oid-nobody' });
    expect(await t.tcp.failure(t.tcp.startSession(stranger))).toMatchObject({
      code: status.PERMISSION_DENIED,
      reason: 'USER_NOT_PROVISIONED',
    });
    const erik = await signIn(idpA, 'sub-erik', { oid: 'oid-erik' });
    expect(await t.tcp.failure(t.tcp.startSession(erik))).toMatchObject({
      code: status.PERMISSION_DENIED,
      reason: 'ACCOUNT_INACTIVE',
    });
  });

  it('JIT-provisions at first sign-in where the tenant allows it (IPSIE P1), once', async () => {
    tick();
    const claims = {
      preferred_username: 'zoe@globex.example',
      email: 'zoe@globex.example',
      email_verified: true,
      name: 'Zoe',
    };
    const started = await t.tcp.startSession(await signIn(idpOther, 'okta-zoe', claims, 'globex', 'globex-app'));
    expect(started).toMatchObject({
      binding: 'provisioned',
      user_id: jitUserId('globex', idpOther.issuer, 'okta-zoe'),
    });
    const slice = t.sidecar.store.readSubject('globex', { kind: 'user', userId: started.user_id }).slice;
    expect(slice?.user).toMatchObject({
      userName: 'zoe@globex.example',
      active: true,
      attributes: { displayName: 'Zoe' },
    });
    const again = await signIn(idpOther, 'okta-zoe', claims, 'globex', 'globex-app');
    expect(await t.tcp.startSession(again)).toMatchObject({
      binding: 'existing',
      user_id: started.user_id,
    });
  });

  it('JIT never takes a name or address the IdP did not verify: the user is jit:<user id>, with no e-mail', async () => {
    tick();
    const jit = async (sub: string, claims: Record<string, unknown>): Promise<string> => {
      const started = await t.tcp.startSession(await signIn(idpOther, sub, claims, 'globex', 'globex-app'));
      expect(started).toMatchObject({ binding: 'provisioned', user_id: jitUserId('globex', idpOther.issuer, sub) });
      return started.user_id;
    };
    // What a user types into their IdP profile: the CEO's address, as preferred_username and as an e-mail.
    for (const [sub, claims] of [
      ['okta-mallory', { preferred_username: 'ceo@globex.example', email: 'ceo@globex.example' }],
      ['okta-mallory-2', { preferred_username: 'cfreeman', email: 'ceo@globex.example', email_verified: false }],
      ['okta-mallory-3', { email: 'ceo@globex.example', email_verified: 'true' }],
    ] as const) {
      const id = await jit(sub, claims);
      const created = t.sidecar.store.readSubject('globex', { kind: 'user', userId: id }).slice?.user;
      expect(created?.userName, sub).toBe(`jit:${id}`);
      expect(created?.attributes['emails'], sub).toBeUndefined();
    }
    // The names and the address stay the SCIM user's: a SCIM create of them, and a RISC/CAEP event about the
    // address, still find exactly her.
    expect(t.sidecar.store.userIdsByUserName('globex', 'ceo@globex.example')).toEqual([]);
    expect(t.sidecar.store.userIdsByUserName('globex', 'cfreeman')).toEqual(['globex-ceo']);
    expect(t.sidecar.store.userIdsByEmail('globex', 'ceo@globex.example')).toEqual(['globex-ceo']);
  });

  it('a verified e-mail is the JIT userName, unless a user already has it as userName or e-mail', async () => {
    tick();
    const yan = await t.tcp.startSession(
      await signIn(idpOther, 'okta-yan', { email: 'yan@globex.example', email_verified: true }, 'globex', 'globex-app'),
    );
    expect(t.sidecar.store.readSubject('globex', { kind: 'user', userId: yan.user_id }).slice?.user).toMatchObject({
      userName: 'yan@globex.example',
      attributes: { emails: [{ value: 'yan@globex.example' }] },
    });
    for (const email of ['ceo@globex.example', 'CEO@globex.example', 'yan@globex.example']) {
      const request = await signIn(
        idpOther,
        `okta-${randomUUID()}`,
        { email, email_verified: true },
        'globex',
        'globex-app',
      );
      expect(await t.tcp.failure(t.tcp.startSession(request)), email).toMatchObject({
        code: status.PERMISSION_DENIED,
        reason: 'USER_NOT_PROVISIONED',
      });
    }
  });

  it('two sidecars provisioning the same identity at once create one user under one name', async () => {
    tick();
    const replica = await startTestSidecar(sidecarOptions());
    try {
      const claims = { email: 'wu@globex.example', email_verified: true };
      const [a, b] = await Promise.all([
        t.tcp.startSession(await signIn(idpOther, 'okta-wu', claims, 'globex', 'globex-app')),
        replica.tcp.startSession(await signIn(idpOther, 'okta-wu', claims, 'globex', 'globex-app')),
      ]);
      expect(a.user_id).toBe(b.user_id);
      await expect.poll(() => t.sidecar.store.appliedSequence()).toBeGreaterThanOrEqual(Number(b.sequence));
      expect(t.sidecar.store.userIdsByUserName('globex', 'wu@globex.example')).toEqual([a.user_id]);
    } finally {
      await replica.stop();
    }
  });

  it('SL2: a forced re-authentication steps up (max_age 0) until an assertion authenticated after it', async () => {
    tick();
    const dev = await givenDeveloper('reauthenticated');
    const session = await t.tcp.startSession(await signIn(idpA, dev.sub, { auth_time: now - 60 }));
    const check: CheckRequestMessage = {
      tenant: 'acme',
      subject: { session_id: session.session_id },
      action: { name: 'write' },
      resource: { type: 'repository' },
    };
    const forced = await producer.publish(change('acme', 'user.reauthenticate', { user_id: dev.id, after: now - 1 }));
    const stepUp = await t.tcp.check({ ...check, min_sequence: forced.sequence });
    expect(stepUp.decision).toBe('DECISION_STEP_UP');
    expect(stepUp.reasons.map((r) => r.code)).toEqual(['REAUTHENTICATION_REQUIRED']);
    expect(stepUp.step_up?.max_age).toBe(0);
    expect(stepUp.www_authenticate).toContain('max_age="0"');
    const renewed = await t.tcp.startSession(await signIn(idpA, dev.sub, { auth_time: now }));
    expect(
      (await t.tcp.check({ ...check, subject: { session_id: renewed.session_id }, min_sequence: renewed.sequence }))
        .decision,
    ).toBe('DECISION_ALLOW');
  });
});
