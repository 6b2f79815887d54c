import { describe, expect, it } from 'vitest';
import { RefusalRecorder } from '../../src/audit/index.js';
import type { AuditRecord, RefusedAuthentication } from '../../src/audit/index.js';

const refusal: RefusedAuthentication = {
  api: 'scim',
  method: 'GET',
  path: '/scim/v2/acme/Users',
  status: 401,
  credential: 'not_accepted',
};

function recorder(perMinute: number): { stored: AuditRecord[]; at: { now: number }; recorder: RefusalRecorder } {
  const stored: AuditRecord[] = [];
  const at = { now: 1_800_000_000_000 };
  return {
    stored,
    at,
    recorder: new RefusalRecorder({
      tenants: ['acme'],
      perMinute,
      clock: () => at.now,
      publish: (record) => {
        stored.push(record);
        return Promise.resolve();
      },
    }),
  };
}

describe('RefusalRecorder', () => {
  it('records at most perMinute refusals per tenant, and counts the rest in the next record', () => {
    const { stored, at, recorder: r } = recorder(3);
    for (let i = 0; i < 10; i++) r.refused('acme', refusal);
    expect(stored).toHaveLength(3);
    at.now += 60_000;
    r.refused('acme', refusal);
    expect(stored).toHaveLength(4);
    expect(stored[3]).toMatchObject({ kind: 'auth.refused', tenant: 'acme', data: { ...refusal, suppressed: 7 } });
    expect(stored.slice(0, 3).every((s) => !('suppressed' in s.data))).toBe(true);
  });

  it('records nothing for a tenant it does not serve', () => {
    const { stored, recorder: r } = recorder(3);
    r.refused('nosuchtenant', refusal);
    expect(stored).toEqual([]);
  });

  it('refuses a meaningless bound at construction', () => {
    expect(() => new RefusalRecorder({ tenants: [], perMinute: 0, publish: () => Promise.resolve() })).toThrow(
      TypeError,
    );
  });
});
