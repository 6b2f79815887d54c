import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHANGE_KINDS, sealChangeOf } from '../../src/changes/index.js';
import type { Change, SealerOf } from '../../src/changes/index.js';
import { TenantCipher, TenantKeyError } from '../../src/tenant_keys/index.js';
import { change, session, user } from '../harness/changes.js';

const revoked: SealerOf = (tenant) => {
  throw new TenantKeyError('ERR_TENANT_KEY_REVOKED', tenant, `${tenant}'s key was revoked`);
};

describe('sealChangeOf', () => {
  it("asks the tenant's key only for a change with personal data: a revoked tenant can still be named and purged", () => {
    const impersonal: Change[] = [
      change('acme', 'tenant.upsert', { display_name: 'Acme' }),
      change('acme', 'sessions.purge', { expired_before: 1 }),
      change('acme', 'group.upsert', { id: 'g1', display_name: 'Eng', external_id: null }),
      change('acme', 'member.add', { group_id: 'g1', user_id: 'u1' }),
      change('acme', 'user.delete', { id: 'u1' }),
    ];
    for (const c of impersonal) expect(sealChangeOf(c, revoked)).toBe(c);
    for (const c of [user('acme', 'u1'), session('acme', 's1', 'u1')]) {
      expect(() => sealChangeOf(c, revoked)).toThrow(
        expect.objectContaining({ code: 'ERR_TENANT_KEY_REVOKED' }) as Error,
      );
    }
    expect(CHANGE_KINDS).toContain('posture.set');
  });

  it('seals every kind with personal data, and nothing else', () => {
    const acme = new TenantCipher('acme', new Map([['k1', randomBytes(32)]]), 'k1', randomBytes(32));
    const sealed = sealChangeOf(user('acme', 'u1', { attributes: { title: 'Engineer' } }), () => acme);
    expect(JSON.stringify(sealed)).not.toContain('Engineer');
    expect((sealed.data as { sealed?: string }).sealed).toMatch(/^s1\.k1\./);
  });
});
