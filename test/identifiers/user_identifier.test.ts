import { describe, expect, it } from 'vitest';
import type { UserIdentifier } from '../../src/config/index.js';
import { recordIdentifierOf, resolveInOrder } from '../../src/identifiers/index.js';
import type { UserRecord } from '../../src/store/index.js';

const lookups =
  (found: Partial<Record<UserIdentifier, readonly string[]>>) =>
  (by: UserIdentifier): readonly string[] =>
    found[by] ?? [];

describe('resolveInOrder', () => {
  it('the first identifier that names any user decides, even when a later one names another', () => {
    const resolution = resolveInOrder(
      ['external_id', 'user_name'],
      lookups({ external_id: ['u1'], user_name: ['u2'] }),
    );
    expect(resolution).toEqual({ kind: 'found', userId: 'u1', by: 'external_id' });
  });

  it('an identifier that names two users is ambiguous: no user is picked, later identifiers are not tried', () => {
    const resolution = resolveInOrder(['email', 'user_name'], lookups({ email: ['u1', 'u2'], user_name: ['u3'] }));
    expect(resolution).toEqual({ kind: 'ambiguous', by: 'email', count: 2 });
  });

  it('the same user listed twice by one lookup is one user', () => {
    expect(resolveInOrder(['email'], lookups({ email: ['u1', 'u1'] }))).toEqual({
      kind: 'found',
      userId: 'u1',
      by: 'email',
    });
  });

  it('nothing named by any identifier is unknown', () => {
    expect(resolveInOrder(['id', 'external_id'], lookups({ user_name: ['u1'] }))).toEqual({ kind: 'unknown' });
  });
});

describe('recordIdentifierOf', () => {
  const user: UserRecord = {
    tenantId: 'todo',
    id: '3f7c',
    userName: 'rick@the-citadel.com',
    externalId: 'CiRmZDA2',
    active: true,
    attributes: {
      emails: [{ value: 'rick@home.example' }, { value: 'rick@the-citadel.com', primary: true }],
      phoneNumbers: [{ value: '+1 555 0100' }],
    },
    roles: [],
  };

  it('names the user by each identifier its record holds; the primary e-mail, else the first value', () => {
    expect(recordIdentifierOf(user, 'id')).toBe('3f7c');
    expect(recordIdentifierOf(user, 'user_name')).toBe('rick@the-citadel.com');
    expect(recordIdentifierOf(user, 'external_id')).toBe('CiRmZDA2');
    expect(recordIdentifierOf(user, 'email')).toBe('rick@the-citadel.com');
    expect(recordIdentifierOf(user, 'phone_number')).toBe('+1 555 0100');
  });

  it('a user without the identifier has no name by it', () => {
    const bare = { ...user, externalId: undefined, attributes: {} };
    expect(recordIdentifierOf(bare, 'external_id')).toBeUndefined();
    expect(recordIdentifierOf(bare, 'email')).toBeUndefined();
  });
});
