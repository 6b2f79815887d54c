import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ACME, GLOBEX, provisionExampleTenants } from '../../demo/example_directory.js';
import { structFromJson } from '../../src/check/index.js';
import type { CheckRequestMessage } from '../../src/check/index.js';
import { examplePolicy } from '../harness/opa.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';

const NOW = 1_800_000_000;

let t: TestSidecar;

beforeAll(async () => {
  t = await startTestSidecar({ clock: () => NOW });
  provisionExampleTenants(t.sidecar.store);
  await t.sidecar.deployPolicy(await examplePolicy('acme'));
  await t.sidecar.deployPolicy(await examplePolicy('globex'));
});

afterAll(async () => {
  await t.stop();
});

const alice = ACME.people['alice']!;
const bob = ACME.people['bob']!;
const erin = GLOBEX.people['erin']!;

function readDocument(tenant: string, userId: string): CheckRequestMessage {
  return {
    tenant,
    subject: { user_id: userId },
    action: { name: 'read' },
    resource: { type: 'document', id: 'doc-1', properties: structFromJson({ department: 'R&D' }) },
  };
}

describe('Check over gRPC with real OPA-compiled Wasm', () => {
  it('two tenants with different policies answer the same request differently', async () => {
    // Same shape of user (Engineering, R&D) and the same request in both tenants:
    // acme's RBAC grants developers repositories only; globex's ABAC grants by department.
    const acme = await t.tcp.check(readDocument('acme', bob.id));
    const globex = await t.tcp.check(readDocument('globex', erin.id));
    expect(acme.decision).toBe('DECISION_DENY');
    expect(acme.reasons.map((r) => r.code)).toEqual(['POLICY_DENIED']);
    expect(globex.decision).toBe('DECISION_ALLOW');
    expect(acme.policy_version).toMatch(/^sha256:[0-9a-f]{16}$/);
    expect(globex.policy_version).not.toBe(acme.policy_version);
  });

  it('answers the same over the Unix socket as over TCP', async () => {
    const request: CheckRequestMessage = {
      tenant: 'acme',
      subject: { user_id: bob.id },
      action: { name: 'write' },
      resource: { type: 'repository', id: 'r1' },
    };
    const [tcp, uds] = await Promise.all([t.tcp.check(request), t.uds.check(request)]);
    expect(tcp.decision).toBe('DECISION_ALLOW');
    expect(uds.decision).toBe('DECISION_ALLOW');
    expect(uds.decision_id).not.toBe(tcp.decision_id);
    expect(uds.decision_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('does not know a user of tenant A in tenant B', async () => {
    const response = await t.tcp.check(readDocument('globex', alice.id));
    expect(response.decision).toBe('DECISION_DENY');
    expect(response.reasons.map((r) => r.code)).toEqual(['SUBJECT_UNKNOWN']);
  });

  it('denies a deactivated user whatever the tenant policy says', async () => {
    const store = t.sidecar.store;
    const request: CheckRequestMessage = {
      tenant: 'acme',
      subject: { user_id: bob.id },
      action: { name: 'read' },
      resource: { type: 'repository', id: 'r1' },
    };
    expect((await t.tcp.check(request)).decision).toBe('DECISION_ALLOW');
    store.upsertUser({
      tenantId: 'acme',
      id: bob.id,
      userName: bob.userName,
      externalId: 'bob',
      active: false,
      attributes: bob.attributes,
      roles: [],
    });
    try {
      const denied = await t.tcp.check(request);
      expect(denied.decision).toBe('DECISION_DENY');
      expect(denied.reasons.map((r) => r.code)).toEqual(['ACCOUNT_INACTIVE']);
    } finally {
      store.upsertUser({
        tenantId: 'acme',
        id: bob.id,
        userName: bob.userName,
        externalId: 'bob',
        active: true,
        attributes: bob.attributes,
        roles: [],
      });
    }
  });

  it('answers STEP_UP with RFC 9470 parameters when the session is too weak', async () => {
    t.sidecar.store.upsertSession({
      tenantId: 'acme',
      id: 'sess-alice-weak',
      userId: alice.id,
      issuer: ACME.issuer,
      acr: 'urn:okta:loa:1fa:pwd',
      amr: ['pwd'],
      authTime: NOW - 60,
      expiresAt: NOW + 3600,
      createdAt: NOW - 60,
      revokedAt: undefined,
      revokeReason: undefined,
      ip: undefined,
      deviceId: undefined,
    });
    const response = await t.tcp.check({
      tenant: 'acme',
      subject: { session_id: 'sess-alice-weak' },
      action: { name: 'approve' },
      resource: { type: 'deployment', id: 'dep-7' },
    });
    expect(response.decision).toBe('DECISION_STEP_UP');
    expect(response.reasons.map((r) => r.code)).toEqual(['AUTHN_LEVEL_INSUFFICIENT']);
    expect(response.step_up).toEqual({
      acr_values: ['phr'],
      max_age: 900,
      _max_age: 'max_age',
      // What to add to the OIDC authorization request: the acr as an essential claim (a user named directly: no
      // IdP is known, so the default, which binds a stock OP).
      authorization_params: {
        max_age: '900',
        claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['phr'] } } }),
      },
      // Not a SAML session: no AuthnRequest.
      saml_request: null,
    });
  });

  it('denies an unknown session and a revoked one', async () => {
    const unknown = await t.tcp.check({
      tenant: 'acme',
      subject: { session_id: 'nope' },
      action: { name: 'read' },
      resource: { type: 'repository' },
    });
    expect(unknown.reasons.map((r) => r.code)).toEqual(['SESSION_UNKNOWN']);

    const bobSession = {
      tenantId: 'acme',
      id: 'sess-bob',
      userId: bob.id,
      issuer: ACME.issuer,
      acr: 'phr',
      amr: ['hwk'],
      authTime: NOW - 60,
      expiresAt: NOW + 3600,
      createdAt: NOW - 60,
      revokedAt: undefined,
      revokeReason: undefined,
      ip: undefined,
      deviceId: undefined,
    };
    t.sidecar.store.upsertSession(bobSession);
    const request: CheckRequestMessage = {
      tenant: 'acme',
      subject: { session_id: 'sess-bob' },
      action: { name: 'read' },
      resource: { type: 'repository' },
    };
    expect((await t.tcp.check(request)).decision).toBe('DECISION_ALLOW');
    t.sidecar.store.upsertSession({ ...bobSession, revokedAt: NOW, revokeReason: 'test' });
    const revoked = await t.tcp.check(request);
    expect(revoked.decision).toBe('DECISION_DENY');
    expect(revoked.reasons.map((r) => r.code)).toEqual(['SESSION_REVOKED']);
  });

  it('decides a batch for one subject at one policy version, in request order', async () => {
    const response = await t.uds.batchCheck({
      tenant: 'acme',
      subject: { user_id: bob.id },
      items: [
        { action: { name: 'read' }, resource: { type: 'repository', id: 'r1' } },
        { action: { name: 'pay' }, resource: { type: 'invoice', id: 'i1' } },
        { action: { name: 'write' }, resource: { type: 'repository', id: 'r2' } },
      ],
    });
    expect(response.results.map((r) => r.decision)).toEqual(['DECISION_ALLOW', 'DECISION_DENY', 'DECISION_ALLOW']);
    expect(new Set(response.results.map((r) => r.decision_id)).size).toBe(3);
    expect(response.policy_version).toBe(t.sidecar.policies.get('acme').version);
    expect(response.sequence).toBe('0');
  });
});

describe('the store on the Check path', () => {
  it('a Check or BatchCheck without min_sequence never asks the store for its applied sequence', async () => {
    const applied = vi.spyOn(t.sidecar.store, 'appliedSequence');
    try {
      const request = readDocument('acme', bob.id);
      const { subject, action, resource } = request;
      await t.tcp.check(request); // fills the subject cache
      await t.tcp.check(request);
      await t.tcp.batchCheck({
        tenant: 'acme',
        subject: subject ?? null,
        items: [{ action: action ?? null, resource: resource ?? null }],
      });
      expect(applied).not.toHaveBeenCalled();
    } finally {
      applied.mockRestore();
    }
  });
});

describe('BatchCheck equals Check', () => {
  it('answers every item exactly as a Check of that item would, in one evaluation', async () => {
    const items = [
      { action: { name: 'read' }, resource: { type: 'repository', id: 'r1' } },
      { action: { name: 'approve' }, resource: { type: 'deployment', id: 'd1' } },
      { action: { name: 'pay' }, resource: { type: 'invoice', id: 'i1' } },
      { action: { name: 'delete' }, resource: { type: 'repository', id: 'r2' } },
      {
        action: { name: 'write' },
        resource: { type: 'repository', id: 'r3', properties: structFromJson({ owner: 'x' }) },
        context: { ip: '203.0.113.9' },
      },
    ];
    t.sidecar.store.upsertSession({
      tenantId: 'acme',
      id: 'sess-alice-batch',
      userId: alice.id,
      issuer: ACME.issuer,
      acr: 'urn:okta:loa:1fa:pwd',
      amr: ['pwd'],
      authTime: NOW - 60,
      expiresAt: NOW + 3600,
      createdAt: NOW - 60,
      revokedAt: undefined,
      revokeReason: undefined,
      ip: undefined,
      deviceId: undefined,
    });
    for (const subject of [{ user_id: alice.id }, { session_id: 'sess-alice-batch' }, { user_id: 'nobody' }]) {
      const batch = await t.tcp.batchCheck({ tenant: 'acme', subject, items });
      const singles = await Promise.all(
        items.map(async (item) => await t.tcp.check({ tenant: 'acme', subject, ...item })),
      );
      const strip = (r: { decision: unknown; reasons: unknown; step_up: unknown }): unknown => ({
        decision: r.decision,
        reasons: r.reasons,
        step_up: r.step_up,
      });
      expect(batch.results.map(strip)).toEqual(singles.map(strip));
    }
  });
});

describe('bad requests get a documented status and reason', () => {
  const valid: CheckRequestMessage = {
    tenant: 'acme',
    subject: { user_id: bob.id },
    action: { name: 'read' },
    resource: { type: 'repository' },
  };

  it.each([
    ['missing tenant', { ...valid, tenant: '' }, status.INVALID_ARGUMENT, 'TENANT_MISSING'],
    ['malformed tenant', { ...valid, tenant: 'Acme Corp' }, status.INVALID_ARGUMENT, 'TENANT_INVALID'],
    ['unknown tenant', { ...valid, tenant: 'initech' }, status.NOT_FOUND, 'TENANT_UNKNOWN'],
    ['missing subject', { ...valid, subject: null }, status.INVALID_ARGUMENT, 'SUBJECT_MISSING'],
    ['empty subject id', { ...valid, subject: { user_id: '' } }, status.INVALID_ARGUMENT, 'SUBJECT_MISSING'],
    ['missing action', { ...valid, action: null }, status.INVALID_ARGUMENT, 'ACTION_MISSING'],
    ['missing resource type', { ...valid, resource: { id: 'x' } }, status.INVALID_ARGUMENT, 'RESOURCE_MISSING'],
    ['unreached min_sequence', { ...valid, min_sequence: 5 }, status.FAILED_PRECONDITION, 'SEQUENCE_NOT_REACHED'],
  ] as const)('%s', async (_name, request, code, reason) => {
    const failure = await t.tcp.failure(t.tcp.check(request));
    expect(failure).toMatchObject({ code, reason });
  });

  it('a token that is not a JWT is a DENY with TOKEN_MALFORMED, not an error', async () => {
    const response = await t.tcp.check({ ...valid, subject: { token: 'eyJ.not-a-jwt' } });
    expect(response.decision).toBe('DECISION_DENY');
    expect(response.reasons.map((r) => r.code)).toEqual(['TOKEN_MALFORMED']);
  });

  it('a known tenant without a loaded policy fails closed with UNAVAILABLE', async () => {
    t.sidecar.store.upsertTenant({ id: 'hooli', displayName: 'Hooli' });
    const failure = await t.tcp.failure(t.tcp.check({ ...valid, tenant: 'hooli' }));
    expect(failure).toMatchObject({ code: status.UNAVAILABLE, reason: 'POLICY_NOT_LOADED' });
  });

  it('an empty or oversized batch is refused', async () => {
    const base = { tenant: 'acme', subject: { user_id: bob.id } };
    expect(await t.tcp.failure(t.tcp.batchCheck({ ...base, items: [] }))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'BATCH_EMPTY',
    });
    const items = Array.from({ length: 101 }, () => ({ action: { name: 'read' }, resource: { type: 'repository' } }));
    expect(await t.tcp.failure(t.tcp.batchCheck({ ...base, items }))).toMatchObject({
      code: status.INVALID_ARGUMENT,
      reason: 'BATCH_TOO_LARGE',
    });
  });

  it('one bad item fails the whole batch with the item field named', async () => {
    const failure = await t.tcp.failure(
      t.tcp.batchCheck({
        tenant: 'acme',
        subject: { user_id: bob.id },
        items: [{ action: { name: 'read' }, resource: { type: 'repository' } }, { action: { name: 'read' } }],
      }),
    );
    expect(failure).toMatchObject({ code: status.INVALID_ARGUMENT, reason: 'RESOURCE_MISSING' });
  });
});

describe('policy deployment', () => {
  it('a broken Rego upload is refused with its location and the previous policy keeps serving', async () => {
    const request: CheckRequestMessage = {
      tenant: 'globex',
      subject: { user_id: erin.id },
      action: { name: 'read' },
      resource: { type: 'document', properties: structFromJson({ department: 'R&D' }) },
    };
    const before = await t.tcp.check(request);
    expect(before.decision).toBe('DECISION_ALLOW');

    const broken = new Map([['authz.rego', 'package tenants.globex\n\nallow if {\n  input.x ==\n}\n']]);
    await expect(t.sidecar.deployPolicy({ tenantId: 'globex', modules: broken })).rejects.toMatchObject({
      code: 'ERR_POLICY_COMPILE_FAILED',
      problems: [expect.objectContaining({ file: 'authz.rego', row: 5, code: 'rego_parse_error' })],
    });

    const after = await t.tcp.check(request);
    expect(after.decision).toBe('DECISION_ALLOW');
    expect(after.policy_version).toBe(before.policy_version);
  });

  it('a tenant rule computed outside the contract answers DENY POLICY_RESULT_INVALID, not ALLOW', async () => {
    // A risk ceiling taken from the request and misspelt: before the contract, it was dropped -> ALLOW.
    const previous = await examplePolicy('globex');
    const rules = 'package tenants.globex\n\nallow := true\n\nrequirement := {"max_risk": input.context.ceiling}\n';
    await t.sidecar.deployPolicy({ tenantId: 'globex', modules: new Map([['authz.rego', rules]]) });
    try {
      const request = (ceiling: string): CheckRequestMessage => ({
        tenant: 'globex',
        subject: { user_id: erin.id },
        action: { name: 'read' },
        resource: { type: 'document' },
        context: { attributes: structFromJson({ ceiling }) },
      });
      expect((await t.tcp.check(request('high'))).decision).toBe('DECISION_ALLOW');
      const response = await t.tcp.check(request('meduim'));
      expect(response.decision).toBe('DECISION_DENY');
      expect(response.reasons.map((r) => r.code)).toEqual(['POLICY_RESULT_INVALID']);
    } finally {
      await t.sidecar.deployPolicy(previous);
    }
  });

  it('tenant rules that conflict at evaluation answer DENY POLICY_RESULT_INVALID, not INTERNAL', async () => {
    const previous = await examplePolicy('globex');
    const rules =
      'package tenants.globex\n\nallow := true\n\nrequirement := {"max_age": age} if {\n\tsome age in input.context.ages\n}\n';
    await t.sidecar.deployPolicy({ tenantId: 'globex', modules: new Map([['authz.rego', rules]]) });
    try {
      const response = await t.tcp.check({
        tenant: 'globex',
        subject: { user_id: erin.id },
        action: { name: 'read' },
        resource: { type: 'document' },
        context: { attributes: structFromJson({ ages: [60, 900] }) },
      });
      expect(response.decision).toBe('DECISION_DENY');
      expect(response.reasons.map((r) => r.code)).toEqual(['POLICY_RESULT_INVALID']);
    } finally {
      await t.sidecar.deployPolicy(previous);
    }
  });

  it('a good upload swaps the tenant to the new version', async () => {
    const request: CheckRequestMessage = {
      tenant: 'globex',
      subject: { user_id: erin.id },
      action: { name: 'read' },
      resource: { type: 'document' },
    };
    const previous = await examplePolicy('globex');
    const denyAll = new Map([['authz.rego', 'package tenants.globex\n\nallow := false\n']]);
    const deployed = await t.sidecar.deployPolicy({ tenantId: 'globex', modules: denyAll });
    try {
      const response = await t.tcp.check(request);
      expect(response.policy_version).toBe(deployed.version);
      expect(response.decision).toBe('DECISION_DENY');
    } finally {
      await t.sidecar.deployPolicy(previous);
    }
  });
});
