import { describe, expect, it } from 'vitest';
import { EntitlementStore } from '../../src/store/index.js';
import type { GroupRecord, SessionRecord, UserRecord } from '../../src/store/index.js';
import { sessionRecord } from '../harness/records.js';
import {
  groupFromRow,
  groupRowOf,
  sessionFromRow,
  sessionRowOf,
  userFromRow,
  userRowOf,
} from '../../src/store/rows.js';

const VERSION = { sequence: 7, createdAt: 1_800_000_000_000, modifiedAt: 1_800_000_100_000 };

const USER: UserRecord = {
  tenantId: 'a',
  id: 'u1',
  userName: 'ann@example.com',
  externalId: 'x1',
  active: false,
  attributes: { department: 'R&D' },
  roles: ['admin'],
  extra: { nickname: 'ann' },
  version: VERSION,
};

const GROUP: GroupRecord = {
  tenantId: 'a',
  id: 'g1',
  displayName: 'Eng',
  externalId: undefined,
  extra: { color: 'blue' },
  version: VERSION,
};

const SESSION: SessionRecord = sessionRecord('a', 's1', 'u1', {
  ip: '2001:db8::1',
  deviceId: 'laptop-1',
  idpSessionId: 'sid-1',
  extra: { source: 'sdk' },
});

describe('store rows', () => {
  it('round-trips each entity through its one row converter pair', () => {
    expect(userFromRow(userRowOf(USER))).toEqual(USER);
    expect(groupFromRow(groupRowOf(GROUP))).toEqual(GROUP);
    expect(sessionFromRow(sessionRowOf(SESSION))).toEqual(SESSION);
  });

  it('a subject read carries the user and session exactly as the directory reads them', () => {
    const store = EntitlementStore.open(':memory:');
    store.upsertTenant({ id: 'a', displayName: 'A' });
    store.upsertUser(USER);
    store.upsertSession(SESSION);
    const slice = store.readSubject('a', { kind: 'session', sessionId: 's1' }).slice;
    expect(slice?.user).toEqual(store.user('a', 'u1'));
    expect(slice?.session).toEqual(store.session('a', 's1'));
    store.close();
  });
});
