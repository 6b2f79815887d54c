/**
 * The app's resource API over gRPC (`ipsie.sidecar.v1.Resources` on the gateway's gRPC listener): the HTTP
 * API's checks, credential and audit, answered with the stream sequence that a sidecar's Check takes as
 * `min_sequence`. Real nats-server, gateway, sidecar and opa-compiled Wasm.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_STREAM } from '../../src/audit/index.js';
import { authzProto, errorReasonOf, structFromJson } from '../../src/check/index.js';
import { change, user } from '../harness/changes.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const APP = 'app-docs-token';
const OTHER_APP = 'app-other-token';

const POLICY = `package tenants.docs

allow if {
	input.action.name == "read"
	"viewer" in input.resource.stored.subject_relations
}
`;

let nats: NatsServer;
let producer: TestProducer;
let gateway: TestGateway;
let sidecar: TestSidecar;
let client: grpc.Client & Record<string, grpc.requestCallback<unknown> & ((...args: unknown[]) => unknown)>;
const policyDir = makeTempDir('ipsie-resources-grpc-');

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  await producer.publishAll([
    change('docs', 'tenant.upsert', { display_name: 'Docs' }),
    change('other', 'tenant.upsert', { display_name: 'Other' }),
    user('docs', 'u-ann'),
  ]);
  const tenants = {
    docs: { resources: { bearer_token_sha256: [sha256(APP)] } },
    other: { resources: { bearer_token_sha256: [sha256(OTHER_APP)] } },
  };
  gateway = await startTestGateway(nats.url, tenants, { IPSIE_GATEWAY_GRPC_ADDRESS: '127.0.0.1:0' });
  mkdirSync(join(policyDir.path, 'docs'));
  writeFileSync(join(policyDir.path, 'docs', 'authz.rego'), POLICY);
  sidecar = await startTestSidecar({
    env: { IPSIE_NATS_URL: nats.url, IPSIE_TENANT_POLICY_DIR: policyDir.path },
    tenants: { docs: {}, other: {} },
  });
  const Resources = authzProto().ipsie.sidecar.v1.Resources;
  client = new Resources(
    `127.0.0.1:${String(gateway.gateway.grpcPort)}`,
    grpc.credentials.createInsecure(),
  ) as unknown as typeof client;
});

afterAll(async () => {
  client.close();
  await sidecar.stop();
  await gateway.stop();
  await producer.close();
  await nats.dispose();
  policyDir.remove();
});

/** A unary call with the app's credential: its sequence, or the failure's status and reason. */
async function call(
  method: 'PutResource' | 'DeleteResource' | 'AddRelation' | 'RemoveRelation',
  request: Record<string, unknown>,
  token = APP,
): Promise<{ sequence?: number; code?: number; reason?: string | undefined }> {
  const metadata = new grpc.Metadata();
  if (token !== '') metadata.set('authorization', `Bearer ${token}`);
  return await new Promise((resolve) => {
    (client[method] as (r: unknown, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, v?: unknown) => void) => void)(
      request,
      metadata,
      (error, value) => {
        if (error !== null) resolve({ code: error.code, reason: errorReasonOf(error) });
        else resolve({ sequence: Number((value as { sequence: string }).sequence) });
      },
    );
  });
}

const viewer = {
  tenant: 'docs',
  resource_type: 'doc',
  resource_id: 'd1',
  relation: 'viewer',
  subject_kind: 'user',
  subject_id: 'u-ann',
};

async function annReads(minSequence: number): Promise<string> {
  return (
    await sidecar.tcp.check({
      tenant: 'docs',
      subject: { user_id: 'u-ann' },
      action: { name: 'read' },
      resource: { type: 'doc', id: 'd1' },
      min_sequence: String(minSequence),
    })
  ).decision;
}

describe('the resource API over gRPC', () => {
  it('a relation written over gRPC is seen by the next Check that carries its sequence, and its removal too', async () => {
    const put = await call('PutResource', {
      tenant: 'docs',
      type: 'doc',
      id: 'd1',
      attributes: structFromJson({ title: 'Plan' }),
    });
    expect(put.sequence).toBeGreaterThan(0);
    expect(await annReads(put.sequence ?? 0)).toBe('DECISION_DENY');
    const added = await call('AddRelation', viewer);
    expect(added.sequence).toBeGreaterThan(put.sequence ?? 0);
    expect(await annReads(added.sequence ?? 0)).toBe('DECISION_ALLOW');
    const removed = await call('RemoveRelation', viewer);
    expect(await annReads(removed.sequence ?? 0)).toBe('DECISION_DENY');
  });

  it('refuses as the HTTP API does: no or another tenant’s credential, an unknown subject, a parent cycle, a bad relation', async () => {
    expect(await call('PutResource', { tenant: 'docs', type: 'doc', id: 'd2' }, '')).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
      reason: 'RESOURCE_UNAUTHORIZED',
    });
    expect(await call('PutResource', { tenant: 'docs', type: 'doc', id: 'd2' }, OTHER_APP)).toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    await call('PutResource', { tenant: 'docs', type: 'folder', id: 'f1' });
    await call('PutResource', { tenant: 'docs', type: 'folder', id: 'f2' });
    const parent = (child: string, of: string): Record<string, unknown> => ({
      tenant: 'docs',
      resource_type: 'folder',
      resource_id: child,
      relation: 'parent',
      subject_kind: 'resource',
      subject_type: 'folder',
      subject_id: of,
    });
    expect((await call('AddRelation', parent('f1', 'f2'))).sequence).toBeGreaterThan(0);
    const cycle = await call('AddRelation', parent('f2', 'f1'));
    expect(cycle.reason).toBe('RESOURCE_CONFLICT');
    expect((await call('AddRelation', { ...viewer, subject_id: 'nobody' })).reason).toBe('RESOURCE_NOT_FOUND');
    expect((await call('AddRelation', { ...viewer, subject_kind: 'robot' })).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((await call('DeleteResource', { tenant: 'docs', type: 'doc', id: 'missing' })).reason).toBe(
      'RESOURCE_NOT_FOUND',
    );
  });

  it('each write is on the tenant audit trail, as the HTTP API records it', async () => {
    const added = await call('AddRelation', viewer);
    const deadline = Date.now() + 5_000;
    let record: { data?: Record<string, unknown> } | undefined;
    while (record?.data?.['sequence'] !== added.sequence && Date.now() < deadline) {
      const message = await producer.jsm.streams
        .getMessage(AUDIT_STREAM, { last_by_subj: 'ipsie.audit.docs.resource_write' })
        .catch(() => null);
      record = message?.json();
      if (record?.data?.['sequence'] !== added.sequence) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(record).toMatchObject({
      tenant: 'docs',
      kind: 'resource.write',
      data: { method: 'grpc:AddRelation', status: 'OK', sequence: added.sequence },
    });
  });
});
