/**
 * A SCIM write rewrites a user's or group's whole state on the stream:
 * fields a newer producer added to that state (kept by this build as
 * `extra`) must survive it, or a mixed-version fleet loses data on every
 * update from the IdP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeChange, subjectOf } from '../../src/changes/index.js';
import type { Change } from '../../src/changes/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { ScimClient } from '../harness/scim_client.js';
import { TestProducer } from '../harness/stream.js';

const TOKEN = 'acme-scim-token';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';

let nats: NatsServer;
let producer: TestProducer;
let gateway: TestGateway;
let scim: ScimClient;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  gateway = await startTestGateway(nats.url, { acme: { scim: { bearer_token_sha256: [sha256(TOKEN)] } } });
  scim = new ScimClient(gateway.origin, 'acme', TOKEN);
}, 120_000);

afterAll(async () => {
  await gateway.stop();
  await producer.close();
  await nats.dispose();
});

/** The latest change on the entity's subject, as a sidecar would decode it. */
async function latest(change: Change): Promise<Change> {
  const message = await producer.jsm.streams.getMessage('IPSIE_STATE', { last_by_subj: subjectOf(change) });
  if (message === null) throw new Error(`no message on ${subjectOf(change)}`);
  return decodeChange(message.data);
}

/** Republishes the entity's latest state with a field this build does not know, as a newer gateway would. */
async function addNewerField(change: Change, field: Record<string, unknown>): Promise<void> {
  const current = await latest(change);
  const data = current.data as { extra?: Record<string, unknown> };
  await producer.publish({ ...current, id: `${current.id}-newer`, data: { ...data, extra: field } } as Change);
}

describe('SCIM writes keep what newer producers added', () => {
  it('a PATCH and a PUT of a user keep its unknown fields', async () => {
    const created = await scim.post('/Users', { schemas: [USER_SCHEMA], userName: 'ada@acme.example' });
    const id = created.body?.['id'] as string;
    const probe = { kind: 'user.upsert', tenant: 'acme', data: { id } } as Change;
    await addNewerField(probe, { clearance_v2: 'restricted' });

    const patched = await scim.patch(`/Users/${id}`, [{ op: 'replace', path: 'title', value: 'Engineer' }]);
    expect(patched.status).toBe(200);
    expect(await latest(probe)).toMatchObject({
      data: { attributes: { title: 'Engineer' }, extra: { clearance_v2: 'restricted' } },
    });

    const put = await scim.put(`/Users/${id}`, { schemas: [USER_SCHEMA], userName: 'ada@acme.example' });
    expect(put.status).toBe(200);
    expect(await latest(probe)).toMatchObject({ data: { attributes: {}, extra: { clearance_v2: 'restricted' } } });
  });

  it('a rename of a group keeps its unknown fields', async () => {
    const created = await scim.post('/Groups', { schemas: [GROUP_SCHEMA], displayName: 'Engineering' });
    const id = created.body?.['id'] as string;
    const probe = { kind: 'group.upsert', tenant: 'acme', data: { id } } as Change;
    await addNewerField(probe, { cost_center: 'cc-7' });

    const renamed = await scim.patch(`/Groups/${id}`, [{ op: 'replace', path: 'displayName', value: 'R&D' }]);
    expect(renamed.status).toBe(204);
    expect(await latest(probe)).toMatchObject({ data: { display_name: 'R&D', extra: { cost_center: 'cc-7' } } });
  });
});
