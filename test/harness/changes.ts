import { randomUUID } from 'node:crypto';
import type { Change, ChangeKind, ChangeOf } from '../../src/changes/index.js';

/** A change of `kind` for `tenant`, with a fresh id and the current time. */
export function change<K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data']): ChangeOf<K> {
  return { v: 1, id: randomUUID(), tenant, at: Date.now(), kind, data } as unknown as ChangeOf<K>;
}

export function user(
  tenant: string,
  id: string,
  extra: Partial<ChangeOf<'user.upsert'>['data']> = {},
): ChangeOf<'user.upsert'> {
  return change(tenant, 'user.upsert', {
    id,
    user_name: `${id}@${tenant}.example`,
    external_id: null,
    active: true,
    attributes: {},
    roles: [],
    ...extra,
  });
}

export function session(
  tenant: string,
  id: string,
  userId: string,
  extra: Partial<ChangeOf<'session.start'>['data']> = {},
): ChangeOf<'session.start'> {
  const now = Math.floor(Date.now() / 1000);
  return change(tenant, 'session.start', {
    id,
    user_id: userId,
    issuer: 'https://idp.example',
    acr: 'phr',
    amr: ['hwk'],
    auth_time: now - 60,
    expires_at: now + 3600,
    created_at: now - 60,
    revoked_at: null,
    revoke_reason: null,
    ip: null,
    device_id: null,
    ...extra,
  });
}

/** Tenant, groups and users of a small directory, as changes. */
export function directory(tenant: string, users: number, groups: number): Change[] {
  const changes: Change[] = [change(tenant, 'tenant.upsert', { display_name: tenant })];
  for (let g = 0; g < groups; g++) {
    changes.push(change(tenant, 'group.upsert', { id: `g${g}`, display_name: `Group ${g}`, external_id: null }));
  }
  for (let u = 0; u < users; u++) {
    changes.push(user(tenant, `u${u}`));
    changes.push(change(tenant, 'member.add', { group_id: `g${u % groups}`, user_id: `u${u}` }));
  }
  return changes;
}
