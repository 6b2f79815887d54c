/**
 * The OpenID AuthZEN Todo interop for Authorization API 1.0-02 (test/conformance/authzen/, untouched): every
 * request of the file sent as it is to the AuthZEN endpoint of a real sidecar process, and the same requests
 * through gRPC Check, each answer compared with the file's expected decision (40 evaluations + 3 batches = 43).
 *
 * Nothing is arranged for the suite: the users of the interop directory are provisioned the way an IdP does
 * it, over the gateway's SCIM (userName = e-mail, externalId = the IdP's PID, one group per role with its
 * members), and the tenant's administrator uploads and activates `policies/examples/todo` through the admin
 * API. The requests name subjects by the PID (`subject.type` `user`); the tenant's default subject types find
 * the user by externalId. Real nats-server, gateway and sidecar processes.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { structFromJson } from '../../src/check/index.js';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { sha256, spawnGatewayProcess } from '../harness/gateway.js';
import type { GatewayProcess } from '../harness/gateway.js';
import { freePort, NatsServer } from '../harness/nats_server.js';
import { EXAMPLE_POLICY_DIR, opaPath, PROJECT_ROOT } from '../harness/opa.js';
import { ScimClient, sequenceOf } from '../harness/scim_client.js';
import { SidecarProcess } from '../harness/sidecar_process.js';
import { makeTempDir } from '../harness/temp_dir.js';

const DATA_DIR = join(PROJECT_ROOT, 'test/conformance/authzen');
const TENANT = 'todo';
const SCIM_TOKEN = `scim-${randomUUID()}`;
const ADMIN_TOKEN = `admin-${randomUUID()}`;
const PEP_TOKEN = `pep-${randomUUID()}`;

type Json = Record<string, unknown>;

interface Entity {
  readonly type: string;
  readonly id: string;
  readonly properties?: Json;
}

interface EvaluationRequest {
  readonly subject: Entity;
  readonly action: { readonly name: string };
  readonly resource: Entity;
}

interface EvaluationsRequest {
  readonly subject: Entity;
  readonly action: { readonly name: string };
  readonly evaluations: readonly { readonly resource: Entity }[];
}

interface Suite {
  readonly evaluation: readonly { readonly request: EvaluationRequest; readonly expected: boolean }[];
  readonly evaluations: readonly {
    readonly request: EvaluationsRequest;
    readonly expected: readonly { readonly decision: boolean }[];
  }[];
}

/** The interop directory's users: PID -> e-mail, name, roles (the `.ts` file's object literal, which is JSON). */
interface DirectoryUser {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly roles: readonly string[];
}

const suite = JSON.parse(readFileSync(join(DATA_DIR, 'decisions-authorization-api-1_0-02.json'), 'utf8')) as Suite;

function directoryUsers(): Map<string, DirectoryUser> {
  const text = readFileSync(join(DATA_DIR, 'todo-directory.ts.txt'), 'utf8');
  const literal = text.slice(text.indexOf('{', text.indexOf('const users')), text.indexOf('\n}\n') + 2);
  const entries = Object.entries(JSON.parse(literal) as Record<string, DirectoryUser>);
  // The directory lists each user under its PID and again under its e-mail (its id): the PIDs are the others.
  return new Map(entries.filter(([key, user]) => key !== user.id));
}

let gateway: GatewayProcess;
let sidecar: SidecarProcess;
let authzenBase = '';
const tempDir = makeTempDir('ipsie-authzen-todo-');
/** What afterAll stops, last started first: whatever beforeAll got to start. */
const stops: (() => Promise<unknown>)[] = [];

const tenants = {
  [TENANT]: {
    scim: { bearer_token_sha256: [sha256(SCIM_TOKEN)] },
    admin: { bearer_token_sha256: [sha256(ADMIN_TOKEN)] },
    authzen: {
      bearer_token_sha256: [sha256(PEP_TOKEN)],
      actions: ['can_read_user', 'can_read_todos', 'can_create_todo', 'can_update_todo', 'can_delete_todo'],
    },
  },
};

async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const response = await fetch(`${gateway.origin}/admin/v1/${TENANT}/policies${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_TOKEN}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? {} : (JSON.parse(text) as Json) };
}

/** Provisions the directory over SCIM as an IdP would; returns the last write's stream sequence. */
async function provision(): Promise<number> {
  const scim = new ScimClient(gateway.origin, TENANT, SCIM_TOKEN);
  const members = new Map<string, string[]>();
  let sequence = 0;
  for (const [pid, user] of directoryUsers()) {
    const [givenName, ...family] = user.name.split(' ');
    const created = await scim.post('/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: user.email,
      externalId: pid,
      name: { givenName, familyName: family.join(' ') },
      displayName: user.name,
      emails: [{ value: user.email, type: 'work', primary: true }],
      active: true,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    sequence = sequenceOf(created);
    for (const role of user.roles) members.set(role, [...(members.get(role) ?? []), String(created.body?.['id'])]);
  }
  for (const [role, ids] of members) {
    const group = await scim.post('/Groups', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
      displayName: role,
      members: ids.map((value) => ({ value })),
    });
    expect(group.status, JSON.stringify(group.body)).toBe(201);
    sequence = sequenceOf(group);
  }
  return sequence;
}

/** Uploads and activates the example todo policy (its Rego tests run at upload); returns its version. */
async function uploadPolicy(): Promise<string> {
  const dir = join(EXAMPLE_POLICY_DIR, TENANT);
  const modules = Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
  const uploaded = await admin('POST', '', { modules });
  expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201);
  const version = String(uploaded.body['version']);
  expect((await admin('POST', `/${version}/activate`)).status).toBe(200);
  return version;
}

/** The AuthZEN request's resource as the Check's, properties and all. */
const resourceOf = (resource: Entity): NonNullable<CheckRequestMessage['resource']> => ({
  type: resource.type,
  id: resource.id,
  properties: structFromJson(resource.properties ?? {}),
});

/** The subject as the PEP names it: the AuthZEN type and id, resolved by the same resolver. */
const subjectOf = (subject: Entity): NonNullable<CheckRequestMessage['subject']> => ({
  identifier: { type: subject.type, id: subject.id },
});

function checkOf(subject: Entity, action: string, resource: Entity): CheckRequestMessage {
  return { tenant: TENANT, subject: subjectOf(subject), action: { name: action }, resource: resourceOf(resource) };
}

beforeAll(async () => {
  const nats = await NatsServer.start();
  stops.push(async () => {
    await nats.dispose();
  });
  gateway = await spawnGatewayProcess(nats.url, tenants, { IPSIE_OPA_PATH: opaPath() });
  stops.push(async () => {
    await gateway.stop();
  });
  const tenantsFile = join(tempDir.path, 'tenants.json');
  writeFileSync(tenantsFile, JSON.stringify({ tenants }));
  // No policy on disk: the tenant's policy arrives only through the admin API and the catalog.
  const noPolicies = join(tempDir.path, 'policies');
  mkdirSync(noPolicies);
  const authzenPort = await freePort();
  sidecar = await SidecarProcess.spawn({
    natsUrl: nats.url,
    tenants: [],
    env: {
      IPSIE_TENANTS_FILE: tenantsFile,
      IPSIE_TENANT_POLICY_DIR: noPolicies,
      IPSIE_AUTHZEN_ADDRESS: `127.0.0.1:${authzenPort}`,
      IPSIE_LOG_LEVEL: 'warn',
      // The first evaluations on a busy machine may take long; decisions here are about the rules.
      IPSIE_POLICY_BUDGET_MS: '5000',
    },
  });
  stops.push(async () => await sidecar.stop());
  authzenBase = `http://127.0.0.1:${authzenPort}/${TENANT}/access/v1`;
  const sequence = await provision();
  const version = await uploadPolicy();
  // The sidecar serves once it has applied the provisioning and installed the activated version.
  const first = suite.evaluation[0]!.request;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const answer = await sidecar.client
      .check({ ...checkOf(first.subject, first.action.name, first.resource), min_sequence: sequence })
      .catch(() => undefined);
    if (answer?.policy_version === version) break;
    if (Date.now() > deadline) throw new Error(`the sidecar does not serve ${version} at sequence ${sequence}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}, 180_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  tempDir.remove();
});

async function authzen(path: string, body: unknown): Promise<Json> {
  const response = await fetch(`${authzenBase}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${PEP_TOKEN}` },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as Json;
}

const users = directoryUsers();
const who = (subject: Entity): string => users.get(subject.id)?.email ?? subject.id;
const what = (resource: Entity): string => {
  const owner = resource.properties?.['ownerID'];
  return `${resource.type} ${resource.id}${typeof owner === 'string' ? ` owned by ${owner}` : ''}`;
};

const evaluationCases = suite.evaluation.map((c, i) => ({
  title: `#${String(i + 1)} ${who(c.request.subject)} ${c.request.action.name} ${what(c.request.resource)} -> ${String(c.expected)}`,
  ...c,
}));
const evaluationsCases = suite.evaluations.map((c, i) => ({
  title: `#${String(i + 1)} ${who(c.request.subject)} ${c.request.action.name} on ${c.request.evaluations.map((e) => what(e.resource)).join(', ')} -> ${c.expected.map((e) => String(e.decision)).join(', ')}`,
  ...c,
}));

describe('AuthZEN Todo interop 1.0-02 through the AuthZEN endpoint', () => {
  it('the suite has 40 evaluations and 3 batches (43 requests)', () => {
    expect([suite.evaluation.length, suite.evaluations.length]).toEqual([40, 3]);
  });

  it.each(evaluationCases)('evaluation $title', async ({ request, expected }) => {
    const answer = await authzen('evaluation', request);
    expect(answer['decision'], JSON.stringify(answer['context'])).toBe(expected);
  });

  it.each(evaluationsCases)('evaluations $title', async ({ request, expected }) => {
    const answer = await authzen('evaluations', request);
    const decisions = (answer['evaluations'] as { decision: boolean }[]).map((e) => ({ decision: e.decision }));
    expect(decisions).toEqual(expected);
  });
});

describe('AuthZEN Todo interop 1.0-02 through gRPC Check', () => {
  it.each(evaluationCases)('Check $title', async ({ request, expected }) => {
    const answer = await sidecar.client.check(checkOf(request.subject, request.action.name, request.resource));
    expect(answer.decision === 'DECISION_ALLOW', JSON.stringify(answer.reasons)).toBe(expected);
  });

  it.each(evaluationsCases)('BatchCheck $title', async ({ request, expected }) => {
    const answer = await sidecar.client.batchCheck({
      tenant: TENANT,
      subject: subjectOf(request.subject),
      items: request.evaluations.map((e) => ({
        action: { name: request.action.name },
        resource: resourceOf(e.resource),
      })),
    });
    expect(answer.results.map((r) => ({ decision: r.decision === 'DECISION_ALLOW' }))).toEqual(expected);
  });
});
