import type { SessionRecord, UserRecord } from '../../src/store/index.js';

/** A stored user of `tenantId` with the fields a test does not care about filled in. */
export function userRecord(tenantId: string, id: string, extra: Partial<UserRecord> = {}): UserRecord {
  return {
    tenantId,
    id,
    userName: `${id}@example.com`,
    externalId: undefined,
    active: true,
    attributes: {},
    roles: [],
    ...extra,
  };
}

/** A stored, live session of `userId` (auth and creation at 100, expiry at 200). */
export function sessionRecord(
  tenantId: string,
  id: string,
  userId: string,
  extra: Partial<SessionRecord> = {},
): SessionRecord {
  return {
    tenantId,
    id,
    userId,
    issuer: 'https://idp.example',
    acr: 'phr',
    amr: ['hwk'],
    authTime: 100,
    expiresAt: 200,
    createdAt: 100,
    revokedAt: undefined,
    revokeReason: undefined,
    ip: undefined,
    deviceId: undefined,
    ...extra,
  };
}
