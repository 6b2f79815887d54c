/**
 * An IdP's metadata maintains itself (seed 4.1): its key set and discovery document are fetched again when
 * their `Cache-Control` says (within the configured bounds), and what changed is reported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import type { TenantSettings } from '../../src/config/index.js';
import { TokenVerifier } from '../../src/tokens/index.js';
import type { IdpChange } from '../../src/tokens/index.js';
import { freshnessOf } from '../../src/tokens/idp_fetch.js';
import { FakeIdp } from '../harness/fake_idp.js';

const idps: FakeIdp[] = [];
afterEach(async () => {
  for (const idp of idps.splice(0)) await idp.stop();
});

async function startIdp(): Promise<FakeIdp> {
  const idp = await FakeIdp.start();
  idps.push(idp);
  return idp;
}

function tenantsFor(entry: Record<string, unknown>): TenantSettings[] {
  return [
    ...parseConfig({ IPSIE_TENANTS_FILE: JSON.stringify({ tenants: { acme: { idps: [entry] } } }) }, (t) => t).tenants,
  ];
}

describe('IdP metadata freshness', () => {
  it('reads Cache-Control as RFC 9111 says: no-store and no-cache are 0, else max-age, else nothing', () => {
    expect(freshnessOf(null)).toBeUndefined();
    expect(freshnessOf('public, max-age=3600')).toBe(3600);
    expect(freshnessOf('max-age="60"')).toBe(60);
    expect(freshnessOf('no-cache, max-age=3600')).toBe(0);
    expect(freshnessOf('NO-STORE')).toBe(0);
    expect(freshnessOf('max-age=-1')).toBeUndefined();
    expect(freshnessOf('max-age=soon')).toBeUndefined();
    expect(freshnessOf('private')).toBeUndefined();
  });

  it("a key the IdP removed stops verifying once the key set's max-age passes, not at the configured 300 s; the change is reported", async () => {
    const idp = await startIdp();
    idp.cacheControl.jwks = 'max-age=2';
    let now = Math.floor(Date.now() / 1000);
    const changes: IdpChange[] = [];
    const verifier = new TokenVerifier({
      tenants: tenantsFor({ issuer: idp.issuer, client_id: 'app', jwks_uri: idp.jwksUri, algorithms: ['PS256'] }),
      jwksMaxAgeS: 300,
      jwksMinIntervalMs: 0,
      cacheSize: 0,
      clock: () => now,
      onIdpChange: (change) => changes.push(change),
    });
    const oldKid = idp.keys.jwks().keys[0]?.kid;
    const token = await idp.idToken('sub-1', 'app', { exp: now + 600 }, { now });
    expect((await verifier.verify('acme', token)).subject).toBe('sub-1');
    const newKid = await idp.addKey('PS256');
    idp.retire(oldKid ?? '');
    now += 1;
    // Within the IdP's max-age: the set as fetched still holds the old key.
    expect((await verifier.verify('acme', token)).subject).toBe('sub-1');
    now += 2;
    await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
    expect(changes).toEqual([
      { kind: 'keys', tenantId: 'acme', issuer: idp.issuer, jwksUri: idp.jwksUri, added: [newKid], removed: [oldKid] },
    ]);
  });

  it('a max-age past the configured bound is held to it, and no-cache to the least interval between fetches', async () => {
    const idp = await startIdp();
    let now = Math.floor(Date.now() / 1000);
    const verifier = new TokenVerifier({
      tenants: tenantsFor({ issuer: idp.issuer, client_id: 'app', jwks_uri: idp.jwksUri, algorithms: ['PS256'] }),
      jwksMaxAgeS: 30,
      jwksMinIntervalMs: 1_000,
      cacheSize: 0,
      clock: () => now,
    });
    idp.cacheControl.jwks = 'max-age=86400';
    const token = await idp.idToken('sub-1', 'app', { exp: now + 600 }, { now });
    await verifier.verify('acme', token);
    const fetches = idp.jwksFetches;
    now += 31;
    await verifier.verify('acme', token);
    expect(idp.jwksFetches).toBe(fetches + 1);
    idp.cacheControl.jwks = 'no-cache';
    now += 31;
    await verifier.verify('acme', token);
    await verifier.verify('acme', token);
    // no-cache: fresh for no longer than the 1 s between fetches, then fetched again.
    expect(idp.jwksFetches).toBe(fetches + 2);
    now += 1;
    await verifier.verify('acme', token);
    expect(idp.jwksFetches).toBe(fetches + 3);
  });

  it('discovery is asked again once its max-age passes: a new jwks_uri takes over, and is reported', async () => {
    const idp = await startIdp();
    idp.cacheControl.discovery = 'max-age=120';
    let now = Math.floor(Date.now() / 1000);
    const changes: IdpChange[] = [];
    const verifier = new TokenVerifier({
      tenants: tenantsFor({ issuer: idp.issuer, client_id: 'app', discovery: true, algorithms: ['PS256'] }),
      jwksMinIntervalMs: 0,
      cacheSize: 0,
      clock: () => now,
      onIdpChange: (change) => changes.push(change),
    });
    const token = await idp.idToken('sub-1', 'app', { exp: now + 600 }, { now });
    await verifier.verify('acme', token);
    idp.jwksPath = '/jwks-2026';
    now += 121;
    // The refresh runs beside the call that found the metadata stale; the next one uses what it found.
    await verifier.verify('acme', token);
    const deadline = Date.now() + 5_000;
    while (changes.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(changes).toEqual([
      { kind: 'jwks_uri', tenantId: 'acme', issuer: idp.issuer, from: idp.jwksUri, to: `${idp.issuer}/jwks-2026` },
    ]);
    expect((await verifier.verify('acme', token)).subject).toBe('sub-1');
  });

  it('discovery that fails on refresh keeps the keys it found before', async () => {
    const idp = await startIdp();
    idp.cacheControl.discovery = 'max-age=60';
    let now = Math.floor(Date.now() / 1000);
    const verifier = new TokenVerifier({
      tenants: tenantsFor({ issuer: idp.issuer, client_id: 'app', discovery: true, algorithms: ['PS256'] }),
      jwksMinIntervalMs: 0,
      cacheSize: 0,
      clock: () => now,
    });
    const token = await idp.idToken('sub-1', 'app', { exp: now + 600 }, { now });
    await verifier.verify('acme', token);
    idp.discoveryIssuer = 'https://impostor.example';
    now += 61;
    expect((await verifier.verify('acme', token)).subject).toBe('sub-1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await verifier.verify('acme', token)).subject).toBe('sub-1');
  });
});
