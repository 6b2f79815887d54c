/**
 * The SSF receiver scenarios, run over push (RFC 8935) and over poll
 * (RFC 8936): a fake transmitter signs real SETs (RS256, as the CAEP
 * interoperability profile requires); a real gateway receives them and a
 * real sidecar fed by the same NATS answers Check.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptedSetSubject, AUDIT_STREAM } from '../../src/audit/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import type { CheckRequestMessage, CheckResponseMessage } from '../../src/check/index.js';
import { change, session, user } from '../harness/changes.js';
import { CAEP, FakeTransmitter, RISC, SSF } from '../harness/fake_transmitter.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

export type DeliveryMode = 'push' | 'poll';

export const TENANT = 'umbrella';
export const PUSH_TOKEN = `push-${randomUUID()}`;
export const OTHER_PUSH_TOKEN = `push-${randomUUID()}`;
const CLIENT_ID = 'umbrella-app';

/** Reads and writes for everyone; the vault needs a compliant device and at most medium user risk. */
const POLICY = `package tenants.umbrella

allow if input.action.name in {"read", "write"}

requirement := {"device_compliant": true, "max_risk": "medium"} if input.resource.type == "vault"
`;

let mode: DeliveryMode;
export let nats: NatsServer;
export let producer: TestProducer;
/** umbrella's IdP, transmitting. */
export let tx: FakeTransmitter;
/** globex's IdP. */
export let other: FakeTransmitter;
export let gw: TestGateway;
export let t: TestSidecar;
let gatewayTenants: Record<string, unknown> = {};

/** Another gateway replica on the same NATS with the same tenants. */
export async function startGatewayReplica(): Promise<TestGateway> {
  return await startTestGateway(nats.url, gatewayTenants);
}

/** Starts NATS, the transmitters, a gateway receiving by `delivery` and a sidecar, for this test file. */
export function useSignalWorld(delivery: DeliveryMode, options: { pollIntervalMs?: number } = {}): void {
  mode = delivery;
  const secrets = makeTempDir('ipsie-ssf-secrets-');
  beforeAll(async () => {
    [tx, other] = await Promise.all([FakeTransmitter.start(), FakeTransmitter.start()]);
    const pollTokenFile = join(secrets.path, 'poll-token');
    writeFileSync(pollTokenFile, tx.pollToken);
    nats = await NatsServer.start();
    producer = await TestProducer.connect(nats.url);
    const receiving =
      delivery === 'push'
        ? { push: { bearer_token_sha256: [sha256(PUSH_TOKEN)] } }
        : {
            poll: {
              endpoint_url: tx.pollUrl,
              bearer_token_file: pollTokenFile,
              max_events: 3,
              interval_ms: options.pollIntervalMs ?? 50,
            },
          };
    gatewayTenants = {
      [TENANT]: {
        ssf: {
          transmitters: [
            {
              issuer: tx.issuer,
              jwks_uri: tx.jwksUri,
              audience: tx.audience,
              tenant_subject: 'umbrella-corp',
              max_set_age_s: 600,
              ...receiving,
            },
          ],
        },
      },
      globex: {
        ssf: {
          transmitters: [
            {
              issuer: other.issuer,
              jwks_uri: other.jwksUri,
              audience: other.audience,
              push: { bearer_token_sha256: [sha256(OTHER_PUSH_TOKEN)] },
            },
          ],
        },
      },
    };
    gw = await startTestGateway(nats.url, gatewayTenants, { IPSIE_HEALTH_ADDRESS: '127.0.0.1:0' });
    t = await startTestSidecar({
      // These decisions are about signals, not evaluation budgets: a busy machine may take long to evaluate.
      env: { IPSIE_NATS_URL: nats.url, IPSIE_POLICY_BUDGET_MS: '5000' },
      tenants: {
        [TENANT]: {
          idps: [
            {
              issuer: tx.issuer,
              client_id: CLIENT_ID,
              jwks_uri: tx.jwksUri,
              algorithms: ['RS256'],
              // Sign-in links by e-mail (identifier-recycled must release it).
              link: { claim: 'email', to: 'userName' },
            },
          ],
        },
      },
    });
    await t.sidecar.deployPolicy({ tenantId: TENANT, modules: new Map([['authz.rego', POLICY]]) });
  });

  afterAll(async () => {
    await t.stop();
    await gw.stop();
    await producer.close();
    await nats.dispose();
    await Promise.all([tx.stop(), other.stop()]);
    secrets.remove();
  });
}

export interface Person {
  readonly id: string;
  readonly email: string;
  readonly sub: string;
  /** Our session id, its IdP `sid`, and its device. */
  readonly session: string;
  readonly sid: string;
  readonly device: string;
}

/** A user with an IdP binding and one live session on a compliant device. */
export async function person(name: string): Promise<Person> {
  const id = `${name}-${randomUUID().slice(0, 8)}`;
  const p: Person = {
    id,
    email: `${id}@umbrella.example`,
    sub: `sub-${id}`,
    session: `sess-${id}`,
    sid: `sid-${id}`,
    device: `dev-${id}`,
  };
  await producer.publishAll([
    user(TENANT, id, { user_name: p.email, attributes: { emails: [{ value: `${name}.alias@umbrella.example` }] } }),
    change(TENANT, 'binding.upsert', { issuer: tx.issuer, subject: p.sub, user_id: id }),
    session(TENANT, p.session, id, { issuer: tx.issuer, idp_session_id: p.sid, device_id: p.device }),
    change(TENANT, 'posture.set', { kind: 'device', subject_id: p.device, state: { compliant: true } }),
  ]);
  return p;
}

export interface PushResult {
  readonly status: number;
  readonly body: { err?: string; description?: string } | undefined;
  readonly sequence: number;
}

/** RFC 8935: POSTs `set` to the tenant's push endpoint. */
export async function push(
  set: string,
  options: { token?: string | undefined; tenant?: string; type?: string; origin?: string } = {},
): Promise<PushResult> {
  const token = 'token' in options ? options.token : PUSH_TOKEN;
  const response = await fetch(`${options.origin ?? gw.origin}/ssf/v1/${options.tenant ?? TENANT}/events`, {
    method: 'POST',
    headers: {
      'content-type': options.type ?? 'application/secevent+jwt',
      accept: 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: set,
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? undefined : (JSON.parse(text) as PushResult['body']),
    sequence: Number(response.headers.get('x-ipsie-sequence') ?? 0),
  };
}

/** What the receiver made of a SET: stored (with the sequence to Check at), or refused with an RFC 8935 error. */
export type Delivered =
  | { readonly accepted: true; readonly sequence: number }
  | { readonly accepted: false; readonly err: string; readonly description: string };

/** Waits until the transmitter has an ack or a setErr for `jti` from the gateway's poller. */
export async function polled(jti: string, timeoutMs = 10_000): Promise<Delivered> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const error = tx.setErrs[jti];
    if (error !== undefined) return { accepted: false, ...error };
    // Acked after its changes were published: the stream's end covers them.
    if (tx.acked.includes(jti)) return { accepted: true, sequence: await producer.lastSequence() };
    if (Date.now() > deadline) throw new Error(`SET ${jti} was neither acknowledged nor refused in time`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Delivers a SET by this file's method. */
export async function deliver(set: string, jti?: string): Promise<Delivered> {
  if (mode === 'poll') return await polled(tx.queue(set, jti));
  const r = await push(set);
  if (r.status === 202) return { accepted: true, sequence: r.sequence || (await producer.lastSequence()) };
  expect(r.status).toBe(400);
  return { accepted: false, err: r.body?.err ?? '', description: r.body?.description ?? '' };
}

/** Delivers and expects it stored; returns the sequence a Check must wait for. */
export async function accepted(set: string): Promise<number> {
  const result = await deliver(set);
  expect(result).toMatchObject({ accepted: true });
  return result.accepted ? result.sequence : 0;
}

export function request(
  subject: NonNullable<CheckRequestMessage['subject']>,
  minSequence: number,
  type = 'doc',
  action = 'read',
): CheckRequestMessage {
  return { tenant: TENANT, subject, action: { name: action }, resource: { type, id: 'r1' }, min_sequence: minSequence };
}

export async function bySession(p: Person, minSequence = 0, type = 'doc'): Promise<CheckResponseMessage> {
  return await t.tcp.check(request({ session_id: p.session }, minSequence, type));
}

export const codes = (r: CheckResponseMessage): string[] => r.reasons.map((x) => x.code);
export const email = (p: Person): Record<string, unknown> => ({ format: 'email', email: p.email });

function tenantMember(): Record<string, unknown> {
  return { format: 'opaque', id: 'umbrella-corp' };
}

export function describeSignalEffects(): void {
  describe(`effects of ${mode} events on the next Check`, () => {
    it('session-revoked naming the IdP session ends that session and WatchSessions fires', async () => {
      const ann = await person('ann');
      expect((await bySession(ann, await producer.lastSequence())).decision).toBe('DECISION_ALLOW');
      const watch = t.tcp.watch({ tenant: TENANT, user_ids: [ann.id] });
      await watch.ready;
      const seq = await accepted(
        await tx.set(
          `${CAEP}session-revoked`,
          { format: 'complex', session: { format: 'opaque', id: ann.sid }, user: email(ann) },
          { initiating_entity: 'policy', reason_admin: { en: 'Landspeed violation' } },
        ),
      );
      expect(seq).toBeGreaterThan(0);
      expect(await watch.next()).toMatchObject({
        kind: 'SESSION_EVENT_KIND_SESSION_REVOKED',
        user_id: ann.id,
        session_id: ann.session,
        reason: 'Landspeed violation',
      });
      const denied = await bySession(ann, seq);
      expect(denied.decision).toBe('DECISION_DENY');
      expect(codes(denied)).toEqual(['SESSION_REVOKED']);
      watch.cancel();
    });

    it('session-revoked naming the IdP session alone (opaque sid) ends that session only', async () => {
      const vi = await person('vi');
      await producer.publish(session(TENANT, `${vi.session}-other`, vi.id, { issuer: tx.issuer }));
      const seq = await accepted(await tx.set(`${CAEP}session-revoked`, { format: 'opaque', id: vi.sid }, {}));
      expect(codes(await bySession(vi, seq))).toEqual(['SESSION_REVOKED']);
      expect((await t.tcp.check(request({ session_id: `${vi.session}-other` }, seq))).decision).toBe('DECISION_ALLOW');
    });

    it('session-revoked for an IdP session id revokes every live session with that sid, every time', async () => {
      const wu = await person('wu');
      const revoke = async (): Promise<number> =>
        await accepted(await tx.set(`${CAEP}session-revoked`, { format: 'opaque', id: wu.sid }, {}));
      expect(codes(await bySession(wu, await revoke()))).toEqual(['SESSION_REVOKED']);
      // The same IdP session reaches the app again (a sign-in carrying the same sid), and is revoked again.
      const again = `${wu.session}-again`;
      await producer.publish(session(TENANT, again, wu.id, { issuer: tx.issuer, idp_session_id: wu.sid }));
      const watch = t.tcp.watch({ tenant: TENANT, user_ids: [wu.id] });
      await watch.ready;
      const second = await revoke();
      await gw.gateway.ingestor.waitForSequence(second, 5_000);
      expect(gw.gateway.store.session(TENANT, again)?.revokedAt).toBeDefined();
      expect(codes(await t.tcp.check(request({ session_id: again }, second)))).toEqual(['SESSION_REVOKED']);
      expect(await watch.next()).toMatchObject({ kind: 'SESSION_EVENT_KIND_SESSION_REVOKED', session_id: again });
      watch.cancel();
    });

    it('session-revoked naming an IdP sid with no stored session denies tokens carrying that sid', async () => {
      const xu = await person('xu');
      const now = Math.floor(Date.now() / 1000);
      const token = async (sid: string): Promise<string> =>
        await tx.keys.sign(
          { iss: tx.issuer, sub: xu.sub, aud: CLIENT_ID, iat: now, exp: now + 600, jti: randomUUID(), sid },
          {},
        );
      const [opaque, complex] = [`sid-${randomUUID()}`, `sid-${randomUUID()}`];
      for (const sid of [opaque, complex]) {
        expect((await t.tcp.check(request({ token: await token(sid) }, 0))).decision, sid).toBe('DECISION_ALLOW');
      }
      const seq = await accepted(await tx.set(`${CAEP}session-revoked`, { format: 'opaque', id: opaque }, {}));
      const bySid = await accepted(
        await tx.set(
          `${CAEP}session-revoked`,
          { format: 'complex', session: { format: 'opaque', id: complex }, tenant: tenantMember() },
          {},
        ),
      );
      for (const [sid, at] of [
        [opaque, seq],
        [complex, bySid],
      ] as const) {
        const denied = await t.tcp.check(request({ token: await token(sid) }, at));
        expect(denied.decision, sid).toBe('DECISION_DENY');
        expect(codes(denied), sid).toEqual(['SESSION_REVOKED']);
      }
      // Tokens of the same user in another IdP session, and the user's stored session, are unaffected.
      expect((await t.tcp.check(request({ token: await token(`sid-${randomUUID()}`) }, bySid))).decision).toBe(
        'DECISION_ALLOW',
      );
      expect((await bySession(xu, bySid)).decision).toBe('DECISION_ALLOW');
    });

    it('the same sid revoked through two gateway replicas at once: both stored, the session revoked once', async () => {
      const zu = await person('zu');
      const replica = await startGatewayReplica();
      try {
        const watch = t.tcp.watch({ tenant: TENANT, user_ids: [zu.id] });
        await watch.ready;
        const sets = await Promise.all(
          [0, 1].map(async () => await tx.set(`${CAEP}session-revoked`, { format: 'opaque', id: zu.sid }, {})),
        );
        const results =
          mode === 'push'
            ? await Promise.all(
                sets.map(async (set, i) => await push(set, { origin: i === 0 ? gw.origin : replica.origin })),
              )
            : [];
        if (mode === 'poll') for (const set of sets) await accepted(set);
        for (const r of results) expect(r.status).toBe(202);
        const seq = await producer.lastSequence();
        expect(codes(await bySession(zu, seq))).toEqual(['SESSION_REVOKED']);
        expect(await watch.next()).toMatchObject({
          kind: 'SESSION_EVENT_KIND_SESSION_REVOKED',
          session_id: zu.session,
        });
        // Exactly one event: a marker change after both revocations is the next one the watch sees.
        await producer.publish(change(TENANT, 'user.reauthenticate', { user_id: zu.id, after: 1 }));
        expect((await watch.next()).kind).toBe('SESSION_EVENT_KIND_REAUTHENTICATION_REQUIRED');
        watch.cancel();
      } finally {
        await replica.stop();
      }
    });

    it('a session-revoked for a sid longer than the store takes is refused, never accepted and lost', async () => {
      const ab = await person('ab');
      const before = await producer.lastSequence();
      const result = await deliver(
        await tx.set(`${CAEP}session-revoked`, { format: 'opaque', id: 's'.repeat(300) }, {}),
      );
      expect(result).toMatchObject({ accepted: false, err: 'invalid_request' });
      expect(await producer.lastSequence()).toBe(before);
      expect((await bySession(ab, before)).decision).toBe('DECISION_ALLOW');
    });

    it('session-revoked naming only the user ends all of their sessions', async () => {
      const bo = await person('bo');
      await producer.publish(session(TENANT, `${bo.session}-2`, bo.id, { issuer: tx.issuer }));
      const seq = await accepted(
        await tx.set(`${CAEP}session-revoked`, { format: 'iss_sub', iss: tx.issuer, sub: bo.sub }, {}),
      );
      for (const id of [bo.session, `${bo.session}-2`]) {
        const r = await t.tcp.check(request({ session_id: id }, seq));
        expect(codes(r), id).toEqual(['SESSION_REVOKED']);
      }
      // The user may sign in again: a user-only check (no session) is still allowed.
      expect((await t.tcp.check(request({ user_id: bo.id }, seq))).decision).toBe('DECISION_ALLOW');
    });

    it('token-claims-change naming a token (jwt_id) revokes that token; its claims reach the posture', async () => {
      const cy = await person('cy');
      const now = Math.floor(Date.now() / 1000);
      const jti = randomUUID();
      const token = await tx.keys.sign(
        { iss: tx.issuer, sub: cy.sub, aud: CLIENT_ID, iat: now, exp: now + 600, jti, acr: 'phr' },
        {},
      );
      const before = await t.tcp.check(request({ token }, await producer.lastSequence()));
      expect(before.decision).toBe('DECISION_ALLOW');
      const seq = await accepted(
        await tx.set(
          `${CAEP}token-claims-change`,
          { format: 'jwt_id', iss: tx.issuer, jti },
          { claims: { role: 'ro-admin' } },
        ),
      );
      const after = await t.tcp.check(request({ token }, seq));
      expect(after.decision).toBe('DECISION_DENY');
      expect(codes(after)).toEqual(['TOKEN_REVOKED']);
      // Another token of the same user is unaffected.
      const fresh = await tx.keys.sign(
        { iss: tx.issuer, sub: cy.sub, aud: CLIENT_ID, iat: now, exp: now + 600, jti: randomUUID() },
        {},
      );
      expect((await t.tcp.check(request({ token: fresh }, seq))).decision).toBe('DECISION_ALLOW');

      const claims = await accepted(
        await tx.set(`${CAEP}token-claims-change`, email(cy), { claims: { trusted_network: 'false' } }),
      );
      await t.tcp.check(request({ user_id: cy.id }, claims));
      expect(gw.gateway.store.posture(TENANT, 'claims', cy.id)).toMatchObject({
        claims: { trusted_network: 'false' },
      });
    });

    it('credential-change (update/revoke/delete) requires re-authentication; create does not', async () => {
      const di = await person('di');
      const created = await accepted(
        await tx.set(`${CAEP}credential-change`, email(di), {
          credential_type: 'fido2-roaming',
          change_type: 'create',
        }),
      );
      expect((await bySession(di, created)).decision).toBe('DECISION_ALLOW');
      const revoked = await accepted(
        await tx.set(`${CAEP}credential-change`, email(di), { credential_type: 'password', change_type: 'revoke' }),
      );
      const r = await bySession(di, revoked);
      expect(r.decision).toBe('DECISION_STEP_UP');
      expect(codes(r)).toEqual(['REAUTHENTICATION_REQUIRED']);
    });

    it('assurance-level-change: a decrease asks for step-up, an increase does not', async () => {
      const ed = await person('ed');
      const up = await accepted(
        await tx.set(`${CAEP}assurance-level-change`, email(ed), {
          namespace: 'NIST-AAL',
          current_level: 'nist-aal3',
          previous_level: 'nist-aal2',
          change_direction: 'increase',
        }),
      );
      expect((await bySession(ed, up)).decision).toBe('DECISION_ALLOW');
      const down = await accepted(
        await tx.set(`${CAEP}assurance-level-change`, email(ed), {
          namespace: 'NIST-AAL',
          current_level: 'nist-aal1',
          previous_level: 'nist-aal3',
          change_direction: 'decrease',
        }),
      );
      const r = await bySession(ed, down);
      expect(r.decision).toBe('DECISION_STEP_UP');
      expect(codes(r)).toEqual(['ASSURANCE_LEVEL_DECREASED']);
      expect(r.step_up).toMatchObject({ max_age: 0 });
    });

    it('device-compliance-change: a non-compliant device is denied where policy requires compliance', async () => {
      const fi = await person('fi');
      const device = { format: 'complex', device: { format: 'opaque', id: fi.device }, tenant: tenantMember() };
      expect((await bySession(fi, await producer.lastSequence(), 'vault')).decision).toBe('DECISION_ALLOW');
      const bad = await accepted(
        await tx.set(`${CAEP}device-compliance-change`, device, {
          previous_status: 'compliant',
          current_status: 'not-compliant',
        }),
      );
      const denied = await bySession(fi, bad, 'vault');
      expect(denied.decision).toBe('DECISION_DENY');
      expect(codes(denied)).toEqual(['DEVICE_NOT_COMPLIANT']);
      // Where policy does not require compliance, nothing changes.
      expect((await bySession(fi, bad, 'doc')).decision).toBe('DECISION_ALLOW');
      const good = await accepted(
        await tx.set(`${CAEP}device-compliance-change`, device, {
          previous_status: 'not-compliant',
          current_status: 'compliant',
        }),
      );
      expect((await bySession(fi, good, 'vault')).decision).toBe('DECISION_ALLOW');
    });

    it('risk-level-change: user risk above the requirement is denied, lower risk is allowed again', async () => {
      const gu = await person('gu');
      const high = await accepted(
        await tx.set(`${CAEP}risk-level-change`, email(gu), {
          principal: 'USER',
          current_level: 'HIGH',
          previous_level: 'LOW',
          risk_reason: 'PASSWORD_FOUND_IN_DATA_BREACH',
        }),
      );
      const denied = await bySession(gu, high, 'vault');
      expect(codes(denied)).toEqual(['RISK_TOO_HIGH']);
      const low = await accepted(
        await tx.set(`${CAEP}risk-level-change`, email(gu), { principal: 'USER', current_level: 'LOW' }),
      );
      expect((await bySession(gu, low, 'vault')).decision).toBe('DECISION_ALLOW');
    });

    it('events out of order: one older than the state it would replace is accepted and changes nothing', async () => {
      const now = Math.floor(Date.now() / 1000);
      const at = (event: Record<string, unknown>, time: number): Record<string, unknown> => ({
        ...event,
        event_timestamp: time,
      });
      // The device became non-compliant 10 s ago; a report from before that, delivered late, says compliant.
      const ju = await person('ju');
      const device = { format: 'complex', device: { format: 'opaque', id: ju.device }, tenant: tenantMember() };
      const compliance = (status: string): Record<string, unknown> => ({
        previous_status: status === 'compliant' ? 'not-compliant' : 'compliant',
        current_status: status,
      });
      await accepted(
        await tx.set(`${CAEP}device-compliance-change`, device, at(compliance('not-compliant'), now - 10)),
      );
      const late = await accepted(
        await tx.set(`${CAEP}device-compliance-change`, device, at(compliance('compliant'), now - 100)),
      );
      expect(codes(await bySession(ju, late, 'vault'))).toEqual(['DEVICE_NOT_COMPLIANT']);
      // The same for user risk, and for an account enabled after a disabling that arrives late.
      const ke = await person('ke');
      const risk = (level: string): Record<string, unknown> => ({ principal: 'USER', current_level: level });
      await accepted(await tx.set(`${CAEP}risk-level-change`, email(ke), at(risk('HIGH'), now - 10)));
      const lower = await accepted(await tx.set(`${CAEP}risk-level-change`, email(ke), at(risk('LOW'), now - 100)));
      expect(codes(await bySession(ke, lower, 'vault'))).toEqual(['RISK_TOO_HIGH']);
      const li = await person('li');
      await accepted(await tx.set(`${RISC}account-enabled`, email(li), at({}, now - 10)));
      const disabled = await accepted(await tx.set(`${RISC}account-disabled`, email(li), at({}, now - 100)));
      expect((await bySession(li, disabled)).decision).toBe('DECISION_ALLOW');
      // An older decrease never moves the time sessions must be newer than back.
      const lo = await person('lo2');
      const decrease = { namespace: 'NIST-AAL', current_level: 'nist-aal1', change_direction: 'decrease' };
      await accepted(await tx.set(`${CAEP}assurance-level-change`, email(lo), at(decrease, now - 10)));
      const older = await accepted(await tx.set(`${CAEP}assurance-level-change`, email(lo), at(decrease, now - 100)));
      await gw.gateway.ingestor.waitForSequence(older, 5_000);
      expect(gw.gateway.store.posture(TENANT, 'assurance', lo.id)).toMatchObject({
        decreased_at: now - 10,
        'NIST-AAL': { at: now - 10 },
      });
    });

    it('an event_timestamp in the future counts as now: a sign-out never outlives the sign-ins after it', async () => {
      const now = Math.floor(Date.now() / 1000);
      const future = now + 10 * 365 * 86_400;
      const mu = await person('mu');
      const revoked = await accepted(await tx.set(`${CAEP}session-revoked`, email(mu), { event_timestamp: future }));
      expect(codes(await bySession(mu, revoked))).toEqual(['SESSION_REVOKED']);
      const changed = await accepted(
        await tx.set(`${CAEP}credential-change`, email(mu), {
          credential_type: 'password',
          change_type: 'update',
          event_timestamp: future,
        }),
      );
      await gw.gateway.ingestor.waitForSequence(changed, 5_000);
      const slice = gw.gateway.store.readSubject(TENANT, { kind: 'user', userId: mu.id }).slice;
      expect(slice?.signedOutBefore).toBeLessThanOrEqual(now + 120);
      expect(slice?.reauthenticateAfter).toBeLessThanOrEqual(now + 120);
    });

    it('account-disabled denies and ends sessions; account-enabled allows again', async () => {
      const hu = await person('hu');
      const watch = t.tcp.watch({ tenant: TENANT, user_ids: [hu.id] });
      await watch.ready;
      const disabled = await accepted(await tx.set(`${RISC}account-disabled`, email(hu), { reason: 'hijacking' }));
      expect((await watch.next()).kind).toBe('SESSION_EVENT_KIND_USER_SESSIONS_REVOKED');
      const denied = await t.tcp.check(request({ user_id: hu.id }, disabled));
      expect(codes(denied)).toEqual(['ACCOUNT_DISABLED']);
      expect(codes(await bySession(hu, disabled))).toContain('ACCOUNT_DISABLED');
      const enabled = await accepted(await tx.set(`${RISC}account-enabled`, email(hu), {}));
      expect((await t.tcp.check(request({ user_id: hu.id }, enabled))).decision).toBe('DECISION_ALLOW');
      // The sessions ended with the disabling stay ended.
      expect(codes(await bySession(hu, enabled))).toEqual(['SESSION_REVOKED']);
      watch.cancel();
    });

    it('account-purged deletes the user and what pointed at it', async () => {
      const io = await person('io');
      const purged = await accepted(
        await tx.set(`${RISC}account-purged`, { format: 'iss_sub', iss: tx.issuer, sub: io.sub }, {}),
      );
      const r = await t.tcp.check(request({ user_id: io.id }, purged));
      expect(codes(r)).toEqual(['SUBJECT_UNKNOWN']);
      expect(gw.gateway.store.user(TENANT, io.id)).toBeUndefined();
    });

    it('credential-compromise ends every session of the user', async () => {
      const jo = await person('jo');
      const seq = await accepted(
        await tx.set(`${RISC}credential-compromise`, email(jo), { credential_type: 'password' }),
      );
      expect(codes(await bySession(jo, seq))).toEqual(['SESSION_REVOKED']);
      expect(gw.gateway.store.posture(TENANT, 'credential', jo.id)).toMatchObject({
        compromised: { credential_type: 'password' },
      });
    });

    it('identifier-changed renames the user: the new e-mail names them, the old one no longer does', async () => {
      const ky = await person('ky');
      const renamed = `renamed-${ky.email}`;
      const seq = await accepted(await tx.set(`${RISC}identifier-changed`, email(ky), { 'new-value': renamed }));
      await t.tcp.check(request({ user_id: ky.id }, seq));
      expect(gw.gateway.store.user(TENANT, ky.id)?.userName).toBe(renamed);
      const byNew = await accepted(await tx.set(`${RISC}account-disabled`, { format: 'email', email: renamed }, {}));
      expect(codes(await t.tcp.check(request({ user_id: ky.id }, byNew)))).toEqual(['ACCOUNT_DISABLED']);
      const byOld = await deliver(await tx.set(`${RISC}account-enabled`, email(ky), {}));
      expect(byOld).toMatchObject({ err: 'invalid_request' });
    });

    it('identifier-recycled releases the identifier: later signals and sign-in links by it miss the old user', async () => {
      const lo = await person('lo');
      const alias = `${lo.id}.alias@umbrella.example`;
      await producer.publish(
        user(TENANT, lo.id, { user_name: lo.email, attributes: { emails: [{ value: alias, primary: true }] } }),
      );
      for (const recycled of [lo.email, alias]) {
        await accepted(await tx.set(`${RISC}identifier-recycled`, { format: 'email', email: recycled }, {}));
        // A later signal naming the identifier does not reach the old user.
        const late = await deliver(await tx.set(`${RISC}account-disabled`, { format: 'email', email: recycled }, {}));
        expect(late, recycled).toMatchObject({ accepted: false, err: 'invalid_request' });
      }
      const seq = await producer.lastSequence();
      expect((await bySession(lo, seq)).decision).toBe('DECISION_ALLOW');
      // Nor does a sign-in linked by e-mail.
      const now = Math.floor(Date.now() / 1000);
      const signIn = async (sub: string): Promise<unknown> => {
        const nonce = randomUUID();
        const idToken = await tx.keys.sign(
          {
            iss: tx.issuer,
            sub,
            aud: CLIENT_ID,
            iat: now,
            exp: now + 600,
            nonce,
            jti: randomUUID(),
            email: lo.email,
            email_verified: true,
          },
          {},
        );
        return await t.tcp.startSession({ tenant: TENANT, id_token: idToken, nonce });
      };
      expect(await t.tcp.failure(signIn(`new-${lo.id}`) as Promise<never>)).toMatchObject({
        reason: 'USER_NOT_PROVISIONED',
      });
      // The identifier's new owner, once provisioned, is who it names.
      const owner = `owner-${lo.id}`;
      await producer.publish(user(TENANT, owner, { user_name: lo.email }));
      const disabled = await accepted(await tx.set(`${RISC}account-disabled`, email(lo), {}));
      expect(codes(await t.tcp.check(request({ user_id: owner }, disabled)))).toEqual(['ACCOUNT_DISABLED']);
      expect((await bySession(lo, disabled)).decision).toBe('DECISION_ALLOW');
      expect(await signIn(`new-${lo.id}`)).toMatchObject({ user_id: owner, binding: 'linked' });
    });

    it('identifier-recycled naming a phone number takes it off the old user; later signals by it miss them', async () => {
      const pe = await person('pe');
      const phone = `+1206555${String(Math.floor(Math.random() * 10_000)).padStart(4, '0')}`;
      const byPhone = { format: 'phone_number', phone_number: phone };
      await producer.publish(
        user(TENANT, pe.id, {
          user_name: pe.email,
          attributes: { phoneNumbers: [{ value: `tel:${phone.slice(0, 2)}-${phone.slice(2)}`, type: 'mobile' }] },
        }),
      );
      const seq = await accepted(await tx.set(`${RISC}identifier-recycled`, byPhone, {}));
      await gw.gateway.ingestor.waitForSequence(seq, 5_000);
      expect(gw.gateway.store.user(TENANT, pe.id)).toMatchObject({
        userName: pe.email,
        attributes: { phoneNumbers: [] },
      });
      expect(await deliver(await tx.set(`${RISC}account-disabled`, byPhone, {}))).toMatchObject({
        accepted: false,
        err: 'invalid_request',
      });
      expect((await bySession(pe, await producer.lastSequence())).decision).toBe('DECISION_ALLOW');
    });

    it('an event without effect here (session-presented) is accepted and changes nothing', async () => {
      const lu = await person('lu');
      const before = await producer.lastSequence();
      await accepted(await tx.set(`${CAEP}session-presented`, email(lu), { fp_ua: 'abc' }));
      expect(await producer.lastSequence()).toBe(before);
    });

    it('every accepted SET is archived with its verification result; a refused one with its error', async () => {
      const tu = await person('tu');
      const jti = randomUUID();
      const set = await tx.set(`${RISC}account-enabled`, email(tu), {}, { jti });
      await accepted(set);
      const stored = await producer.jsm.streams.getMessage(AUDIT_STREAM, {
        last_by_subj: acceptedSetSubject(TENANT, tx.issuer, jti),
      });
      expect(stored?.json<AuditRecord>()).toMatchObject({
        kind: 'set.accepted',
        tenant: TENANT,
        data: {
          iss: tx.issuer,
          jti,
          delivery: mode,
          event_type: `${RISC}account-enabled`,
          verification: { alg: 'RS256', kid: tx.keys.publicJwk().kid, audience: tx.audience },
          set,
        },
      });
      const bad = await tx.set(`${RISC}account-enabled`, email(tu), {}, { aud: 'https://elsewhere.example' });
      expect(await deliver(bad)).toMatchObject({ accepted: false, err: 'invalid_audience' });
      const refusal = await producer.jsm.streams.getMessage(AUDIT_STREAM, {
        last_by_subj: `ipsie.audit.${TENANT}.set_refused`,
      });
      expect(refusal?.json<AuditRecord>()).toMatchObject({
        kind: 'set.refused',
        data: { err: 'invalid_audience', delivery: mode, set: bad },
      });
    });
  });
}
/** Asserts that `set` is refused with `err` and that neither the stream nor Check changed. */
export async function refused(
  set: string,
  err: string,
  description: RegExp,
  subject: Person,
  jti?: string,
): Promise<void> {
  const before = await producer.lastSequence();
  const result = await deliver(set, jti);
  expect(result).toMatchObject({ accepted: false, err });
  expect(result.accepted ? '' : result.description).toMatch(description);
  expect(await producer.lastSequence()).toBe(before);
  expect((await t.tcp.check(request({ user_id: subject.id }, before))).decision).toBe('DECISION_ALLOW');
}

export function describeRefusals(): void {
  describe(`refused SETs over ${mode}: the RFC 8935 error, and no state change`, () => {
    let mo: Person;
    beforeAll(async () => {
      mo = await person('mo');
    });

    const disable = async (options: Parameters<FakeTransmitter['set']>[3] = {}): Promise<string> =>
      await tx.set(`${RISC}account-disabled`, email(mo), {}, options);

    it('a forged signature (a key the transmitter does not publish)', async () => {
      const kid = await tx.keys.addKey('RS256', false);
      const forged = await disable({ kid });
      await refused(forged, 'invalid_key', /kid|key/i, mo);
      // Same kid as the real key, wrong private key: the signature does not verify.
      const [header, payload] = (await disable()).split('.');
      const [, , signature] = forged.split('.');
      await refused(`${header}.${payload}.${signature}`, 'authentication_failed', /signature/i, mo);
    });

    it('an issuer that is not this stream’s transmitter', async () => {
      await refused(await disable({ iss: 'https://evil.example' }), 'invalid_issuer', /evil/, mo);
      // globex's transmitter's valid SET, through umbrella's stream: speaking for another issuer.
      await refused(await other.set(`${RISC}account-disabled`, email(mo), {}), 'invalid_issuer', /transmitter/, mo);
    });

    it('a wrong audience', async () => {
      await refused(await disable({ aud: 'https://someone-else.example' }), 'invalid_audience', /not addressed/, mo);
    });

    it('a jti reused by a different SET', async () => {
      const jti = randomUUID();
      expect(await deliver(await tx.set(`${CAEP}session-presented`, email(mo), {}, { jti }))).toMatchObject({
        accepted: true,
      });
      await refused(await disable({ jti }), 'invalid_request', /different SET/, mo);
    });

    it('a stale or future iat', async () => {
      const now = Math.floor(Date.now() / 1000);
      await refused(await disable({ iat: now - 3600 }), 'invalid_request', /iat|old/i, mo);
      await refused(await disable({ iat: now + 3600 }), 'invalid_request', /iat|future/i, mo);
    });

    it('an unknown subject, or one of another customer of the transmitter', async () => {
      const nobody = { format: 'email', email: 'nobody@umbrella.example' };
      await refused(await tx.set(`${RISC}account-disabled`, nobody, {}), 'invalid_request', /no user/, mo);
      const otherCustomer = { format: 'complex', user: email(mo), tenant: { format: 'opaque', id: 'not-umbrella' } };
      await refused(await tx.set(`${RISC}account-disabled`, otherCustomer, {}), 'access_denied', /tenant/, mo);
    });

    it('identifier-recycled naming no identifier, or one nobody has', async () => {
      const byAccount = { format: 'iss_sub', iss: tx.issuer, sub: mo.sub };
      await refused(await tx.set(`${RISC}identifier-recycled`, byAccount, {}), 'invalid_request', /e-mail/, mo);
      const nobody = { format: 'email', email: `nobody-${randomUUID()}@umbrella.example` };
      await refused(await tx.set(`${RISC}identifier-recycled`, nobody, {}), 'invalid_request', /no user/, mo);
      expect(gw.gateway.store.user(TENANT, mo.id)?.userName).toBe(mo.email);
    });

    it('a SET carrying "sub" or "exp" (SSF §4.1.2, §4.1.7: never taken for another kind of JWT)', async () => {
      const now = Math.floor(Date.now() / 1000);
      await refused(await disable({ claims: { sub: mo.sub } }), 'invalid_request', /"sub"/, mo);
      await refused(await disable({ claims: { exp: now + 600 } }), 'invalid_request', /"exp"/, mo);
      await refused(await disable({ claims: { exp: now - 600 } }), 'invalid_request', /"exp"/, mo);
    });

    it('two events in one SET', async () => {
      const two = await disable({ alsoEvents: { [`${RISC}account-purged`]: {} } });
      await refused(two, 'invalid_request', /exactly one event/, mo);
    });

    it('a body that is not a SET: not JSON, not a JWT, the wrong typ, unsigned', async () => {
      await refused('{"events": {}}', 'invalid_request', /JWS compact/, mo, randomUUID());
      await refused('not a jwt at all', 'invalid_request', /JWS compact/, mo, randomUUID());
      await refused(await disable({ typ: 'JWT' }), 'invalid_request', /secevent\+jwt/, mo);
      const part = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
      const [, payload] = (await disable()).split('.');
      const unsigned = `${part({ alg: 'none', typ: 'secevent+jwt' })}.${payload ?? ''}.`;
      await refused(unsigned, 'invalid_key', /alg none/, mo);
    });

    it('a verification event: unsolicited is accepted without effect; a state never requested is invalid_state', async () => {
      const stream = { format: 'opaque', id: 'some-stream' };
      const before = await producer.lastSequence();
      expect(await deliver(await tx.set(`${SSF}verification`, stream, {}))).toMatchObject({ accepted: true });
      expect(await producer.lastSequence()).toBe(before);
      const forged = await tx.set(`${SSF}verification`, stream, { state: 'not-ours' });
      await refused(forged, 'invalid_state', /no verification/, mo);
    });
  });
}

/** Every subject identifier format a transmitter may send, and the hostile shapes of each. */
export function describeSubjectFormats(): void {
  describe(`subject identifiers over ${mode}`, () => {
    const disabled = async (subject: Record<string, unknown>, event: Record<string, unknown> = {}): Promise<string> =>
      await tx.set(`${RISC}account-disabled`, subject, event);

    it('aliases (RFC 9493 §3.2.8): the identifiers this receiver knows name the user; the others are passed over', async () => {
      const ka = await person('ka');
      const aliases = {
        format: 'aliases',
        identifiers: [
          { format: 'did', url: 'did:example:123456' },
          { format: 'catalog_item', catalog_id: 'c0384/winter/2354122' },
          // No format at all: an alias this receiver cannot read, passed over like the others.
          { email: ka.email },
          { format: 'email', subject_type: 'phone', email: ka.email },
          { format: 'iss_sub', iss: tx.issuer, sub: ka.sub },
          email(ka),
        ],
      };
      const seq = await accepted(await disabled(aliases));
      expect(codes(await t.tcp.check(request({ user_id: ka.id }, seq)))).toEqual(['ACCOUNT_DISABLED']);
    });

    it('aliases naming two users, nested, empty, none this receiver knows, or too many: refused', async () => {
      const [la, le] = [await person('la'), await person('le')];
      const aliases = (identifiers: unknown[]): Record<string, unknown> => ({ format: 'aliases', identifiers });
      await refused(await disabled(aliases([email(la), email(le)])), 'invalid_request', /different users/, la);
      await refused(await disabled(aliases([email(la), aliases([email(la)])])), 'invalid_request', /nested/, la);
      await refused(await disabled(aliases([])), 'invalid_request', /identifiers/, la);
      const unknown = aliases([{ format: 'catalog_item', catalog_id: 'c1' }]);
      await refused(await disabled(unknown), 'invalid_request', /no identifier/, la);
      const many = aliases(Array.from({ length: 33 }, () => email(la)));
      await refused(await disabled(many), 'invalid_request', /at most 32/, la);
      expect((await t.tcp.check(request({ user_id: le.id }, await producer.lastSequence()))).decision).toBe(
        'DECISION_ALLOW',
      );
    });

    it('a legacy subject in the event, typed by subject_type (Google RISC), names the user', async () => {
      const legacy = async (subject: Record<string, unknown>): Promise<string> =>
        await tx.set(
          `${RISC}account-disabled`,
          {},
          { subject, reason: 'hijacking' },
          { claims: { sub_id: undefined } },
        );
      const ma = await person('ma');
      const byAccount = await accepted(await legacy({ subject_type: 'iss-sub', iss: tx.issuer, sub: ma.sub }));
      expect(codes(await t.tcp.check(request({ user_id: ma.id }, byAccount)))).toEqual(['ACCOUNT_DISABLED']);
      const me = await person('me');
      const byEmail = await accepted(await legacy({ subject_type: 'email', email: me.email }));
      expect(codes(await t.tcp.check(request({ user_id: me.id }, byEmail)))).toEqual(['ACCOUNT_DISABLED']);
    });

    it('subject_type contradicting format, or a legacy subject naming another user than sub_id: refused', async () => {
      const [mi, mo] = [await person('mi'), await person('mo2')];
      const contradiction = { format: 'email', subject_type: 'iss-sub', email: mi.email, iss: tx.issuer, sub: mi.sub };
      await refused(await disabled(contradiction), 'invalid_request', /subject_type/, mi);
      const twoUsers = await tx.set(`${RISC}account-disabled`, email(mi), { subject: email(mo) });
      await refused(twoUsers, 'invalid_request', /different users/, mi);
      expect((await t.tcp.check(request({ user_id: mo.id }, await producer.lastSequence()))).decision).toBe(
        'DECISION_ALLOW',
      );
    });

    it('a complex subject’s members this receiver cannot process are passed over (SSF §3.5: best effort)', async () => {
      const na = await person('na');
      const complex = {
        format: 'complex',
        user: email(na),
        device: { format: 'ip-addresses', 'ip-addresses': ['198.51.100.7'] },
        application: { format: 'catalog_item', catalog_id: 'c0384/winter/2354122' },
        group: { format: 'opaque', id: 'engineering' },
        org_unit: { format: 'email' },
        workload: { format: 'uri', uri: 'spiffe://umbrella.example/ns/default' },
      };
      const seq = await accepted(await disabled(complex));
      expect(codes(await t.tcp.check(request({ user_id: na.id }, seq)))).toEqual(['ACCOUNT_DISABLED']);
    });

    it('a complex subject whose tenant cannot be compared with this customer is refused', async () => {
      const ne = await person('ne');
      const complex = {
        format: 'complex',
        user: email(ne),
        tenant: { format: 'catalog_item', catalog_id: 'umbrella-corp' },
      };
      await refused(await disabled(complex), 'access_denied', /tenant/, ne);
    });
  });
}
