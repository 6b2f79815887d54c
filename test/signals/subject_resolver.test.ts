/**
 * What a `sub_id` names in one tenant's directory (SSF 1.0 §3), read
 * through an in-memory directory: every format, the specifications'
 * complex subjects, and the ambiguous, inconsistent or foreign subjects a
 * hostile transmitter could send.
 */
import { describe, expect, it } from 'vitest';
import type { TransmitterSettings } from '../../src/config/index.js';
import { parseSubjectIdentifier } from '../../src/signals/subject_identifier.js';
import { SubjectResolver } from '../../src/signals/subject_resolver.js';
import type { ResolvedSubject } from '../../src/signals/subject_resolver.js';
import type { SessionRecord, UserRecord } from '../../src/store/index.js';
import { InMemoryDirectory } from './in_memory_directory.js';
import { specExample } from './spec_examples.js';

const ISSUER = 'https://idp.example.com/123456789/';
const CAEP_SID = 'dMTlD|1600802906337.16|16008.16';

const TRANSMITTER: TransmitterSettings = {
  issuer: ISSUER,
  jwksUri: undefined,
  discovery: true,
  audience: 'https://sp.example.com/caep',
  algorithms: ['RS256'],
  maxSetAgeS: 86_400,
  streamId: undefined,
  tenantSubject: '123456789',
  push: undefined,
  poll: undefined,
  management: undefined,
};

const user = (
  tenantId: string,
  id: string,
  userName: string,
  attributes: Record<string, unknown> = {},
): UserRecord => ({
  tenantId,
  id,
  userName,
  externalId: `ext-${id}`,
  active: true,
  attributes,
  roles: [],
});

const session = (tenantId: string, id: string, userId: string, idpSessionId?: string): SessionRecord => ({
  tenantId,
  id,
  userId,
  issuer: ISSUER,
  acr: 'phr',
  amr: ['hwk'],
  authTime: 1_800_000_000,
  expiresAt: 1_800_003_600,
  createdAt: 1_800_000_000,
  revokedAt: undefined,
  revokeReason: undefined,
  ip: undefined,
  deviceId: undefined,
  ...(idpSessionId === undefined ? {} : { idpSessionId }),
});

const directory = new InMemoryDirectory()
  .addUser(
    user('acme', 'u-jane', 'jane.smith@example.com', {
      emails: [
        { value: 'jane.smith@example.com', type: 'work' },
        { value: 'jane@home.example', type: 'home' },
      ],
      phoneNumbers: [{ value: '+1 206 555 0123', type: 'work' }],
    }),
  )
  .addUser(user('acme', 'u-john', 'john.doe@example.com'))
  .addUser(
    user('acme', 'u-a', 'a@example.com', {
      emails: [{ value: 'shared@example.com' }],
      phoneNumbers: [{ value: '+1 555 0100' }],
    }),
  )
  .addUser(
    user('acme', 'u-b', 'b@example.com', {
      emails: [{ value: 'SHARED@example.com' }],
      phoneNumbers: [{ value: 'tel:+15550100' }],
    }),
  )
  .addUser(user('globex', 'u-gjane', 'jane.smith@example.com'))
  .bind({ tenantId: 'acme', issuer: ISSUER, subject: '99beb27c-c1c2-4955-882a-e0dc4996fcbc', userId: 'u-jane' })
  .bind({ tenantId: 'acme', issuer: ISSUER, subject: 'jane.smith@example.com', userId: 'u-jane' })
  .bind({ tenantId: 'globex', issuer: ISSUER, subject: 'gsub', userId: 'u-gjane' })
  .addSession(session('acme', 's-1', 'u-jane', CAEP_SID))
  .addSession(session('acme', 's-2', 'u-jane', CAEP_SID))
  .addSession(session('acme', 's-john', 'u-john', 'sid-john'))
  .addSession(session('acme', 's-a', 'u-a', 'sid-shared'))
  .addSession(session('acme', 's-b', 'u-b', 'sid-shared'))
  .addSession(session('acme', 's-ours', 'u-john'))
  .addSession(session('globex', 's-g', 'u-gjane', 'sid-globex'));

const resolver = new SubjectResolver(directory);

const resolve = (
  subject: unknown,
  options: { tenant?: string; critical?: string[]; transmitter?: TransmitterSettings } = {},
): ResolvedSubject =>
  resolver.resolve(
    options.tenant ?? 'acme',
    parseSubjectIdentifier(subject),
    options.transmitter ?? TRANSMITTER,
    options.critical,
  );

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { err?: unknown }).err;
  }
  return undefined;
}

const sessionIds = (resolved: ResolvedSubject): string[] => resolved.sessions.map((s) => s.id);

describe('simple subjects', () => {
  it('an email names the user whose userName it is, ignoring ASCII case', () => {
    expect(resolve({ format: 'email', email: 'JANE.Smith@example.com' })).toMatchObject({
      userId: 'u-jane',
      oldIdentifier: 'JANE.Smith@example.com',
      sessions: [],
      idpSessionId: undefined,
    });
  });

  it('an email names the user one of whose e-mail addresses it is, when no userName is it', () => {
    expect(resolve({ format: 'email', email: 'jane@home.example' }).userId).toBe('u-jane');
  });

  it('an account URI names the user of its address', () => {
    expect(resolve({ format: 'account', uri: 'acct:jane.smith@example.com' })).toMatchObject({
      userId: 'u-jane',
      oldIdentifier: 'jane.smith@example.com',
    });
  });

  it('a phone number names the user with that number, however it is punctuated', () => {
    expect(resolve({ format: 'phone_number', phone_number: '+1 (206) 555-0123' })).toMatchObject({
      userId: 'u-jane',
      oldPhoneNumber: '+1 (206) 555-0123',
      oldIdentifier: undefined,
    });
  });

  it('an iss_sub names the user bound to that IdP identity', () => {
    expect(resolve({ format: 'iss_sub', iss: ISSUER, sub: '99beb27c-c1c2-4955-882a-e0dc4996fcbc' }).userId).toBe(
      'u-jane',
    );
  });

  it('an iss_sub of another issuer names no one, even with a known sub', () => {
    expect(
      resolve({ format: 'iss_sub', iss: 'https://evil.example/', sub: '99beb27c-c1c2-4955-882a-e0dc4996fcbc' }).userId,
    ).toBeUndefined();
  });

  it('a jwt_id names a token, and no user', () => {
    expect(resolve({ format: 'jwt_id', iss: ISSUER, jti: 'f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7' })).toMatchObject({
      userId: undefined,
      token: { iss: ISSUER, jti: 'f61t6e20zdo3px56gepu8rzlsp4c1dpc0fx7' },
      sessions: [],
    });
  });

  it('an email two users share names neither: the event is refused, not applied to one of them', () => {
    expect(refusal(() => resolve({ format: 'email', email: 'shared@example.com' }))).toBe('invalid_request');
    expect(refusal(() => resolve({ format: 'phone_number', phone_number: '+1-555-0100' }))).toBe('invalid_request');
  });

  it.each([
    ['a SAML assertion id (CAEP token-claims-change example)', specExample('caep-06-token-claims-change').sub_id],
    ['a URI', { format: 'uri', uri: 'https://user.example.com/' }],
    ['a DID', { format: 'did', url: 'did:example:123456' }],
  ])('%s cannot name a user here: refused', (_what, subject) => {
    expect(refusal(() => resolve(subject))).toBe('invalid_request');
  });

  it('never looks outside the tenant: another tenant’s user is unknown here', () => {
    expect(resolve({ format: 'iss_sub', iss: ISSUER, sub: 'gsub' }).userId).toBeUndefined();
    expect(resolve({ format: 'opaque', id: 'u-gjane' }).userId).toBeUndefined();
    expect(sessionIds(resolve({ format: 'opaque', id: 's-g' }))).toEqual([]);
    expect(resolve({ format: 'email', email: 'jane.smith@example.com' }, { tenant: 'globex' }).userId).toBe('u-gjane');
  });
});

describe('opaque subjects', () => {
  it('an IdP session id (CAEP session-revoked example) names every session started from it, and their user', () => {
    const resolved = resolve(specExample('caep-01-session-revoked').sub_id);
    expect(sessionIds(resolved)).toEqual(['s-1', 's-2']);
    expect(resolved).toMatchObject({ userId: 'u-jane', idpSessionId: CAEP_SID, opaqueId: CAEP_SID });
  });

  it('our own session id names that session, and is no IdP session id', () => {
    const resolved = resolve({ format: 'opaque', id: 's-ours' });
    expect(sessionIds(resolved)).toEqual(['s-ours']);
    expect(resolved).toMatchObject({ userId: 'u-john', idpSessionId: undefined });
  });

  it('a user id or external id names the user, and no IdP session', () => {
    expect(resolve({ format: 'opaque', id: 'u-john' })).toMatchObject({
      userId: 'u-john',
      idpSessionId: undefined,
      sessions: [],
    });
    expect(resolve({ format: 'opaque', id: 'ext-u-john' })).toMatchObject({
      userId: 'u-john',
      idpSessionId: undefined,
    });
  });

  it('an id naming nothing stored is an IdP session not seen yet (so its sid can still be revoked)', () => {
    expect(resolve({ format: 'opaque', id: 'sid-unknown' })).toMatchObject({
      userId: undefined,
      sessions: [],
      idpSessionId: 'sid-unknown',
      opaqueId: 'sid-unknown',
    });
  });

  it('an IdP session id shared by sessions of two users names both sessions and no single user', () => {
    const resolved = resolve({ format: 'opaque', id: 'sid-shared' });
    expect(sessionIds(resolved)).toEqual(['s-a', 's-b']);
    expect(resolved.userId).toBeUndefined();
  });
});

describe('complex subjects (SSF §3.3)', () => {
  it('CAEP’s session + user + tenant example names the session and its user', () => {
    const resolved = resolve(specExample('caep-02-session-revoked').sub_id);
    expect(sessionIds(resolved)).toEqual(['s-1', 's-2']);
    expect(resolved).toMatchObject({ userId: 'u-jane', idpSessionId: CAEP_SID, deviceId: undefined });
  });

  it('CAEP’s user + device + tenant example names the user and the device', () => {
    expect(resolve(specExample('caep-03-session-revoked').sub_id)).toMatchObject({
      userId: 'u-jane',
      deviceId: 'e9297990-14d2-42ec-a4a9-4036db86509a',
      sessions: [],
    });
  });

  it('a tenant member naming another customer of the transmitter is refused as access_denied', () => {
    const subject = {
      format: 'complex',
      user: { format: 'email', email: 'jane.smith@example.com' },
      tenant: { format: 'opaque', id: '987654321' },
    };
    expect(refusal(() => resolve(subject))).toBe('access_denied');
  });

  it('a tenant member is not checked when the transmitter names no tenant of ours', () => {
    const subject = {
      format: 'complex',
      user: { format: 'email', email: 'jane.smith@example.com' },
      tenant: { format: 'opaque', id: 'anything' },
    };
    expect(resolve(subject, { transmitter: { ...TRANSMITTER, tenantSubject: undefined } }).userId).toBe('u-jane');
  });

  it('a session and a user that name different users are refused', () => {
    const subject = {
      format: 'complex',
      session: { format: 'opaque', id: 's-john' },
      user: { format: 'email', email: 'jane.smith@example.com' },
    };
    expect(refusal(() => resolve(subject))).toBe('invalid_request');
  });

  it('a user narrows a shared IdP session id to that user’s sessions', () => {
    const subject = {
      format: 'complex',
      session: { format: 'opaque', id: 'sid-shared' },
      user: { format: 'email', email: 'b@example.com' },
    };
    const resolved = resolve(subject);
    expect(sessionIds(resolved)).toEqual(['s-b']);
    expect(resolved.userId).toBe('u-b');
  });

  it('a shared IdP session id without a user names no single user', () => {
    const resolved = resolve({ format: 'complex', session: { format: 'opaque', id: 'sid-shared' } });
    expect(sessionIds(resolved)).toEqual(['s-a', 's-b']);
    expect(resolved.userId).toBeUndefined();
  });

  it('a session member that is not an opaque id names no session, and is refused when critical', () => {
    const subject = { format: 'complex', session: { format: 'email', email: 'jane.smith@example.com' } };
    const resolved = resolve(subject);
    expect(resolved.sessions).toEqual([]);
    expect(resolved.userId).toBeUndefined();
    expect(refusal(() => resolve(subject, { critical: ['session'] }))).toBe('invalid_request');
  });

  it('a member the transmitter marks critical and this receiver cannot process is refused (SSF §3.6)', () => {
    const subject = {
      format: 'complex',
      user: { format: 'email', email: 'jane.smith@example.com' },
      application: { format: 'opaque', id: 'app' },
    };
    expect(refusal(() => resolve(subject, { critical: ['application'] }))).toBe('invalid_request');
    expect(resolve(subject, { critical: ['user', 'tenant', 'group'] }).userId).toBe('u-jane');
    expect(resolve(subject).userId).toBe('u-jane');
  });

  it('the old identifier of a renamed or recycled address comes from the user member', () => {
    expect(
      resolve({ format: 'complex', user: { format: 'email', email: 'jane.smith@example.com' } }).oldIdentifier,
    ).toBe('jane.smith@example.com');
    expect(
      resolve({ format: 'complex', user: { format: 'phone_number', phone_number: '+12065550123' } }),
    ).toMatchObject({
      userId: 'u-jane',
      oldPhoneNumber: '+12065550123',
    });
  });
});
