import { describe, expect, it } from 'vitest';
import type { RequestContext } from '../../src/check/check_request.js';
import { mergeContext, requestInput, storedResourceInput, subjectInput } from '../../src/check/policy_input_builder.js';
import type { SessionRecord, SubjectSlice, UserRecord } from '../../src/store/index.js';

const NOW = 1_800_000_000;

const USER: UserRecord = {
  tenantId: 'acme',
  id: 'u-1',
  userName: 'alice@acme.example',
  externalId: 'ext-1',
  active: true,
  attributes: { department: 'R&D', emails: [{ value: 'alice@acme.example', type: 'work' }] },
  roles: ['admin'],
  extra: { nickname: 'al' },
  version: { sequence: 12, createdAt: 1, modifiedAt: 2 },
};

const SESSION: SessionRecord = {
  tenantId: 'acme',
  id: 's-1',
  userId: 'u-1',
  issuer: 'https://login.example/acme',
  acr: 'phr',
  amr: ['hwk', 'mfa'],
  authTime: NOW - 600,
  expiresAt: NOW + 3_000,
  createdAt: NOW - 600,
  revokedAt: undefined,
  revokeReason: undefined,
  ip: '198.51.100.7',
  deviceId: 'laptop-1',
  idpSessionId: 'sid-1',
  extra: { x: 1 },
};

const SLICE: SubjectSlice = {
  user: USER,
  reauthenticateAfter: undefined,
  groups: [
    { id: 'g-1', displayName: 'Engineering', externalId: undefined },
    { id: 'g-2', displayName: 'Leads', externalId: 'ext-g2' },
  ],
  session: SESSION,
  posture: { device: { compliant: true }, risk: { level: 'low' } },
};

/** The keys of `subject` and `session` that policies/README.md documents. */
const SUBJECT_KEYS = ['active', 'attributes', 'external_id', 'groups', 'id', 'roles', 'user_name'];
const SESSION_KEYS = ['acr', 'amr', 'auth_time', 'device_id', 'expires_at', 'id', 'ip', 'issuer', 'revoked'];

const context = (fields: Partial<RequestContext>): RequestContext => ({
  ip: undefined,
  userAgent: undefined,
  deviceId: undefined,
  attributes: {},
  ...fields,
});

describe('subjectInput', () => {
  it('maps a subject slice onto the subject half of the policy input contract', () => {
    expect(subjectInput('acme', NOW, SLICE)).toEqual({
      tenant: 'acme',
      now: NOW,
      subject: {
        id: 'u-1',
        user_name: 'alice@acme.example',
        external_id: 'ext-1',
        active: true,
        attributes: USER.attributes,
        roles: ['admin'],
        groups: [
          { id: 'g-1', display_name: 'Engineering', external_id: null },
          { id: 'g-2', display_name: 'Leads', external_id: 'ext-g2' },
        ],
      },
      session: {
        id: 's-1',
        issuer: 'https://login.example/acme',
        acr: 'phr',
        amr: ['hwk', 'mfa'],
        auth_time: NOW - 600,
        expires_at: NOW + 3_000,
        revoked: false,
        ip: '198.51.100.7',
        device_id: 'laptop-1',
      },
      posture: { device: { compliant: true }, risk: { level: 'low' } },
    });
  });

  it('gives policies exactly the documented fields: no store internals (versions, extra, revoke reasons)', () => {
    const input = subjectInput('acme', NOW, SLICE);
    expect(Object.keys(input.subject).sort()).toEqual(SUBJECT_KEYS);
    expect(Object.keys(input.session ?? {}).sort()).toEqual(SESSION_KEYS);
    expect(Object.keys(input).sort()).toEqual(['now', 'posture', 'session', 'subject', 'tenant']);
  });

  it('has a null session when the caller named the user directly', () => {
    expect(subjectInput('acme', NOW, { ...SLICE, session: undefined }).session).toBeNull();
  });

  it('reads a session with a revocation time as revoked, whatever the reason', () => {
    const revoked = { ...SESSION, revokedAt: NOW - 1, revokeReason: undefined };
    expect(subjectInput('acme', NOW, { ...SLICE, session: revoked }).session?.revoked).toBe(true);
    const revokedAtZero = { ...SESSION, revokedAt: 0 };
    expect(subjectInput('acme', NOW, { ...SLICE, session: revokedAtZero }).session?.revoked).toBe(true);
  });

  it('writes the absent optional fields as null, never as missing keys a policy would read as undefined', () => {
    const bare = subjectInput('acme', NOW, {
      ...SLICE,
      user: { ...USER, externalId: undefined },
      session: { ...SESSION, acr: undefined, authTime: undefined, ip: undefined, deviceId: undefined },
    });
    expect(bare.subject.external_id).toBeNull();
    expect(bare.session).toMatchObject({ acr: null, auth_time: null, ip: null, device_id: null });
    expect(JSON.parse(JSON.stringify(bare))).toEqual(bare);
  });

  it('carries reauthenticate_after only when the IdP asked for re-authentication', () => {
    expect(subjectInput('acme', NOW, SLICE).subject).not.toHaveProperty('reauthenticate_after');
    expect(subjectInput('acme', NOW, { ...SLICE, reauthenticateAfter: NOW - 60 }).subject.reauthenticate_after).toBe(
      NOW - 60,
    );
    expect(subjectInput('acme', NOW, { ...SLICE, reauthenticateAfter: 0 }).subject.reauthenticate_after).toBe(0);
  });

  it("carries the caller's subject properties only when it sent some, beside the store's facts", () => {
    expect(subjectInput('acme', NOW, SLICE, {}).subject).not.toHaveProperty('properties');
    const subject = subjectInput('acme', NOW, SLICE, { department: 'Sales', roles: ['admin'] }).subject;
    expect(subject.properties).toEqual({ department: 'Sales', roles: ['admin'] });
    // What the caller says stays under `properties`: the store's roles are the roles.
    expect(subject.roles).toEqual(['admin']);
    expect(subject.id).toBe('u-1');
  });

  it('keeps the groups in the order the store gave them', () => {
    const reversed = { ...SLICE, groups: [...SLICE.groups].reverse() };
    expect(subjectInput('acme', NOW, reversed).subject.groups.map((g) => g.id)).toEqual(['g-2', 'g-1']);
  });
});

describe('requestInput', () => {
  const action = { name: 'approve', properties: { amount: 10 } };
  const resource = { type: 'deployment', id: 'd-9', properties: { env: 'prod' } };

  it('maps the action, the resource and the context', () => {
    expect(
      requestInput(
        action,
        resource,
        context({ ip: '198.51.100.7', userAgent: 'curl/8', deviceId: 'laptop-1', attributes: { channel: 'web' } }),
      ),
    ).toEqual({
      action: { name: 'approve', properties: { amount: 10 } },
      resource: { type: 'deployment', id: 'd-9', properties: { env: 'prod' } },
      context: { channel: 'web', ip: '198.51.100.7', user_agent: 'curl/8', device_id: 'laptop-1' },
    });
  });

  it('lets no free-form attribute replace the ip, user agent or device the caller named', () => {
    const spoofing = { ip: '10.0.0.1', user_agent: 'trusted-agent', device_id: 'managed-device' };
    expect(
      requestInput(
        action,
        resource,
        context({ ip: '198.51.100.7', userAgent: 'curl/8', deviceId: 'unmanaged', attributes: spoofing }),
      ).context,
    ).toEqual({ ip: '198.51.100.7', user_agent: 'curl/8', device_id: 'unmanaged' });
  });

  it("puts the resource's other members beside type, id and properties, which they cannot replace", () => {
    const fields = { userID: 'rick@the-citadel.com', type: 'secret', id: 'x', properties: { env: 'dev' } };
    expect(requestInput(action, { ...resource, fields }, context({})).resource).toEqual({
      userID: 'rick@the-citadel.com',
      type: 'deployment',
      id: 'd-9',
      properties: { env: 'prod' },
    });
  });

  it("drops a caller's own `stored` member: only the store's stands there, next to the caller's properties", () => {
    const forged = { fields: { stored: { subject_relations: ['owner'] } } };
    expect(requestInput(action, { ...resource, ...forged }, context({})).resource).not.toHaveProperty('stored');
    const stored = storedResourceInput(
      { tenantId: 't', type: 'deployment', id: 'd-9', attributes: { env: 'staging' } },
      [
        {
          tenantId: 't',
          resourceType: 'deployment',
          resourceId: 'd-9',
          relation: 'parent',
          subject: { kind: 'resource', type: 'service', id: 's1' },
        },
        {
          tenantId: 't',
          resourceType: 'deployment',
          resourceId: 'd-9',
          relation: 'owner',
          subject: { kind: 'user', type: undefined, id: 'u1' },
        },
      ],
      ['owner'],
    );
    expect(requestInput(action, { ...resource, ...forged }, context({}), stored).resource).toEqual({
      type: 'deployment',
      id: 'd-9',
      properties: { env: 'prod' },
      stored: {
        attributes: { env: 'staging' },
        relations: [
          { relation: 'parent', subject: { kind: 'resource', type: 'service', id: 's1' } },
          { relation: 'owner', subject: { kind: 'user', id: 'u1' } },
        ],
        subject_relations: ['owner'],
      },
    });
  });

  it('leaves out the named fields the caller did not give', () => {
    expect(requestInput(action, resource, context({ attributes: { channel: 'web' } })).context).toEqual({
      channel: 'web',
    });
  });

  it('does not change the attributes it was given', () => {
    const attributes = { channel: 'web' };
    requestInput(action, resource, context({ ip: '198.51.100.7', attributes }));
    expect(attributes).toEqual({ channel: 'web' });
  });
});

describe('mergeContext', () => {
  it("lets an item's own fields win over the request's, and keeps the request's where the item has none", () => {
    const merged = mergeContext(
      context({ ip: '198.51.100.7', userAgent: 'ua-request', deviceId: 'd-request' }),
      context({ deviceId: 'd-item' }),
    );
    expect(merged).toEqual(context({ ip: '198.51.100.7', userAgent: 'ua-request', deviceId: 'd-item' }));
  });

  it("merges attributes key by key, the item's value winning", () => {
    expect(
      mergeContext(
        context({ attributes: { region: 'eu', channel: 'web' } }),
        context({ attributes: { region: 'us', step: 2 } }),
      ).attributes,
    ).toEqual({ region: 'us', channel: 'web', step: 2 });
  });
});
