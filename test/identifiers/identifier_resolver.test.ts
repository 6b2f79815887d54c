import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IdentifierResolver } from '../../src/identifiers/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { userRecord } from '../harness/records.js';
import { makeTempDir } from '../harness/temp_dir.js';

let dir: ReturnType<typeof makeTempDir>;
let store: EntitlementStore;

const RICK_PID = 'CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs';

beforeEach(() => {
  dir = makeTempDir();
  store = EntitlementStore.open(join(dir.path, 'store.db'));
  for (const t of ['todo', 'other']) store.upsertTenant({ id: t, displayName: t });
  store.upsertUser(
    userRecord('todo', 'u-rick', {
      userName: 'rick@the-citadel.com',
      externalId: RICK_PID,
      attributes: {
        emails: [{ value: 'rick@the-citadel.com', primary: true }],
        phoneNumbers: [{ value: '+1 555 0100' }],
      },
    }),
  );
  store.upsertUser(userRecord('todo', 'u-morty', { userName: 'morty@the-citadel.com', externalId: undefined }));
  store.bindIdentity({ tenantId: 'todo', issuer: 'https://idp.example', subject: 'sub-morty', userId: 'u-morty' });
});

afterEach(() => {
  store.close();
  dir.remove();
});

describe('IdentifierResolver over the store', () => {
  it('the default user type finds a user by our id, externalId (a PID), userName, IdP subject or e-mail', () => {
    const resolver = new IdentifierResolver(store);
    for (const [id, userId] of [
      ['u-rick', 'u-rick'],
      [RICK_PID, 'u-rick'],
      ['RICK@the-citadel.com', 'u-rick'],
      ['sub-morty', 'u-morty'],
    ] as const) {
      expect(resolver.resolveSubject('todo', 'user', id), id).toMatchObject({ kind: 'found', userId });
    }
    expect(resolver.resolveSubject('todo', 'user', 'nobody')).toEqual({ kind: 'unknown' });
  });

  it('identity names by the IdP subject identifier only: not by userName', () => {
    const resolver = new IdentifierResolver(store);
    expect(resolver.resolveSubject('todo', 'identity', RICK_PID)).toMatchObject({ kind: 'found', userId: 'u-rick' });
    expect(resolver.resolveSubject('todo', 'identity', 'sub-morty')).toMatchObject({ userId: 'u-morty' });
    expect(resolver.resolveSubject('todo', 'identity', 'rick@the-citadel.com')).toEqual({ kind: 'unknown' });
  });

  it("a tenant's declared types replace the defaults; an undeclared type names no one; other tenants are apart", () => {
    const resolver = new IdentifierResolver(
      store,
      new Map([['todo', { phone: { identifiers: ['phone_number'], resultsIn: 'phone_number' } }]]),
    );
    expect(resolver.resolveSubject('todo', 'phone', '+15550100')).toMatchObject({ userId: 'u-rick' });
    expect(resolver.subjectType('todo', 'user')).toBeUndefined();
    expect(resolver.resolveSubject('todo', 'user', 'u-rick')).toEqual({ kind: 'unknown' });
    expect(resolver.subjectType('todo', 'toString')).toBeUndefined();
    expect(new IdentifierResolver(store).resolveSubject('other', 'user', RICK_PID)).toEqual({ kind: 'unknown' });
  });

  it('names a user in answers by the identifier asked; the IdP subject when the user has exactly one', () => {
    const resolver = new IdentifierResolver(store);
    const rick = store.user('todo', 'u-rick');
    const morty = store.user('todo', 'u-morty');
    expect(rick && resolver.identifierOf(rick, 'external_id')).toBe(RICK_PID);
    expect(morty && resolver.identifierOf(morty, 'external_id')).toBeUndefined();
    expect(morty && resolver.identifierOf(morty, 'idp_subject')).toBe('sub-morty');
    store.bindIdentity({ tenantId: 'todo', issuer: 'https://other.example', subject: 'other-sub', userId: 'u-morty' });
    expect(morty && resolver.identifierOf(morty, 'idp_subject')).toBeUndefined();
  });
});
