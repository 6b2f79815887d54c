/**
 * Envoy ext_authz v3 on a real sidecar, called by a gRPC client built from
 * the Envoy protos: allow with headers, 403, 401 with the RFC 9470 step-up
 * challenge, and the request errors.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { envoyAuthPackage } from '../../src/ext_authz/index.js';
import type { ExtAuthzResponse } from '../../src/ext_authz/index.js';
import { session } from '../harness/changes.js';
import { NatsServer } from '../harness/nats_server.js';
import { EXAMPLE_POLICY_DIR } from '../harness/opa.js';
import { startTestSidecar, TEST_CALLER_TOKEN } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { TestProducer } from '../harness/stream.js';

interface EnvoyClient extends grpc.Client {
  Check(
    request: unknown,
    callback: (error: grpc.ServiceError | null, response?: ExtAuthzResponse) => void,
  ): grpc.ClientUnaryCall;
}

let nats: NatsServer;
let producer: TestProducer;
let t: TestSidecar;
let client: EnvoyClient;

/**
 * A client built from the same Envoy protos (as Envoy itself speaks them),
 * sending the caller token as Envoy's `grpc_service.initial_metadata` would.
 */
function envoyClient(address: string): EnvoyClient {
  const Client = envoyAuthPackage().envoy.service.auth.v3.Authorization;
  const withToken: grpc.Interceptor = (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start: (metadata, listener, next) => {
        metadata.set('authorization', `Bearer ${TEST_CALLER_TOKEN}`);
        next(metadata, listener);
      },
    });
  return new Client(address, grpc.credentials.createInsecure(), {
    interceptors: [withToken],
  }) as unknown as EnvoyClient;
}

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  const now = Math.floor(Date.now() / 1000);
  await producer.publishAll([
    ...exampleDirectoryChanges(),
    session('acme', 'sess-bob', ACME.people['bob']!.id, { acr: 'phr', auth_time: now - 60 }),
    session('acme', 'sess-carol', ACME.people['carol']!.id),
    session('acme', 'sess-alice-pwd', ACME.people['alice']!.id, { acr: 'urn:okta:loa:1fa:pwd', amr: ['pwd'] }),
  ]);
  t = await startTestSidecar({ env: { IPSIE_NATS_URL: nats.url, IPSIE_TENANT_POLICY_DIR: EXAMPLE_POLICY_DIR } });
  await t.tcp.check({
    tenant: 'acme',
    subject: { user_id: ACME.people['bob']!.id },
    action: { name: 'read' },
    resource: { type: 'repository' },
    min_sequence: await producer.lastSequence(),
  });
  client = envoyClient(`127.0.0.1:${String(t.sidecar.addresses.tcpPort)}`);
});

afterAll(async () => {
  client.close();
  await t.stop();
  await producer.close();
  await nats.dispose();
});

function check(
  http: { method: string; path: string; headers: Record<string, string> },
  extensions: Record<string, string> = { ipsie_tenant: 'acme' },
  metadata?: Record<string, unknown>,
): Promise<ExtAuthzResponse> {
  return new Promise((resolve, reject) => {
    client.Check(
      {
        attributes: {
          source: { address: { socket_address: { address: '198.51.100.9', port_value: 51234 } } },
          request: { http: { method: http.method, path: http.path, host: 'app.acme.example', headers: http.headers } },
          context_extensions: extensions,
          ...(metadata === undefined ? {} : { metadata_context: metadata }),
        },
      },
      (error, response) => {
        if (error !== null || response === undefined) reject(error ?? new Error('no response'));
        else resolve(response);
      },
    );
  });
}

const headerOf = (r: ExtAuthzResponse, key: string): string | undefined =>
  [...(r.ok_response?.headers ?? []), ...(r.denied_response?.headers ?? [])].find((h) => h.header.key === key)?.header
    .value;

const repo = { ipsie_tenant: 'acme', ipsie_resource_type: 'repository' };

describe('Envoy ext_authz v3', () => {
  it('allows with OK and stamps the decision id and policy version on the request', async () => {
    const r = await check(
      { method: 'POST', path: '/repos/api?ref=main', headers: { 'x-ipsie-session': 'sess-bob' } },
      {
        ...repo,
        ipsie_action: 'write',
      },
    );
    expect(r.status.code).toBe(0);
    expect(r.ok_response).toBeDefined();
    expect(headerOf(r, 'x-ipsie-decision-id')).toMatch(/\w/);
    expect(headerOf(r, 'x-ipsie-policy-version')).toMatch(/^sha256:/);
    expect(r.ok_response?.headers_to_remove).toContain('x-ipsie-session');
  });

  it('the action defaults to the HTTP method: GET -> read', async () => {
    const r = await check({ method: 'GET', path: '/repos/api', headers: { 'x-ipsie-session': 'sess-carol' } }, repo);
    // carol (Finance) may not read repositories.
    expect(r.status.code).toBe(7);
    expect(r.denied_response?.status.code).toBe('Forbidden');
    expect(JSON.parse(r.denied_response?.body ?? '{}')).toMatchObject({
      decision: 'deny',
      reasons: [{ code: 'POLICY_DENIED' }],
    });
  });

  it('step-up: 401 with the RFC 9470 WWW-Authenticate challenge', async () => {
    const r = await check(
      { method: 'POST', path: '/deployments/d-9/approve', headers: { 'x-ipsie-session': 'sess-alice-pwd' } },
      { ipsie_tenant: 'acme', ipsie_resource_type: 'deployment', ipsie_action: 'approve' },
    );
    expect(r.status.code).toBe(16);
    expect(r.denied_response?.status.code).toBe('Unauthorized');
    expect(headerOf(r, 'www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="phr", max_age="900"',
    );
  });

  it('401 without credentials or with an unknown session or a bad token; 400 without a tenant', async () => {
    const none = await check({ method: 'GET', path: '/', headers: {} }, repo);
    expect(none).toMatchObject({ status: { code: 16 }, denied_response: { status: { code: 'Unauthorized' } } });
    expect(headerOf(none, 'www-authenticate')).toBe('Bearer');
    const unknown = await check({ method: 'GET', path: '/', headers: { 'x-ipsie-session': 'nope' } }, repo);
    expect(unknown.status.code).toBe(16);
    expect(headerOf(unknown, 'www-authenticate')).toMatch(/invalid_token/);
    const tenantless = await check({ method: 'GET', path: '/', headers: { 'x-ipsie-session': 'sess-bob' } }, {});
    expect(tenantless).toMatchObject({ status: { code: 3 }, denied_response: { status: { code: 'BadRequest' } } });
    const unknownTenant = await check(
      { method: 'GET', path: '/', headers: { 'x-ipsie-session': 'sess-bob' } },
      { ipsie_tenant: 'initech' },
    );
    expect(unknownTenant.denied_response?.status.code).toBe('BadRequest');
  });

  it('a route naming a subject type takes the subject from the JWT Envoy verified, resolved like AuthZEN subjects', async () => {
    // Envoy's jwt_authn with payload_in_metadata: "jwt_payload", forwarded by metadata_context_namespaces.
    const verified = (sub: string): Record<string, unknown> => ({
      filter_metadata: {
        'envoy.filters.http.jwt_authn': {
          fields: { jwt_payload: { structValue: { fields: { sub: { stringValue: sub } } } } },
        },
      },
    });
    const route = { ...repo, ipsie_action: 'write', ipsie_subject_type: 'identity' };
    // bob's externalId is "bob": the identity subject type names him by it.
    const bob = await check({ method: 'POST', path: '/repos/api', headers: {} }, route, verified('bob'));
    expect(bob.status.code).toBe(0);
    const carol = await check({ method: 'POST', path: '/repos/api', headers: {} }, route, verified('carol'));
    expect(carol.denied_response?.status.code).toBe('Forbidden');
    const stranger = await check({ method: 'POST', path: '/repos/api', headers: {} }, route, verified('nobody'));
    expect(stranger.denied_response?.status.code).toBe('Unauthorized');
    // A client's own headers never stand in for the verified token on such a route.
    const unverified = await check(
      { method: 'POST', path: '/repos/api', headers: { 'x-ipsie-session': 'sess-bob' } },
      route,
    );
    expect(unverified).toMatchObject({ status: { code: 16 }, denied_response: { status: { code: 'Unauthorized' } } });
  });
});
