/**
 * Logout tokens from a fake OP that signs with real keys, verified with the
 * key sets the sidecar's ID tokens are verified with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import type { TenantSettings } from '../../src/config/index.js';
import { LogoutTokenVerifier } from '../../src/signals/index.js';
import { TokenVerifier } from '../../src/tokens/index.js';
import { FakeIdp } from '../harness/fake_idp.js';

let op: FakeIdp;

beforeAll(async () => {
  op = await FakeIdp.start();
});

afterAll(async () => {
  await op.stop();
});

function verifierFor(tenants: Record<string, unknown>): LogoutTokenVerifier {
  const settings: TenantSettings[] = [
    ...parseConfig({ IPSIE_TENANTS_FILE: JSON.stringify({ tenants }) }, (text) => text).tenants,
  ];
  const keys = new TokenVerifier({ tenants: settings, jwksMinIntervalMs: 0 });
  return new LogoutTokenVerifier({
    tenants: settings,
    keys: async (tenantId, issuer) => await keys.keySet(tenantId, issuer),
  });
}

describe('LogoutTokenVerifier at a multi-tenant OP', () => {
  /** One OP application serving two customers, told apart by `org_id`. */
  const sharedOp = (org: string): Record<string, unknown> => ({
    idps: [
      {
        issuer: op.issuer,
        client_id: 'shared-app',
        jwks_uri: op.jwksUri,
        algorithms: ['PS256'],
        backchannel_logout: {},
        tenant_claim: { claim: 'org_id', value: org },
      },
    ],
  });

  it("a logout token for another customer of the OP, or naming none, is refused: it never ends this tenant's sessions", async () => {
    const verifier = verifierFor({ acme: sharedOp('org_acme'), globex: sharedOp('org_globex') });
    for (const org of ['org_globex', undefined, ['org_acme'], 'ORG_ACME']) {
      const token = await op.logoutToken('shared-app', { sub: 'user-1', sid: 'sid-1', org_id: org });
      await expect(verifier.verify('acme', token), String(org)).rejects.toMatchObject({
        code: 'ERR_LOGOUT_TOKEN_INVALID',
      });
    }
    const own = await op.logoutToken('shared-app', { sub: 'user-1', sid: 'sid-1', org_id: 'org_acme' });
    expect(await verifier.verify('acme', own)).toMatchObject({ tenantId: 'acme', sub: 'user-1', sid: 'sid-1' });
    await expect(verifier.verify('globex', own)).rejects.toMatchObject({ code: 'ERR_LOGOUT_TOKEN_INVALID' });
  });

  it('without a tenant claim configured, a logout token needs none', async () => {
    const verifier = verifierFor({
      acme: { idps: [{ issuer: op.issuer, client_id: 'app', jwks_uri: op.jwksUri, backchannel_logout: {} }] },
    });
    const token = await op.logoutToken('app', { sid: 'sid-2' });
    expect(await verifier.verify('acme', token)).toMatchObject({ sid: 'sid-2' });
  });
});

describe('LogoutTokenVerifier against hostile headers', () => {
  it('a kid over 256 characters is refused before any key lookup, however many arrive', async () => {
    const own = await FakeIdp.start();
    try {
      const verifier = verifierFor({
        acme: { idps: [{ issuer: own.issuer, client_id: 'app', jwks_uri: own.jwksUri, backchannel_logout: {} }] },
      });
      // Under the endpoint's 64 KiB body limit, each.
      const forged = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const claims = { iss: own.issuer, aud: 'app', iat: Math.floor(Date.now() / 1000), jti: `j-${i}`, sid: 's' };
          const events = { 'http://schemas.openid.net/event/backchannel-logout': {} };
          return await own.sign({ ...claims, events }, { typ: 'logout+jwt', kidHeader: `${i}-`.padEnd(40_000, 'k') });
        }),
      );
      const results = await Promise.allSettled(forged.map(async (t) => await verifier.verify('acme', t)));
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      expect(results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : 'accepted'))).toEqual(
        forged.map(() => 'ERR_LOGOUT_TOKEN_INVALID'),
      );
      expect(own.jwksFetches).toBe(0);
      const token = await own.logoutToken('app', { sid: 'sid-3' });
      expect(await verifier.verify('acme', token)).toMatchObject({ sid: 'sid-3' });
    } finally {
      await own.stop();
    }
  });
});
