import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TenantSettings } from '../../src/config/index.js';
import { TokenVerifier } from '../../src/tokens/index.js';
import { FakeIdp } from '../harness/fake_idp.js';

let idp: FakeIdp;
let tenants: TenantSettings[];

beforeAll(async () => {
  idp = await FakeIdp.start();
  tenants = [
    {
      id: 'acme',
      displayName: 'Acme',
      scim: undefined,
      adminTokenSha256: [],
      authzenTokenSha256: [],
      authzenActions: [],
      jitProvisioning: false,
      ssf: { transmitters: [], receiver: undefined },
      idps: [
        {
          issuer: idp.issuer,
          clientId: 'app',
          jwksUri: idp.jwksUri,
          discovery: false,
          algorithms: ['PS256'],
          link: undefined,
          defaultSessionLifetimeS: 3600,
          maxSessionLifetimeS: 43200,
        },
      ],
    },
  ];
});

afterAll(async () => {
  await idp.stop();
});

describe('TokenVerifier', () => {
  it('verifies a bearer token once and trusts it until it expires, not after', async () => {
    let now = Math.floor(Date.now() / 1000);
    const verifier = new TokenVerifier({ tenants, clock: () => now, clockToleranceS: 0 });
    const token = await idp.idToken('sub-1', 'app', { exp: now + 60 }, { now });
    await verifier.verify('acme', token);
    const fetches = idp.jwksFetches;
    const again = await verifier.verify('acme', token);
    expect(again.subject).toBe('sub-1');
    expect(idp.jwksFetches).toBe(fetches);
    now += 61;
    await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
  });

  it('a cached token of one tenant is not accepted for another', async () => {
    const verifier = new TokenVerifier({ tenants });
    const token = await idp.idToken('sub-1', 'app');
    await verifier.verify('acme', token);
    await expect(verifier.verify('globex', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_ISSUER_UNKNOWN' });
  });

  it('single-use verification is never served from the cache', async () => {
    const verifier = new TokenVerifier({ tenants });
    const token = await idp.idToken('sub-1', 'app');
    await verifier.verify('acme', token); // cached as a bearer token
    await verifier.verify('acme', token, { once: true });
    await expect(verifier.verify('acme', token, { once: true })).rejects.toMatchObject({ code: 'ERR_TOKEN_REPLAYED' });
  });

  it('refuses discovery metadata that names another issuer', async () => {
    const liar = await FakeIdp.start();
    liar.discoveryIssuer = 'https://someone-else.example';
    try {
      const verifier = new TokenVerifier({
        tenants: [
          {
            ...tenants[0]!,
            idps: [{ ...tenants[0]!.idps[0]!, issuer: liar.issuer, jwksUri: undefined, discovery: true }],
          },
        ],
      });
      await expect(verifier.verify('acme', await liar.idToken('s', 'app'))).rejects.toMatchObject({
        code: 'ERR_TOKEN_IDP_UNAVAILABLE',
      });
    } finally {
      await liar.stop();
    }
  });
});
