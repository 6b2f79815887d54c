/**
 * OpenID Connect Back-Channel Logout 1.0 on the gateway: a fake OP signs real
 * ID tokens and logout tokens with real keys; users sign in through a real
 * sidecar (StartSession), the OP logs them out through a real gateway, and
 * the sidecar's Checks and WatchSessions show it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeChange, STATE_STREAM, token } from '../../src/changes/index.js';
import type { CheckRequestMessage, CheckResponseMessage } from '../../src/check/index.js';
import { change } from '../harness/changes.js';
import { FakeIdp, hmacWithPublicKey, unsignedToken } from '../harness/fake_idp.js';
import { startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const CLIENT_ID = 'acme-app';
const BCL = 'http://schemas.openid.net/event/backchannel-logout';
const POLICY = 'package tenants.acme\n\nallow if input.action.name == "read"\n';

let nats: NatsServer;
let producer: TestProducer;
/** acme's OP, with back-channel logout (typ required). */
let op: FakeIdp;
/** An older OP whose logout tokens may lack `typ`. */
let lax: FakeIdp;
/** An OP of acme without back-channel logout configured. */
let off: FakeIdp;
let gw: TestGateway;
let t: TestSidecar;

beforeAll(async () => {
  [op, lax, off] = await Promise.all([FakeIdp.start(), FakeIdp.start(), FakeIdp.start()]);
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  const idp = (i: FakeIdp, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    issuer: i.issuer,
    client_id: CLIENT_ID,
    jwks_uri: i.jwksUri,
    ...extra,
  });
  const tenants = {
    acme: {
      idps: [idp(op, { backchannel_logout: {} }), idp(lax, { backchannel_logout: { require_typ: false } }), idp(off)],
      jit_provisioning: true,
    },
    // The same OP serves globex, through an application (client) of globex's own.
    globex: { idps: [idp(op, { client_id: 'globex-app', backchannel_logout: {} })], jit_provisioning: true },
  };
  gw = await startTestGateway(nats.url, tenants);
  t = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url, IPSIE_JWKS_COOLDOWN_MS: '0' }, tenants });
  await producer.publish(change('globex', 'tenant.upsert', { display_name: 'Globex' }));
  for (const tenant of ['acme', 'globex']) {
    await t.sidecar.deployPolicy({
      tenantId: tenant,
      modules: new Map([['authz.rego', POLICY.replace('acme', tenant)]]),
    });
  }
});

afterAll(async () => {
  await t.stop();
  await gw.stop();
  await producer.close();
  await nats.dispose();
  await Promise.all([op.stop(), lax.stop(), off.stop()]);
});

interface SignedIn {
  readonly sub: string;
  readonly sid: string;
  readonly idToken: string;
  readonly sessionId: string;
  readonly userId: string;
  readonly sequence: number;
}

/** A sign-in through the sidecar with a fresh ID token of `idp` carrying `sid`. */
async function signIn(
  idp: FakeIdp,
  sub = `sub-${randomUUID()}`,
  sid = `sid-${randomUUID()}`,
  tenant = 'acme',
): Promise<SignedIn> {
  const nonce = randomUUID();
  const idToken = await idp.idToken(sub, CLIENT_ID, { nonce, sid });
  const started = await t.tcp.startSession({ tenant, id_token: idToken, nonce });
  return {
    sub,
    sid,
    idToken,
    sessionId: started.session_id,
    userId: started.user_id,
    sequence: Number(started.sequence),
  };
}

interface LogoutResult {
  readonly status: number;
  readonly body: { error?: string; error_description?: string } | undefined;
  readonly cacheControl: string | null;
  readonly sequence: number;
}

/** POSTs a back-channel logout request (§2.5) to a tenant's endpoint. */
async function logout(
  body: string | URLSearchParams,
  options: { tenant?: string; type?: string; origin?: string } = {},
): Promise<LogoutResult> {
  const response = await fetch(
    `${options.origin ?? gw.origin}/oidc/v1/${options.tenant ?? 'acme'}/backchannel-logout`,
    {
      method: 'POST',
      headers: { 'content-type': options.type ?? 'application/x-www-form-urlencoded' },
      body: typeof body === 'string' ? new URLSearchParams({ logout_token: body }) : body,
    },
  );
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? undefined : (JSON.parse(text) as LogoutResult['body']),
    cacheControl: response.headers.get('cache-control'),
    sequence: Number(response.headers.get('x-ipsie-sequence') ?? 0),
  };
}

function check(
  subject: NonNullable<CheckRequestMessage['subject']>,
  minSequence: number,
  tenant = 'acme',
): CheckRequestMessage {
  return { tenant, subject, action: { name: 'read' }, resource: { type: 'doc', id: 'd1' }, min_sequence: minSequence };
}

async function decide(
  s: SignedIn,
  minSequence: number,
  tenant = 'acme',
): Promise<{ session: CheckResponseMessage; token: CheckResponseMessage }> {
  return {
    session: await t.tcp.check(check({ session_id: s.sessionId }, minSequence, tenant)),
    token: await t.tcp.check(check({ token: s.idToken }, minSequence, tenant)),
  };
}

const codes = (r: CheckResponseMessage): string[] => r.reasons.map((x) => x.code);

/** An unsigned (`alg: none`) logout token, typed as one. */
function unsigned(claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'logout+jwt' })}.${part({ events: { [BCL]: {} }, ...claims })}.`;
}

function expectAllowed(r: { session: CheckResponseMessage; token: CheckResponseMessage }): void {
  expect(r.session.decision).toBe('DECISION_ALLOW');
  expect(r.token.decision).toBe('DECISION_ALLOW');
}

function expectRevoked(r: { session: CheckResponseMessage; token: CheckResponseMessage }): void {
  expect(codes(r.session)).toEqual(['SESSION_REVOKED']);
  expect(codes(r.token)).toEqual(['SESSION_REVOKED']);
}

describe('back-channel logout', () => {
  it('a logout token for the session ends it: 200 no-store, WatchSessions fires, session and tokens denied', async () => {
    const ann = await signIn(op);
    const other = await signIn(op, ann.sub);
    expectAllowed(await decide(ann, other.sequence));
    const watch = t.tcp.watch({ tenant: 'acme', user_ids: [ann.userId] });
    await watch.ready;
    const r = await logout(await op.logoutToken(CLIENT_ID, { sid: ann.sid, sub: ann.sub }));
    expect(r).toMatchObject({ status: 200, body: undefined, cacheControl: 'no-store' });
    expect(r.sequence).toBeGreaterThan(0);
    expect(await watch.next()).toMatchObject({
      kind: 'SESSION_EVENT_KIND_SESSION_REVOKED',
      session_id: ann.sessionId,
      user_id: ann.userId,
    });
    expectRevoked(await decide(ann, r.sequence));
    // The user's session from another IdP session is not logged out.
    expectAllowed(await decide(other, r.sequence));
    watch.cancel();
  });

  it('a sid no stored session carries is recorded: tokens carrying it are denied, a later sign-in with it refused', async () => {
    const sid = `sid-${randomUUID()}`;
    const r = await logout(await op.logoutToken(CLIENT_ID, { sid }));
    expect(r.status).toBe(200);
    // Kept on the stream as long as a session of this IdP authenticated before it may live (43200 s + 60 s).
    const record = await producer.jsm.streams.getMessage(STATE_STREAM, {
      last_by_subj: `ipsie.state.acme.sid.${token(op.issuer)}.${token(sid)}`,
    });
    expect(record?.header.get('Nats-TTL')).toBe('43260s');
    const revocation = decodeChange(record?.data ?? new Uint8Array());
    expect(revocation).toMatchObject({ kind: 'sid.revoke', data: { issuer: op.issuer, sid } });
    if (revocation.kind === 'sid.revoke') {
      expect(revocation.data.expires_at - revocation.data.revoked_at).toBe(43_260);
    }
    const known = await signIn(op); // a user signed in through another IdP session
    const carrying = await op.idToken(known.sub, CLIENT_ID, { sid });
    const denied = await t.tcp.check(check({ token: carrying }, r.sequence));
    expect(codes(denied)).toEqual(['SESSION_REVOKED']);
    expect(await t.sidecar.ingestor?.waitForSequence(r.sequence, 10_000)).toBe(true);
    for (const sub of [known.sub, `sub-${randomUUID()}`]) {
      const nonce = randomUUID();
      const request = { tenant: 'acme', id_token: await op.idToken(sub, CLIENT_ID, { nonce, sid }), nonce };
      expect(await t.tcp.failure(t.tcp.startSession(request))).toMatchObject({ reason: 'SESSION_REVOKED' });
    }
  });

  it('a sub alone logs that user out of every session', async () => {
    const bo = await signIn(op);
    const again = await signIn(op, bo.sub);
    const watch = t.tcp.watch({ tenant: 'acme', user_ids: [bo.userId] });
    await watch.ready;
    const r = await logout(await op.logoutToken(CLIENT_ID, { sub: bo.sub }));
    expect(r.status).toBe(200);
    expect((await watch.next()).kind).toBe('SESSION_EVENT_KIND_USER_SESSIONS_REVOKED');
    for (const s of [bo, again]) expectRevoked(await decide(s, r.sequence));
    watch.cancel();
    // A subject nobody here signed in as: nothing to end, still a success.
    expect((await logout(await op.logoutToken(CLIENT_ID, { sub: `nobody-${randomUUID()}` }))).status).toBe(200);
  });

  it('the same logout token twice, or at two gateway replicas at once, is accepted once', async () => {
    const cy = await signIn(op);
    const replica = await startTestGateway(nats.url, {
      acme: { idps: [{ issuer: op.issuer, client_id: CLIENT_ID, jwks_uri: op.jwksUri, backchannel_logout: {} }] },
    });
    try {
      const token = await op.logoutToken(CLIENT_ID, { sid: cy.sid });
      const results = await Promise.all([logout(token), logout(token, { origin: replica.origin })]);
      expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
      expect(results.find((r) => r.status === 400)?.body).toMatchObject({
        error: 'invalid_request',
        error_description: expect.stringMatching(/already received/) as unknown,
      });
      const replay = await logout(token);
      expect(replay).toMatchObject({ status: 400, cacheControl: 'no-store' });
      expectRevoked(await decide(cy, await producer.lastSequence()));
    } finally {
      await replica.stop();
    }
  });

  it('an ID token is never taken for a logout token, even from an OP whose logout tokens may lack typ', async () => {
    const di = await signIn(op);
    const ed = await signIn(lax);
    const before = await producer.lastSequence();
    const refused = async (token: string, description: RegExp): Promise<void> => {
      const r = await logout(token);
      expect(r, description.source).toMatchObject({ status: 400, body: { error: 'invalid_request' } });
      expect(r.body?.error_description).toMatch(description);
    };
    // The ID token itself (typ JWT), then one carrying the logout event: its nonce still gives it away.
    await refused(di.idToken, /typ/);
    await refused(ed.idToken, /events/);
    await refused(await lax.idToken(ed.sub, CLIENT_ID, { sid: ed.sid, nonce: 'n', events: { [BCL]: {} } }), /nonce/);
    expect(await producer.lastSequence()).toBe(before);
    expectAllowed(await decide(di, before));
    expectAllowed(await decide(ed, before));
    // That OP's real logout tokens, without typ or with the generic one, are accepted.
    const noTyp = await logout(await lax.logoutToken(CLIENT_ID, { sid: ed.sid }, { typ: null }));
    expect(noTyp.status).toBe(200);
    expectRevoked(await decide(ed, noTyp.sequence));
    const ge = await signIn(lax);
    expect((await logout(await lax.logoutToken(CLIENT_ID, { sid: ge.sid }, { typ: 'JWT' }))).status).toBe(200);
  });

  it('forged, misaddressed, stale or malformed logout tokens are refused with 400 and change nothing', async () => {
    const fi = await signIn(op);
    const now = Math.floor(Date.now() / 1000);
    const valid = { sid: fi.sid, sub: fi.sub };
    const unpublished = await op.addKey('PS256', false);
    const cases: [string, Promise<string> | string, RegExp][] = [
      ['unsigned (alg none)', unsigned({ iss: op.issuer, aud: CLIENT_ID, iat: now, jti: 'x', ...valid }), /alg/],
      ['unsigned, typed as any JWT', unsignedToken({ iss: op.issuer, aud: CLIENT_ID, iat: now, ...valid }), /typ/],
      [
        'HS256 keyed with the OP public key',
        hmacWithPublicKey(
          { iss: op.issuer, aud: CLIENT_ID, iat: now, jti: 'x', events: { [BCL]: {} }, ...valid },
          op.publicJwk(),
        ),
        /typ|alg/,
      ],
      ['a key the OP does not publish', op.logoutToken(CLIENT_ID, valid, { kid: unpublished }), /key/],
      ['another audience', op.logoutToken('someone-else', valid), /aud/],
      ['an OP of no tenant here', FakeIdp.start().then(async (x) => await x.logoutToken(CLIENT_ID, valid)), /IdP/],
      ['an OP without back-channel logout', off.logoutToken(CLIENT_ID, valid), /not enabled/],
      ['a SET', op.logoutToken(CLIENT_ID, valid, { typ: 'secevent+jwt' }), /typ/],
      ['no typ from an OP that must send it', op.logoutToken(CLIENT_ID, valid, { typ: null }), /typ/],
      ['no events', op.logoutToken(CLIENT_ID, { ...valid, events: undefined }), /events/],
      ['another event', op.logoutToken(CLIENT_ID, { ...valid, events: { 'urn:other': {} } }), /events/],
      ['an event that is not an object', op.logoutToken(CLIENT_ID, { ...valid, events: { [BCL]: 'yes' } }), /events/],
      ['a nonce', op.logoutToken(CLIENT_ID, { ...valid, nonce: 'n' }), /nonce/],
      ['neither sid nor sub', op.logoutToken(CLIENT_ID, { sid: undefined, sub: undefined }), /sid/],
      ['no jti', op.logoutToken(CLIENT_ID, { ...valid, jti: undefined }), /jti/],
      ['no iat', op.logoutToken(CLIENT_ID, { ...valid, iat: undefined }), /iat/],
      ['issued long ago', op.logoutToken(CLIENT_ID, valid, { now: now - 3600 }), /ago|exp/],
      [
        'issued in the future',
        op.logoutToken(CLIENT_ID, { ...valid, exp: now + 7300 }, { now: now + 7200 }),
        /future|iat/,
      ],
      ['expired', op.logoutToken(CLIENT_ID, { ...valid, exp: now - 300 }), /expired|exp/],
      ['an oversized sid', op.logoutToken(CLIENT_ID, { ...valid, sid: 's'.repeat(300) }), /sid/],
      ['not a JWT', 'not-a-jwt', /JWT/],
    ];
    const before = await producer.lastSequence();
    for (const [name, token, description] of cases) {
      const r = await logout(await token);
      expect(r, name).toMatchObject({ status: 400, cacheControl: 'no-store', body: { error: 'invalid_request' } });
      expect(r.body?.error_description, name).toMatch(description);
    }
    expect(await producer.lastSequence()).toBe(before);
    expectAllowed(await decide(fi, before));
  });

  it('sid and sub naming sessions of different users are refused', async () => {
    const gu = await signIn(op);
    const hu = await signIn(op);
    const r = await logout(await op.logoutToken(CLIENT_ID, { sid: gu.sid, sub: hu.sub }));
    expect(r).toMatchObject({
      status: 400,
      body: { error_description: expect.stringMatching(/different users/) as unknown },
    });
    expectAllowed(await decide(gu, await producer.lastSequence()));
  });

  it('the request: form encoding, exactly one logout_token, a bounded body, the tenant of the endpoint', async () => {
    const io = await signIn(op);
    const token = await op.logoutToken(CLIENT_ID, { sid: io.sid });
    const before = await producer.lastSequence();
    expect(await logout(JSON.stringify({ logout_token: token }), { type: 'application/json' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    expect((await logout(new URLSearchParams({ token }))).status).toBe(400);
    const two = new URLSearchParams([
      ['logout_token', token],
      ['logout_token', token],
    ]);
    expect((await logout(two)).status).toBe(400);
    expect((await logout(new URLSearchParams({ logout_token: 'x'.repeat(70_000) }))).status).toBe(413);
    // acme's logout token at globex's endpoint (same OP, globex's own client): not globex's, refused.
    const atGlobex = await logout(token, { tenant: 'globex' });
    expect(atGlobex.status).toBe(400);
    expectAllowed(await decide(io, await producer.lastSequence()));
    // A tenant that does not exist looks like an IdP that is not this tenant's.
    expect(await logout(await op.logoutToken(CLIENT_ID, { sid: io.sid }), { tenant: 'nosuch' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request' },
    });
    expect(await producer.lastSequence()).toBe(before);
    expectAllowed(await decide(io, await producer.lastSequence()));
  });

  it('with the stream unreachable: 503 with Retry-After, and the same token is accepted once it is back', async () => {
    const jo = await signIn(op);
    const token = await op.logoutToken(CLIENT_ID, { sid: jo.sid });
    await nats.stop();
    try {
      const down = await logout(token);
      expect(down).toMatchObject({ status: 503, body: { error: 'temporarily_unavailable' }, cacheControl: 'no-store' });
    } finally {
      await nats.restart();
    }
    // The barrier: the gateway's own readiness, once it reaches the stream again.
    const deadline = Date.now() + 20_000;
    let r = await logout(token);
    while (r.status === 503 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      r = await logout(token);
    }
    expect(r.status).toBe(200);
    expectRevoked(await decide(jo, r.sequence));
  });
});
