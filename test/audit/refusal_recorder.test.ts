import { describe, expect, it } from 'vitest';
import { MAX_PATH_LENGTH, RefusalRecorder } from '../../src/audit/index.js';
import type { AuditRecord, RefusedAuthentication } from '../../src/audit/index.js';

const refusal: RefusedAuthentication = {
  api: 'scim',
  method: 'GET',
  path: '/scim/v2/acme/Users',
  status: 401,
  credential: 'not_accepted',
};

function recorder(options: { perTenantPerMinute?: number; perMinute?: number; tenants?: string[] } = {}): {
  stored: AuditRecord[];
  at: { now: number };
  recorder: RefusalRecorder;
} {
  const stored: AuditRecord[] = [];
  const at = { now: 1_800_000_000_000 };
  return {
    stored,
    at,
    recorder: new RefusalRecorder({
      tenants: options.tenants ?? ['acme'],
      ...(options.perTenantPerMinute === undefined ? {} : { perTenantPerMinute: options.perTenantPerMinute }),
      ...(options.perMinute === undefined ? {} : { perMinute: options.perMinute }),
      clock: () => at.now,
      publish: (record) => {
        stored.push(record);
        return Promise.resolve();
      },
    }),
  };
}

describe('RefusalRecorder', () => {
  it('records the first refusals of a minute one by one and sums up the rest in one record', () => {
    const { stored, at, recorder: r } = recorder({ perTenantPerMinute: 3 });
    for (let i = 0; i < 10; i++)
      r.refused('acme', i % 2 === 0 ? refusal : { ...refusal, api: 'admin', credential: 'missing' });
    expect(stored).toHaveLength(3);
    at.now += 60_000;
    r.flush();
    expect(stored).toHaveLength(4);
    expect(stored[3]).toMatchObject({
      kind: 'auth.refused',
      tenant: 'acme',
      data: {
        summary: true,
        refused: 7,
        by_api: { scim: 3, admin: 4 },
        by_credential: { not_accepted: 3, missing: 4 },
      },
    });
    // A new minute records one by one again.
    r.refused('acme', refusal);
    expect(stored[4]?.data).toEqual(refusal);
  });

  it('bounds what one minute records over all tenants, however many tenants are named', () => {
    const tenants = Array.from({ length: 50 }, (_, i) => `t${String(i)}`);
    const { stored, at, recorder: r } = recorder({ perTenantPerMinute: 10, perMinute: 20, tenants });
    for (const tenant of tenants) for (let i = 0; i < 5; i++) r.refused(tenant, refusal);
    expect(stored).toHaveLength(20);
    at.now += 60_000;
    r.flush();
    // Every tenant whose refusals were not all recorded gets its sum: none is lost, the count is bounded.
    const sums = stored.filter((s) => s.data['summary'] === true);
    expect(sums.reduce((n, s) => n + Number(s.data['refused']), 0)).toBe(50 * 5 - 20);
    expect(stored.length).toBeLessThanOrEqual(20 + tenants.length);
  });

  it('keeps at most the first characters of a path the refused caller chose', () => {
    const { stored, recorder: r } = recorder();
    r.refused('acme', { ...refusal, path: `/scim/v2/acme/Users/${'x'.repeat(15_000)}` });
    expect(String(stored[0]?.data['path'])).toHaveLength(MAX_PATH_LENGTH);
  });

  it('records nothing for a tenant it does not serve', () => {
    const { stored, recorder: r } = recorder();
    r.refused('nosuchtenant', refusal);
    r.flush();
    expect(stored).toEqual([]);
  });

  it('refuses a meaningless bound at construction', () => {
    expect(
      () => new RefusalRecorder({ tenants: [], perTenantPerMinute: -1, publish: () => Promise.resolve() }),
    ).toThrow(TypeError);
  });
});
