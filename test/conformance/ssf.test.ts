/**
 * The 27 example SETs printed in the CAEP 1.0, RISC 1.0 and SSF 1.0 specifications
 * (test/conformance/ssf/, untouched), each re-signed by the tenant's transmitter and pushed (RFC 8935) to a
 * real gateway, whose changes a real sidecar applies. `iss`, `aud`, `iat` and `jti` are the tenant's; `events`,
 * `sub_id` and every other claim are the example's, exactly.
 *
 * What each example names exists the way an IdP makes it: users provisioned over SCIM (userName = e-mail), and
 * signed in with ID tokens of the issuers the examples' `iss_sub` subjects name (linked by e-mail). Each
 * example has a tenant of its own, so one example's effect never hides another's.
 *
 * The table says what a conformant receiver does with each example, and why: accepted with an effect a Check
 * or the store shows; accepted where the specification asks for no change of state (asserted: nothing
 * changed); or refused with its RFC 8935 `err`.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptedSetSubject, AUDIT_STREAM, AuditLog, verificationRequestSubject } from '../../src/audit/index.js';
import type { AuditRecord } from '../../src/audit/index.js';
import type { CheckRequestMessage, CheckResponseMessage } from '../../src/check/index.js';
import { FakeIdp } from '../harness/fake_idp.js';
import { FakeTransmitter } from '../harness/fake_transmitter.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { PROJECT_ROOT } from '../harness/opa.js';
import { ScimClient, sequenceOf } from '../harness/scim_client.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

const EXAMPLES_DIR = join(PROJECT_ROOT, 'test/conformance/ssf');
const PUSH_TOKEN = `push-${randomUUID()}`;
const SCIM_TOKEN = `scim-${randomUUID()}`;
/** The tenant id the examples' complex subjects carry (`sub_id.tenant`): this customer at the transmitter. */
const TENANT_AT_TRANSMITTER = '123456789';
/** The stream the SSF examples' verification and stream-updated events name (SSF §8.1.4.1, §8.1.5). */
const STREAM = 'f67e39a0a4d34d56b3aa1bc4cff0069f';
/** The stream the SSF §4.1.8 example (an array `aud`) names. */
const OTHER_STREAM = '72e6991badb44e08a69672960053b342';

/** The identity providers the examples' `iss_sub` and `jwt_id` subjects name; users sign in with them. */
const IDP = {
  tenant: 'https://idp.example.com/123456789/',
  jane: 'https://idp.example.com/3456789/',
  tokens: 'https://idp.example.com/987654321/',
  root: 'https://idp.example.com/',
  joe: 'https://idp.example.com/3456790/',
  ssf: 'https://idp.example.com/3957ea72-1b66-44d6-a044-d805712b9288/',
} as const;

const POLICY = (tenant: string): string => `package tenants.${tenant}

allow if input.action.name in {"read", "write"}

requirement := {"device_compliant": true} if input.resource.type == "vault"
`;

interface Example {
  readonly file: string;
  /** `caep-01-session-revoked.json` -> `caep_01`. */
  readonly tenant: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

const examples: readonly Example[] = readdirSync(EXAMPLES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({
    file,
    tenant: file.slice(0, file.indexOf('-', file.indexOf('-') + 1)).replace('-', '_'),
    payload: JSON.parse(readFileSync(join(EXAMPLES_DIR, file), 'utf8')) as Record<string, unknown>,
  }));

let nats: NatsServer;
let producer: TestProducer;
let tx: FakeTransmitter;
let idp: FakeIdp;
let gw: TestGateway;
let t: TestSidecar;

const clientId = (tenant: string): string => `app-${tenant}`;
const audience = (tenant: string): string => `https://app.example/ssf/${tenant}`;

/** One tenant per example, configured alike but for the stream id its verification events name. */
function tenantSettings(tenant: string): Record<string, unknown> {
  return {
    scim: { bearer_token_sha256: [sha256(SCIM_TOKEN)] },
    idps: Object.values(IDP).map((issuer) => ({
      issuer,
      client_id: clientId(tenant),
      jwks_uri: idp.jwksUri,
      link: { claim: 'email', to: 'userName' },
    })),
    ssf: {
      transmitters: [
        {
          issuer: tx.issuer,
          jwks_uri: tx.jwksUri,
          audience: audience(tenant),
          tenant_subject: TENANT_AT_TRANSMITTER,
          stream_id: tenant === 'ssf_01' ? OTHER_STREAM : STREAM,
          push: { bearer_token_sha256: [sha256(PUSH_TOKEN)] },
        },
      ],
    },
  };
}

beforeAll(async () => {
  [tx, idp] = await Promise.all([FakeTransmitter.start(), FakeIdp.start()]);
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  const tenants = Object.fromEntries(examples.map((e) => [e.tenant, tenantSettings(e.tenant)]));
  gw = await startTestGateway(nats.url, tenants);
  t = await startTestSidecar({
    // Decisions here are about signals, not evaluation budgets: a first evaluation on a busy machine may take long.
    env: { IPSIE_NATS_URL: nats.url, IPSIE_POLICY_BUDGET_MS: '5000' },
    tenants,
  });
  for (const { tenant } of examples) {
    await t.sidecar.deployPolicy({ tenantId: tenant, modules: new Map([['authz.rego', POLICY(tenant)]]) });
  }
}, 180_000);

afterAll(async () => {
  await t.stop();
  await gw.stop();
  await producer.close();
  await nats.dispose();
  await Promise.all([tx.stop(), idp.stop()]);
});

/** A user as an IdP provisions it over SCIM; returns its id. */
async function provision(
  tenant: string,
  userName: string,
  attributes: Readonly<Record<string, unknown>> = {},
): Promise<string> {
  const response = await new ScimClient(gw.origin, tenant, SCIM_TOKEN).post('/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName,
    active: true,
    emails: [{ value: userName, type: 'work', primary: true }],
    ...attributes,
  });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  sequenceOf(response);
  return response.body?.['id'] as string;
}

interface SignedIn {
  readonly userId: string;
  readonly sessionId: string;
  readonly sequence: number;
}

/** An OpenID Connect sign-in at the sidecar with an ID token of `issuer` for `sub` (linked by its e-mail). */
async function signIn(
  tenant: string,
  issuer: string,
  sub: string,
  email: string,
  options: { sid?: string; deviceId?: string } = {},
): Promise<SignedIn> {
  const nonce = randomUUID();
  const idToken = await idp.idToken(sub, clientId(tenant), {
    iss: issuer,
    nonce,
    email,
    email_verified: true,
    ...(options.sid === undefined ? {} : { sid: options.sid }),
  });
  const started = await t.tcp.startSession({
    tenant,
    id_token: idToken,
    nonce,
    ...(options.deviceId === undefined ? {} : { context: { device_id: options.deviceId } }),
  });
  return { userId: started.user_id, sessionId: started.session_id, sequence: Number(started.sequence) };
}

async function check(
  tenant: string,
  subject: NonNullable<CheckRequestMessage['subject']>,
  minSequence: number,
  type = 'doc',
): Promise<CheckResponseMessage> {
  return await t.tcp.check({
    tenant,
    subject,
    action: { name: 'read' },
    resource: { type, id: 'r1' },
    min_sequence: minSequence,
  });
}

const codes = (r: CheckResponseMessage): string[] => r.reasons.map((x) => x.code);

interface Pushed {
  readonly status: number;
  readonly body: { err?: string; description?: string } | undefined;
  /** The stream sequence of its last change; 0 when it changed nothing. */
  readonly sequence: number;
  readonly jti: string;
}

/** The example re-signed for its tenant and pushed to the tenant's endpoint. */
async function push(example: Example): Promise<Pushed> {
  const jti = randomUUID();
  const set = await tx.keys.sign(
    {
      ...example.payload,
      iss: tx.issuer,
      aud: audience(example.tenant),
      iat: Math.floor(Date.now() / 1000),
      jti,
    },
    { typ: 'secevent+jwt' },
  );
  const response = await fetch(`${gw.origin}/ssf/v1/${example.tenant}/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/secevent+jwt',
      accept: 'application/json',
      authorization: `Bearer ${PUSH_TOKEN}`,
    },
    body: set,
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text === '' ? undefined : (JSON.parse(text) as Pushed['body']),
    sequence: Number(response.headers.get('x-ipsie-sequence') ?? 0),
    jti,
  };
}

/** The sidecar's store once it holds `sequence`. */
async function storeAt(sequence: number): Promise<TestSidecar['sidecar']['store']> {
  expect(await t.sidecar.ingestor?.waitForSequence(sequence, 10_000)).toBe(true);
  return t.sidecar.store;
}

async function auditOf(example: Example, jti: string): Promise<AuditRecord | undefined> {
  const message = await producer.jsm.streams.getMessage(AUDIT_STREAM, {
    last_by_subj: acceptedSetSubject(example.tenant, tx.issuer, jti),
  });
  return message?.json<AuditRecord>();
}

/** What the receiver did with an example, and what shows it. */
type Decision =
  | {
      readonly outcome: 'effective';
      /** Makes what the example names; returns what `effect` needs. */
      readonly setup: (tenant: string) => Promise<Record<string, string>>;
      /** Asserts the effect, given the setup's values and the push. */
      readonly effect: (tenant: string, made: Record<string, string>, pushed: Pushed) => Promise<void>;
    }
  | {
      /** Accepted, and the specification asks for no change of state: nothing is published. */
      readonly outcome: 'no_state_change';
      readonly setup: (tenant: string) => Promise<Record<string, string>>;
      /** What shows it was taken, when anything does (the audit record). */
      readonly effect?: (example: Example, pushed: Pushed) => Promise<void>;
    }
  | { readonly outcome: 'refused'; readonly err: string; readonly description: RegExp };

const nothing = (): Promise<Record<string, string>> => Promise.resolve({});

/** A user signed in once at `issuer` as `sub`; `made.session` is the session, `made.user` the user. */
function signedInUser(
  issuer: string,
  sub: string,
  email: string,
  options: { sid?: string; deviceId?: string; attributes?: Record<string, unknown> } = {},
): (tenant: string) => Promise<Record<string, string>> {
  return async (tenant) => {
    const user = await provision(tenant, email, options.attributes);
    const signedIn = await signIn(tenant, issuer, sub, email, options);
    expect(signedIn.userId).toBe(user);
    const first = await check(tenant, { session_id: signedIn.sessionId }, signedIn.sequence);
    expect(first.decision, JSON.stringify(first.reasons)).toBe('DECISION_ALLOW');
    return { user, session: signedIn.sessionId };
  };
}

const sessionDenied =
  (reason: string) =>
  async (tenant: string, made: Record<string, string>, pushed: Pushed): Promise<void> => {
    const r = await check(tenant, { session_id: made['session'] ?? '' }, pushed.sequence);
    expect(r.decision).toBe('DECISION_DENY');
    expect(codes(r)).toContain(reason);
  };

/** The posture of `kind` about the example's user, or about `subjectId` (a device). */
const postureOf =
  (kind: Parameters<TestSidecar['sidecar']['store']['posture']>[1], subjectId: string | null, expected: object) =>
  async (tenant: string, made: Record<string, string>, pushed: Pushed): Promise<void> => {
    const id = subjectId ?? made['user'] ?? '';
    expect((await storeAt(pushed.sequence)).posture(tenant, kind, id)).toMatchObject(expected);
  };

/** A sign-out recorded at the event's own time: sessions authenticated before it end; later ones stay. */
const signedOutAt =
  (eventTimestamp: number) =>
  async (tenant: string, made: Record<string, string>, pushed: Pushed): Promise<void> => {
    const store = await storeAt(pushed.sequence);
    expect(store.readSubject(tenant, { kind: 'user', userId: made['user'] ?? '' }).slice?.signedOutBefore).toBe(
      eventTimestamp,
    );
    expect((await check(tenant, { session_id: made['session'] ?? '' }, pushed.sequence)).decision).toBe(
      'DECISION_ALLOW',
    );
  };

const JANE = 'jane.smith@example.com';
const JANE_DEVICE = 'e9297990-14d2-42ec-a4a9-4036db86509a';
const SESSION = 'dMTlD|1600802906337.16|16008.16';
/** The token the CAEP token-claims-change examples name by `jwt_id`. */
const NAMED_TOKEN = 'f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7';

/** A token of the IdP that `jwt_id` subjects name, with that `jti`; a Check presents it. */
async function namedTokenCheck(tenant: string, sequence: number): Promise<CheckResponseMessage> {
  const token = await idp.idToken('tok-user', clientId(tenant), { iss: IDP.tokens, jti: NAMED_TOKEN });
  return await check(tenant, { token }, sequence);
}

/**
 * Per example: the decision and its reason. Old `event_timestamp` values (2020, 2021) are what the examples
 * carry: SSF and CAEP define it as when the event happened, not as a freshness bound, so no example is refused
 * for it; an event is applied as of that time (a session-revoked of 2021 ends the sessions authenticated before
 * then, none of today's).
 */
const DECISIONS: Readonly<Record<string, Decision>> = {
  // CAEP 3.1, opaque session id: the IdP session the user's session was started from (its `sid`).
  'caep-01-session-revoked.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.tenant, '99beb27c-c1c2-4955-882a-e0dc4996fcbc', 'pat@example.com', { sid: SESSION }),
    effect: sessionDenied('SESSION_REVOKED'),
  },
  // Complex session + user (iss_sub) + tenant: the session of that user; the tenant is this customer.
  'caep-02-session-revoked.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.tenant, '99beb27c-c1c2-4955-882a-e0dc4996fcbc', 'pat@example.com', { sid: SESSION }),
    effect: sessionDenied('SESSION_REVOKED'),
  },
  // Complex user + device + tenant, revoked 2021-03-09: the user's sessions authenticated before then end
  // (recorded as her sign-out time); her session of today stays.
  'caep-03-session-revoked.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.tenant, JANE, JANE, { deviceId: JANE_DEVICE }),
    effect: signedOutAt(1615304991),
  },
  // jwt_id: the token names no longer hold, so it is revoked: a Check presenting it is denied.
  'caep-04-token-claims-change.json': {
    outcome: 'effective',
    setup: async (tenant) => {
      const made = await signedInUser(IDP.tokens, 'tok-user', 'tok@example.com')(tenant);
      expect((await namedTokenCheck(tenant, 0)).decision).toBe('DECISION_ALLOW');
      return made;
    },
    effect: async (tenant, _made, pushed) => {
      expect(codes(await namedTokenCheck(tenant, pushed.sequence))).toEqual(['TOKEN_REVOKED']);
    },
  },
  'caep-05-token-claims-change.json': {
    outcome: 'effective',
    setup: async (tenant) => {
      const made = await signedInUser(IDP.tokens, 'tok-user', 'tok@example.com')(tenant);
      expect((await namedTokenCheck(tenant, 0)).decision).toBe('DECISION_ALLOW');
      return made;
    },
    effect: async (tenant, _made, pushed) => {
      expect(codes(await namedTokenCheck(tenant, pushed.sequence))).toEqual(['TOKEN_REVOKED']);
    },
  },
  // saml_assertion_id (SSF §3.4.2): this receiver keeps no SAML assertions (sign-in is OpenID Connect only),
  // so the subject names nothing here; the transmitter learns the event had no effect.
  'caep-06-token-claims-change.json': {
    outcome: 'refused',
    err: 'invalid_request',
    description: /saml_assertion_id/,
  },
  // credential-change `create`: recorded for the policy; a new credential invalidates no session.
  'caep-07-credential-change.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.jane, JANE, JANE),
    effect: postureOf('credential', null, {
      last_change: { credential_type: 'fido2-roaming', change_type: 'create', at: 1615304991 },
    }),
  },
  'caep-08-assurance-level-change.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.jane, JANE, JANE),
    effect: postureOf('assurance', null, {
      'NIST-AAL': { current_level: 'nist-aal2', previous_level: 'nist-aal1', change_direction: 'increase' },
    }),
  },
  // A namespace of the transmitter's own ("Retinal Scan", CAEP 3.4 allows custom aliases): kept as sent.
  'caep-09-assurance-level-change.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.jane, JANE, JANE),
    effect: postureOf('assurance', null, {
      'Retinal Scan': { current_level: 'hi-res-scan', previous_level: null },
    }),
  },
  // Complex device + tenant: the device's posture; a request needing a compliant device is denied.
  'caep-10-device-compliance-change.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.tenant, JANE, JANE, { deviceId: JANE_DEVICE }),
    effect: async (tenant, made, pushed) => {
      await postureOf('device', JANE_DEVICE, { compliant: false, status: 'not-compliant' })(tenant, made, pushed);
      const r = await check(tenant, { session_id: made['session'] ?? '' }, pushed.sequence, 'vault');
      expect(codes(r)).toContain('DEVICE_NOT_COMPLIANT');
    },
  },
  // session-established / -presented (CAEP 3.6, 3.7) inform; they change no access decision.
  'caep-11-session-established.json': {
    outcome: 'no_state_change',
    setup: async (tenant) => ({ user: await provision(tenant, 'someuser@somedomain.com') }),
  },
  'caep-12-session-presented.json': {
    outcome: 'no_state_change',
    setup: async (tenant) => ({ user: await provision(tenant, 'someuser@somedomain.com') }),
  },
  'caep-13-risk-level-change.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.jane, 'jane.doe@example.com', 'jane.doe@example.com'),
    effect: postureOf('risk', null, { level: 'low', previous_level: 'high', principal: 'USER' }),
  },
  'risc-01-account-credential-change-required.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.root, '7375626A656374', 'subject@example.com'),
    effect: postureOf('credential', null, { change_required: true }),
  },
  'risc-02-account-disabled.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.root, '7375626A656374', 'subject@example.com'),
    effect: sessionDenied('ACCOUNT_DISABLED'),
  },
  // The old e-mail names the user; the new one replaces it.
  'risc-03-identifier-changed.json': {
    outcome: 'effective',
    setup: async (tenant) => ({ user: await provision(tenant, 'john.doe@example.com') }),
    effect: async (tenant, made, pushed) => {
      expect((await storeAt(pushed.sequence)).user(tenant, made['user'] ?? '')).toMatchObject({
        userName: 'john.roe@example.com',
      });
    },
  },
  // The address is someone else's now: released from the old user (docs/signals.md).
  'risc-04-identifier-recycled.json': {
    outcome: 'effective',
    setup: async (tenant) => ({ user: await provision(tenant, 'foo@example.com') }),
    effect: async (tenant, made, pushed) => {
      const store = await storeAt(pushed.sequence);
      expect(store.user(tenant, made['user'] ?? '')?.userName).toBe(`recycled:${made['user'] ?? ''}:foo@example.com`);
      expect(store.userIdsByEmail(tenant, 'foo@example.com')).toEqual([]);
    },
  },
  'risc-05-credential-compromise.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.joe, 'joe.smith@example.com', 'joe.smith@example.com'),
    effect: sessionDenied('SESSION_REVOKED'),
  },
  // Verification naming the tenant's stream with a state the receiver asked for (SSF §8.1.4): accepted, and
  // its record (with the state) is what completes the administrator's verification request.
  'ssf-01-verification.json': {
    outcome: 'no_state_change',
    setup: requestedVerification,
    effect: verificationRecorded,
  },
  'ssf-02-account-enabled.json': {
    outcome: 'effective',
    setup: async (tenant) => ({ user: await provision(tenant, 'foo@example.com') }),
    effect: postureOf('account', null, { disabled: false }),
  },
  // phone_number (RFC 9493 §3.2.5): SCIM keeps phone numbers (`phoneNumbers`), compared without separators.
  'ssf-03-account-disabled.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.root, 'phone-user', 'phone.user@example.com', {
      attributes: { phoneNumbers: [{ value: 'tel:+1-206-555-0123', type: 'mobile' }] },
    }),
    effect: sessionDenied('ACCOUNT_DISABLED'),
  },
  'ssf-04-token-claims-change.json': {
    outcome: 'effective',
    setup: async (tenant) => ({ user: await provision(tenant, 'user@example.com') }),
    effect: postureOf('claims', null, { claims: { token: 'some-token-value' } }),
  },
  // Complex user + device, revoked 2020-09-24: as caep-03.
  'ssf-05-session-revoked.json': {
    outcome: 'effective',
    setup: signedInUser(IDP.ssf, JANE, JANE, { deviceId: JANE_DEVICE }),
    effect: signedOutAt(1600975810),
  },
  'ssf-06-token-claims-change.json': {
    outcome: 'effective',
    setup: async (tenant) => ({ user: await provision(tenant, 'foo@example2.com') }),
    effect: postureOf('claims', null, { claims: { role: 'ro-admin' } }),
  },
  // `catalog_item` is a proprietary format (SSF §3.4: only if agreed between the parties); nothing was agreed.
  'ssf-07-token-claims-change.json': {
    outcome: 'refused',
    err: 'invalid_request',
    description: /catalog_item/,
  },
  'ssf-08-verification.json': {
    outcome: 'no_state_change',
    setup: requestedVerification,
    effect: verificationRecorded,
  },
  // The transmitter paused the stream (SSF §8.1.5): recorded, so operators see why events stopped.
  'ssf-09-stream-updated.json': {
    outcome: 'no_state_change',
    setup: nothing,
    effect: async (example, pushed) => {
      expect(await auditOf(example, pushed.jti)).toMatchObject({ data: { stream_status: 'paused' } });
    },
  },
};

const VERIFICATION_STATE = 'VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo=';

/** The receiver asked for a verification with the example's state, recorded as `POST …/ssf/verify` records it. */
async function requestedVerification(tenant: string): Promise<Record<string, string>> {
  const audit = new AuditLog(producer.nc, jetstream(producer.nc), producer.jsm);
  await audit.append(
    {
      v: 1,
      id: randomUUID(),
      tenant,
      kind: 'ssf.verification_requested',
      at: Date.now(),
      data: { iss: tx.issuer, stream_id: tenant === 'ssf_01' ? OTHER_STREAM : STREAM, state: VERIFICATION_STATE },
    },
    { subject: verificationRequestSubject(tenant, VERIFICATION_STATE) },
  );
  return {};
}

async function verificationRecorded(example: Example, pushed: Pushed): Promise<void> {
  expect(await auditOf(example, pushed.jti)).toMatchObject({ data: { state: VERIFICATION_STATE } });
}

describe('the CAEP, RISC and SSF specifications’ example SETs, pushed to a tenant each', () => {
  it('has a decision for every example, and 27 examples', () => {
    expect(examples.map((e) => e.file).sort()).toEqual(Object.keys(DECISIONS).sort());
    expect(examples).toHaveLength(27);
  });

  for (const example of examples) {
    const decision = DECISIONS[example.file];
    if (decision === undefined) continue;
    const title =
      decision.outcome === 'refused'
        ? `${example.file}: refused, ${decision.err}`
        : decision.outcome === 'effective'
          ? `${example.file}: accepted, and its effect shows`
          : `${example.file}: accepted, changing no state`;
    it(title, async () => {
      if (decision.outcome === 'refused') {
        const before = await producer.lastSequence();
        const pushed = await push(example);
        expect(pushed.status, JSON.stringify(pushed.body)).toBe(400);
        expect(pushed.body?.err).toBe(decision.err);
        expect(pushed.body?.description).toMatch(decision.description);
        expect(await producer.lastSequence()).toBe(before);
        return;
      }
      const made = await decision.setup(example.tenant);
      const before = await producer.lastSequence();
      const pushed = await push(example);
      expect(pushed.status, JSON.stringify(pushed.body)).toBe(202);
      if (decision.outcome === 'no_state_change') {
        expect(pushed.sequence).toBe(0);
        expect(await producer.lastSequence()).toBe(before);
        await decision.effect?.(example, pushed);
        return;
      }
      expect(pushed.sequence).toBeGreaterThan(before);
      await decision.effect(example.tenant, made, pushed);
    });
  }
});
