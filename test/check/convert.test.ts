/**
 * The protobuf edge, through the real wire: each request is serialized and
 * parsed with the service's own (de)serializers, as grpc-js does, so proto3
 * defaults (empty strings, absent messages) reach the converters exactly as
 * a client's call would.
 */
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { SessionEvent } from '../../src/changes/index.js';
import {
  batchCheckRequestFromProto,
  batchCheckResponseToProto,
  checkRequestFromProto,
  checkResponseToProto,
  sessionEventToProto,
  startSessionRequestFromProto,
  startSessionResponseToProto,
  structFromJson,
  WATCH_MAX_USERS,
  watchSessionsRequestFromProto,
} from '../../src/check/convert.js';
import type { Decision } from '../../src/check/check_request.js';
import type { CheckRequestErrorCode } from '../../src/check/errors.js';
import type { BatchCheckRequest } from '../../src/check/gen/ipsie/sidecar/v1/BatchCheckRequest.js';
import type { CheckRequest } from '../../src/check/gen/ipsie/sidecar/v1/CheckRequest.js';
import { authzProto } from '../../src/check/proto.js';
import { errorReasonOf, serviceErrorFrom } from '../../src/check/status.js';

const service = authzProto().ipsie.sidecar.v1.Authorization.service;

/** The request as the server receives it. */
function received<In, Out>(
  method: { requestSerialize: (value: In) => Buffer; requestDeserialize: (bytes: Buffer) => Out },
  message: In,
): Out {
  return method.requestDeserialize(method.requestSerialize(message));
}

/** The response as the client receives it. */
function answered<In, Out>(
  method: { responseSerialize: (value: In) => Buffer; responseDeserialize: (bytes: Buffer) => Out },
  message: In,
): Out {
  return method.responseDeserialize(method.responseSerialize(message));
}

const check = (message: CheckRequest): ReturnType<typeof checkRequestFromProto> =>
  checkRequestFromProto(received(service.Check, message));

const REQUEST: CheckRequest = {
  tenant: 'acme',
  subject: { session_id: 's-1' },
  action: { name: 'read', properties: structFromJson({ bulk: false }) },
  resource: { type: 'document', id: 'doc-1', properties: structFromJson({ owner: 'u-2', tags: ['a', 'b'] }) },
  context: {
    ip: '198.51.100.7',
    user_agent: 'curl/8',
    device_id: 'laptop-1',
    attributes: structFromJson({ mfa: true }),
  },
  min_sequence: 42,
};

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('it did not fail');
}

/** The code, the gRPC status and the ErrorInfo reason `fn` fails with. */
function failure(fn: () => unknown): { code: unknown; status: status | undefined; reason: string | undefined } {
  const error = caught(fn);
  const wire = serviceErrorFrom(error);
  return { code: (error as { code?: unknown }).code, status: wire.code, reason: errorReasonOf(wire) };
}

const invalid = (code: CheckRequestErrorCode, reason: string): ReturnType<typeof failure> => ({
  code,
  status: status.INVALID_ARGUMENT,
  reason,
});

describe('checkRequestFromProto', () => {
  it('reads every field of a Check', () => {
    expect(check(REQUEST)).toEqual({
      tenantId: 'acme',
      subject: { kind: 'session', sessionId: 's-1' },
      action: { name: 'read', properties: { bulk: false } },
      resource: { type: 'document', id: 'doc-1', properties: { owner: 'u-2', tags: ['a', 'b'] } },
      context: { ip: '198.51.100.7', userAgent: 'curl/8', deviceId: 'laptop-1', attributes: { mfa: true } },
      minSequence: 42,
    });
  });

  it.each([
    [{ session_id: 's-1' }, { kind: 'session', sessionId: 's-1' }],
    [{ user_id: 'u-1' }, { kind: 'user', userId: 'u-1' }],
    [{ token: 'eyJ.x.y' }, { kind: 'token', token: 'eyJ.x.y' }],
    [{ identifier: { type: 'identity', id: 'CiRmZDA2' } }, { kind: 'identifier', type: 'identity', id: 'CiRmZDA2' }],
    [{ txn_token: 'eyJ.t.x' }, { kind: 'txn_token', token: 'eyJ.t.x' }],
  ])('reads the subject %j', (subject, expected) => {
    expect(check({ ...REQUEST, subject }).subject).toEqual(expected);
  });

  it('reads an empty txn_token subject as no subject', () => {
    expect(failure(() => check({ ...REQUEST, subject: { txn_token: '' } }))).toEqual(
      invalid('ERR_CHECK_SUBJECT_MISSING', 'SUBJECT_MISSING'),
    );
  });

  it('reads a txn_token request, its purpose when given, and its absence', () => {
    expect(check({ ...REQUEST, txn_token: { purpose: 'ci' } }).txnToken).toEqual({ purpose: 'ci' });
    expect(check({ ...REQUEST, txn_token: {} }).txnToken).toEqual({ purpose: undefined });
    expect(check(REQUEST).txnToken).toBeUndefined();
  });

  it('reads absent optional parts as empty: no context, no properties, no resource id, sequence 0', () => {
    const minimal = check({
      tenant: 'acme',
      subject: { user_id: 'u-1' },
      action: { name: 'read' },
      resource: { type: 'x' },
    });
    expect(minimal).toEqual({
      tenantId: 'acme',
      subject: { kind: 'user', userId: 'u-1' },
      action: { name: 'read', properties: {} },
      resource: { type: 'x', id: '', properties: {} },
      context: { ip: undefined, userAgent: undefined, deviceId: undefined, attributes: {} },
      minSequence: 0,
    });
  });

  it('reads empty context strings as not given (proto3 has no absent strings)', () => {
    expect(check({ ...REQUEST, context: { ip: '', user_agent: '', device_id: '' } }).context).toEqual({
      ip: undefined,
      userAgent: undefined,
      deviceId: undefined,
      attributes: {},
    });
  });

  it('turns Struct values into JSON: nested objects, lists, numbers, booleans and nulls', () => {
    const properties = { a: { b: [1, 'two', null, { c: false }] }, n: -0.5, s: '', z: null, e: [], o: {} };
    expect(check({ ...REQUEST, action: { name: 'read', properties: structFromJson(properties) } }).action).toEqual({
      name: 'read',
      properties,
    });
  });

  it('reads a Value with no kind set as null', () => {
    const properties = { fields: { unset: {} } };
    expect(check({ ...REQUEST, resource: { type: 'x', properties } }).resource.properties).toEqual({ unset: null });
  });

  it('keeps unicode keys and values as sent', () => {
    const properties = { 'clé-🔑': 'välue\u0000with NUL', ключ: 'значение' };
    expect(
      check({ ...REQUEST, resource: { type: 'x', properties: structFromJson(properties) } }).resource.properties,
    ).toEqual(properties);
  });

  it('reads a min_sequence past 2^53 as the highest safe integer, never as a rounded-down one the store may have passed', () => {
    expect(check({ ...REQUEST, min_sequence: '9007199254740993' }).minSequence).toBe(Number.MAX_SAFE_INTEGER);
    expect(check({ ...REQUEST, min_sequence: '18446744073709551615' }).minSequence).toBe(Number.MAX_SAFE_INTEGER);
    expect(check({ ...REQUEST, min_sequence: '9007199254740991' }).minSequence).toBe(Number.MAX_SAFE_INTEGER);
    expect(check({ ...REQUEST, min_sequence: '9007199254740990' }).minSequence).toBe(9_007_199_254_740_990);
  });

  it.each([
    ['no tenant', { ...REQUEST, tenant: '' }, invalid('ERR_CHECK_TENANT_MISSING', 'TENANT_MISSING')],
    ['an upper-case tenant', { ...REQUEST, tenant: 'Acme' }, invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID')],
    [
      'a tenant with a dot',
      { ...REQUEST, tenant: 'acme.globex' },
      invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID'),
    ],
    ['a tenant wildcard', { ...REQUEST, tenant: '>' }, invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID')],
    ['a Rego keyword as tenant', { ...REQUEST, tenant: 'data' }, invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID')],
    [
      'a 64-character tenant',
      { ...REQUEST, tenant: 'a'.repeat(64) },
      invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID'),
    ],
    [
      'a tenant with a newline',
      { ...REQUEST, tenant: 'acme\n' },
      invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID'),
    ],
    ['no subject', { ...REQUEST, subject: null }, invalid('ERR_CHECK_SUBJECT_MISSING', 'SUBJECT_MISSING')],
    ['an empty subject', { ...REQUEST, subject: {} }, invalid('ERR_CHECK_SUBJECT_MISSING', 'SUBJECT_MISSING')],
    [
      'an empty session id',
      { ...REQUEST, subject: { session_id: '' } },
      invalid('ERR_CHECK_SUBJECT_MISSING', 'SUBJECT_MISSING'),
    ],
    [
      'an empty user id',
      { ...REQUEST, subject: { user_id: '' } },
      invalid('ERR_CHECK_SUBJECT_MISSING', 'SUBJECT_MISSING'),
    ],
    [
      'an identifier without a type',
      { ...REQUEST, subject: { identifier: { type: '', id: 'CiRmZDA2' } } },
      invalid('ERR_CHECK_SUBJECT_MISSING', 'SUBJECT_MISSING'),
    ],
    ['an empty token', { ...REQUEST, subject: { token: '' } }, invalid('ERR_CHECK_SUBJECT_MISSING', 'SUBJECT_MISSING')],
    ['no action', { ...REQUEST, action: null }, invalid('ERR_CHECK_ACTION_MISSING', 'ACTION_MISSING')],
    [
      'an action without a name',
      { ...REQUEST, action: { name: '' } },
      invalid('ERR_CHECK_ACTION_MISSING', 'ACTION_MISSING'),
    ],
    ['no resource', { ...REQUEST, resource: null }, invalid('ERR_CHECK_RESOURCE_MISSING', 'RESOURCE_MISSING')],
    [
      'a resource without a type',
      { ...REQUEST, resource: { id: 'x' } },
      invalid('ERR_CHECK_RESOURCE_MISSING', 'RESOURCE_MISSING'),
    ],
  ] as [string, CheckRequest, ReturnType<typeof failure>][])('refuses a Check with %s', (_what, message, expected) => {
    expect(failure(() => check(message))).toEqual(expected);
  });

  it('echoes at most 64 characters of an invalid tenant back to the caller', () => {
    const wire = serviceErrorFrom(caught(() => check({ ...REQUEST, tenant: 'X'.repeat(100_000) })));
    expect(wire.details).toContain('X'.repeat(64));
    expect(wire.details).not.toContain('X'.repeat(65));
  });

  it('reports the tenant before the rest: a request wrong everywhere is refused for its tenant', () => {
    expect(failure(() => check({ tenant: '' })).code).toBe('ERR_CHECK_TENANT_MISSING');
    expect(failure(() => check({ tenant: 'acme' })).code).toBe('ERR_CHECK_SUBJECT_MISSING');
  });
});

describe('batchCheckRequestFromProto', () => {
  const BATCH: BatchCheckRequest = {
    tenant: 'acme',
    subject: { user_id: 'u-1' },
    context: { ip: '198.51.100.7', attributes: structFromJson({ channel: 'web', region: 'eu' }) },
    items: [
      { action: { name: 'read' }, resource: { type: 'doc', id: '1' } },
      {
        action: { name: 'write' },
        resource: { type: 'doc', id: '2' },
        context: { ip: '203.0.113.9', device_id: 'd-1', attributes: structFromJson({ region: 'us' }) },
      },
    ],
    min_sequence: '7',
  };
  const batch = (message: BatchCheckRequest, maxItems = 100): ReturnType<typeof batchCheckRequestFromProto> =>
    batchCheckRequestFromProto(received(service.BatchCheck, message), maxItems);

  it('gives each item the request context, its own fields winning and attributes merged key by key', () => {
    const { items, context, minSequence } = batch(BATCH);
    expect(minSequence).toBe(7);
    expect(context).toEqual({
      ip: '198.51.100.7',
      userAgent: undefined,
      deviceId: undefined,
      attributes: { channel: 'web', region: 'eu' },
    });
    expect(items.map((i) => i.context)).toEqual([
      { ip: '198.51.100.7', userAgent: undefined, deviceId: undefined, attributes: { channel: 'web', region: 'eu' } },
      { ip: '203.0.113.9', userAgent: undefined, deviceId: 'd-1', attributes: { channel: 'web', region: 'us' } },
    ]);
    expect(items.map((i) => [i.action.name, i.resource.id])).toEqual([
      ['read', '1'],
      ['write', '2'],
    ]);
  });

  it('takes exactly the configured number of items', () => {
    const items = Array.from({ length: 3 }, () => ({ action: { name: 'read' }, resource: { type: 'doc' } }));
    expect(batch({ ...BATCH, items }, 3).items).toHaveLength(3);
  });

  it.each([
    ['no items', { ...BATCH, items: [] }, invalid('ERR_CHECK_BATCH_EMPTY', 'BATCH_EMPTY')],
    [
      'one item more than allowed',
      { ...BATCH, items: Array.from({ length: 101 }, () => ({ action: { name: 'read' }, resource: { type: 'doc' } })) },
      invalid('ERR_CHECK_BATCH_TOO_LARGE', 'BATCH_TOO_LARGE'),
    ],
    [
      'an item without an action',
      { ...BATCH, items: [...(BATCH.items ?? []), { resource: { type: 'doc' } }] },
      invalid('ERR_CHECK_ACTION_MISSING', 'ACTION_MISSING'),
    ],
    [
      'an item without a resource type',
      { ...BATCH, items: [{ action: { name: 'read' }, resource: { id: '1' } }] },
      invalid('ERR_CHECK_RESOURCE_MISSING', 'RESOURCE_MISSING'),
    ],
    ['no subject', { ...BATCH, subject: null }, invalid('ERR_CHECK_SUBJECT_MISSING', 'SUBJECT_MISSING')],
    ['a bad tenant', { ...BATCH, tenant: 'if' }, invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID')],
  ] as [string, BatchCheckRequest, ReturnType<typeof failure>][])(
    'refuses a batch with %s',
    (_what, message, expected) => {
      expect(failure(() => batch(message))).toEqual(expected);
    },
  );
});

describe('startSessionRequestFromProto', () => {
  const start = (
    message: Parameters<typeof service.StartSession.requestSerialize>[0],
  ): ReturnType<typeof startSessionRequestFromProto> =>
    startSessionRequestFromProto(received(service.StartSession, message));

  it('reads the ID token, the nonce and where the sign-in comes from', () => {
    expect(
      start({
        tenant: 'acme',
        id_token: 'eyJ.a.b',
        nonce: 'n-1',
        context: { ip: '198.51.100.7', device_id: 'd-1', user_agent: 'ua' },
      }),
    ).toEqual({
      tenantId: 'acme',
      assertion: { kind: 'id_token', idToken: 'eyJ.a.b', nonce: 'n-1' },
      context: { ip: '198.51.100.7', deviceId: 'd-1' },
    });
  });

  it('reads an empty nonce as none', () => {
    expect(start({ tenant: 'acme', id_token: 'eyJ.a.b' }).assertion).toEqual({
      kind: 'id_token',
      idToken: 'eyJ.a.b',
      nonce: undefined,
    });
  });

  it('reads a SAML Response as it was posted to the ACS', () => {
    expect(start({ tenant: 'acme', saml_response: 'PHNhbWxwOlJlc3BvbnNl' }).assertion).toEqual({
      kind: 'saml_response',
      samlResponse: 'PHNhbWxwOlJlc3BvbnNl',
    });
  });

  it.each([
    ['no tenant', { id_token: 'eyJ.a.b' }, invalid('ERR_CHECK_TENANT_MISSING', 'TENANT_MISSING')],
    ['a bad tenant', { tenant: 'a-b', id_token: 'eyJ.a.b' }, invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID')],
    ['no ID token', { tenant: 'acme' }, invalid('ERR_CHECK_TOKEN_MISSING', 'TOKEN_MISSING')],
    [
      'both an ID token and a SAML Response',
      { tenant: 'acme', id_token: 'eyJ.a.b', saml_response: 'PHg+' },
      invalid('ERR_CHECK_SIGNIN_INVALID', 'SIGNIN_INVALID'),
    ],
    [
      'a nonce with a SAML Response',
      { tenant: 'acme', saml_response: 'PHg+', nonce: 'n' },
      invalid('ERR_CHECK_SIGNIN_INVALID', 'SIGNIN_INVALID'),
    ],
  ])('refuses a sign-in with %s', (_what, message, expected) => {
    expect(failure(() => start(message))).toEqual(expected);
  });
});

describe('watchSessionsRequestFromProto', () => {
  const watch = (tenant: string, userIds: string[]): ReturnType<typeof watchSessionsRequestFromProto> =>
    watchSessionsRequestFromProto(received(service.WatchSessions, { tenant, user_ids: userIds }));

  it('watches the whole tenant when no user is named', () => {
    expect(watch('acme', [])).toEqual({ tenantId: 'acme', userIds: new Set() });
  });

  it('drops empty ids and repeats', () => {
    expect(watch('acme', ['u-1', '', 'u-2', 'u-1']).userIds).toEqual(new Set(['u-1', 'u-2']));
  });

  it('reads a list of only empty ids as the whole tenant', () => {
    expect(watch('acme', ['', '']).userIds.size).toBe(0);
  });

  it('takes up to WATCH_MAX_USERS users and refuses one more', () => {
    const ids = Array.from({ length: WATCH_MAX_USERS + 1 }, (_, i) => `u-${i}`);
    expect(watch('acme', ids.slice(0, WATCH_MAX_USERS)).userIds.size).toBe(WATCH_MAX_USERS);
    expect(failure(() => watch('acme', ids))).toEqual(
      invalid('ERR_CHECK_WATCH_TOO_MANY_USERS', 'WATCH_TOO_MANY_USERS'),
    );
  });

  it('refuses a watch with no tenant, or an invalid one', () => {
    expect(failure(() => watch('', []))).toEqual(invalid('ERR_CHECK_TENANT_MISSING', 'TENANT_MISSING'));
    expect(failure(() => watch('acme.>', []))).toEqual(invalid('ERR_CHECK_TENANT_INVALID', 'TENANT_INVALID'));
  });
});

describe('responses', () => {
  const decision = (kind: Decision['kind'], stepUp?: Decision['stepUp']): Decision => ({
    kind,
    reasons: [{ code: 'POLICY_DENIED', message: 'no grant' }],
    stepUp,
    decisionId: `d-${kind}`,
  });

  it('answers the minted token, and an empty string without one', () => {
    const decided = { decision: decision('allow'), policyVersion: 'v', sequence: 1 };
    expect(answered(service.Check, checkResponseToProto({ ...decided, txnToken: 'eyJ.t.x' })).txn_token).toBe(
      'eyJ.t.x',
    );
    expect(answered(service.Check, checkResponseToProto(decided)).txn_token).toBe('');
  });

  it.each([
    ['allow', 'DECISION_ALLOW'],
    ['deny', 'DECISION_DENY'],
  ] as const)('sends %s as %s, with no step-up and no challenge', (kind, wire) => {
    const response = answered(
      service.Check,
      checkResponseToProto({ decision: decision(kind), policyVersion: 'sha256:abc', sequence: 9 }),
    );
    expect(response).toMatchObject({
      decision: wire,
      reasons: [{ code: 'POLICY_DENIED', message: 'no grant' }],
      step_up: null,
      decision_id: `d-${kind}`,
      policy_version: 'sha256:abc',
      sequence: '9',
      www_authenticate: '',
    });
  });

  it('sends a step-up with its acr values, max_age and the RFC 9470 challenge', () => {
    const response = answered(
      service.Check,
      checkResponseToProto({
        decision: decision('step_up', {
          acrValues: ['phrh', 'phr'],
          maxAge: 0,
          authorizationParams: { max_age: '0', prompt: 'login' },
        }),
        policyVersion: 'v',
        sequence: 1,
      }),
    );
    expect(response.decision).toBe('DECISION_STEP_UP');
    expect(response.step_up).toEqual({
      acr_values: ['phrh', 'phr'],
      max_age: 0,
      _max_age: 'max_age',
      authorization_params: { max_age: '0', prompt: 'login' },
      saml_request: null,
    });
    expect(response.www_authenticate).toBe(
      'Bearer error="insufficient_user_authentication", error_description="A different authentication level is required", acr_values="phrh phr", max_age="0"',
    );
  });

  it('leaves max_age unset (not 0) when the policy asks for no age', () => {
    const response = answered(
      service.Check,
      checkResponseToProto({
        decision: decision('step_up', { acrValues: ['phr'], maxAge: undefined, authorizationParams: {} }),
        policyVersion: 'v',
        sequence: 1,
      }),
    );
    expect(response.step_up?.max_age).toBeUndefined();
    expect(response.www_authenticate).not.toContain('max_age');
  });

  it('answers a batch in the order of its items', () => {
    const response = answered(
      service.BatchCheck,
      batchCheckResponseToProto({
        decisions: [
          decision('deny'),
          decision('allow'),
          decision('step_up', { acrValues: [], maxAge: 60, authorizationParams: { max_age: '60' } }),
        ],
        policyVersion: 'v',
        sequence: 3,
      }),
    );
    expect(response.results.map((r) => [r.decision, r.decision_id])).toEqual([
      ['DECISION_DENY', 'd-deny'],
      ['DECISION_ALLOW', 'd-allow'],
      ['DECISION_STEP_UP', 'd-step_up'],
    ]);
    expect(response.sequence).toBe('3');
  });

  it('sends a started session with its expiry and sequence as integers', () => {
    const response = answered(
      service.StartSession,
      startSessionResponseToProto({
        sessionId: 's-1',
        userId: 'u-1',
        expiresAt: 1_800_043_200,
        sequence: 12,
        binding: 'linked',
      }),
    );
    expect(response).toEqual({
      session_id: 's-1',
      user_id: 'u-1',
      expires_at: '1800043200',
      sequence: '12',
      binding: 'linked',
    });
  });

  it.each([
    ['session_revoked', 'SESSION_EVENT_KIND_SESSION_REVOKED'],
    ['user_sessions_revoked', 'SESSION_EVENT_KIND_USER_SESSIONS_REVOKED'],
    ['user_deactivated', 'SESSION_EVENT_KIND_USER_DEACTIVATED'],
    ['user_deleted', 'SESSION_EVENT_KIND_USER_DELETED'],
    ['reauthentication_required', 'SESSION_EVENT_KIND_REAUTHENTICATION_REQUIRED'],
  ] as const)('streams a %s event as %s', (kind, wire) => {
    const event: SessionEvent = {
      kind,
      tenantId: 'acme',
      userId: 'u-1',
      sessionId: kind === 'session_revoked' ? 's-1' : undefined,
      reason: 'caep',
      sequence: 77,
      at: 1_800_000_000_123,
    };
    expect(answered(service.WatchSessions, sessionEventToProto(event))).toEqual({
      kind: wire,
      tenant: 'acme',
      user_id: 'u-1',
      session_id: kind === 'session_revoked' ? 's-1' : '',
      reason: 'caep',
      sequence: '77',
      at_unix_ms: '1800000000123',
    });
  });
});

describe('structFromJson', () => {
  it('makes undefined, functions and symbols null rather than dropping the key, and bigints numbers', () => {
    const struct = structFromJson({ u: undefined, f: () => 1, s: Symbol('x'), b: 12n });
    expect(struct.fields).toEqual({
      u: { nullValue: 'NULL_VALUE' },
      f: { nullValue: 'NULL_VALUE' },
      s: { nullValue: 'NULL_VALUE' },
      b: { numberValue: 12 },
    });
  });
});
