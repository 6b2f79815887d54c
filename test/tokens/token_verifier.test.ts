import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/index.js';
import type { TenantSettings } from '../../src/config/index.js';
import { TokenVerifier } from '../../src/tokens/index.js';
import type { TokenVerifierOptions } from '../../src/tokens/index.js';
import { FakeIdp } from '../harness/fake_idp.js';

const API = 'https://api.acme.example';

let idp: FakeIdp;
let tenants: TenantSettings[];

/** The tenants file's entry for `idp` (or another issuer) as client `app`. */
function idpEntry(issuer = idp.issuer): Record<string, unknown> {
  return { issuer, client_id: 'app', jwks_uri: `${issuer}/jwks`, algorithms: ['PS256'] };
}

/** Tenants as the tenants file gives them. */
function tenantsOf(tenants: Record<string, unknown>): TenantSettings[] {
  return [...parseConfig({ IPSIE_TENANTS_FILE: JSON.stringify({ tenants }) }, (text) => text).tenants];
}

/** Tenants as the tenants file gives them: `acme` with `idp` for client `app`, plus these IdP settings. */
function tenantsWith(settings: Record<string, unknown> = {}, issuer = idp.issuer): TenantSettings[] {
  return tenantsOf({ acme: { idps: [{ ...idpEntry(issuer), ...settings }] } });
}

function verifierWith(
  settings: Record<string, unknown> = {},
  options: Partial<TokenVerifierOptions> = {},
): TokenVerifier {
  return new TokenVerifier({ tenants: tenantsWith(settings), jwksMinIntervalMs: 0, ...options });
}

beforeAll(async () => {
  idp = await FakeIdp.start();
  tenants = tenantsWith();
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

  it('a cached bearer token is refused once issued longer ago than max_token_age_s, whatever its exp', async () => {
    let now = Math.floor(Date.now() / 1000);
    const verifier = new TokenVerifier({
      tenants: tenantsWith({ max_token_age_s: 3_600 }),
      clock: () => now,
      clockToleranceS: 60,
      jwksMaxAgeS: 60, // refetched meanwhile, finding the same keys: that must not keep the token either
      jwksMinIntervalMs: 0,
    });
    const token = await idp.idToken('sub-1', 'app', { exp: now + 86_400 }, { now });
    await verifier.verify('acme', token);
    now += 3_600 + 60; // the last second the fresh path accepts, with the tolerance
    expect((await verifier.verify('acme', token)).subject).toBe('sub-1');
    now += 1;
    await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
    await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
  });

  it('a cached bearer token is served until exp plus the tolerance, as the fresh path accepts it', async () => {
    let now = Math.floor(Date.now() / 1000);
    const verifier = new TokenVerifier({ tenants, clock: () => now, clockToleranceS: 30, jwksMaxAgeS: 3_600 });
    const token = await idp.idToken('sub-1', 'app', { exp: now + 60 }, { now });
    await verifier.verify('acme', token);
    now += 60 + 29;
    expect((await verifier.verify('acme', token)).subject).toBe('sub-1');
    now += 1;
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
    const token = await idp.idToken('sub-1', 'app', { nonce: 'n-1' });
    await verifier.verify('acme', token); // cached as a bearer token
    await verifier.verify('acme', token, { kind: 'sign-in', nonce: 'n-1' });
    await expect(verifier.verify('acme', token, { kind: 'sign-in', nonce: 'n-1' })).rejects.toMatchObject({
      code: 'ERR_TOKEN_REPLAYED',
    });
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

describe('token types (RFC 8725 §3.11 explicit typing)', () => {
  it.each([
    ['an OIDC back-channel logout token', 'logout+jwt'],
    ['a Security Event Token', 'secevent+jwt'],
    ['an RFC 9068 access token (no access_tokens setting)', 'at+jwt'],
    ['an access token, typed with its full media type', 'application/AT+JWT'],
    ['an OP command token', 'command+jwt'],
    ['a transaction token (draft-ietf-oauth-transaction-tokens)', 'txntoken+jwt'],
  ])('%s is never accepted as an ID token', async (_name, typ) => {
    const verifier = verifierWith();
    const token = await idp.idToken('sub-1', 'app', {}, { typ });
    await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_TYPE_INVALID' });
  });

  it('an untyped logout token or SET (it has "events") is not an ID token either', async () => {
    const verifier = verifierWith();
    const logout = await idp.idToken(
      'sub-1',
      'app',
      { events: { 'http://schemas.openid.net/event/backchannel-logout': {} } },
      { typ: null },
    );
    await expect(verifier.verify('acme', logout)).rejects.toMatchObject({ code: 'ERR_TOKEN_TYPE_INVALID' });
  });

  it('an ID token is untyped, JWT or application/jwt', async () => {
    const verifier = verifierWith();
    for (const typ of [null, 'JWT', 'application/jwt']) {
      const verified = await verifier.verify('acme', await idp.idToken('sub-1', 'app', {}, { typ }));
      expect(verified.type).toBe('id_token');
    }
  });

  describe('where the IdP accepts RFC 9068 access tokens for its API', () => {
    const accessToken = async (claims: Record<string, unknown> = {}): Promise<string> =>
      await idp.idToken('sub-1', API, { client_id: 'app', nonce: undefined, ...claims }, { typ: 'at+jwt' });

    it('an at+jwt token for the API is accepted at Check', async () => {
      const verifier = verifierWith({ access_tokens: { audience: API } });
      expect((await verifier.verify('acme', await accessToken())).type).toBe('access_token');
      expect((await verifier.verify('acme', await accessToken({ aud: [API, 'other'] }))).type).toBe('access_token');
    });

    it('an access token for our client id, or without client_id or jti, is refused', async () => {
      const verifier = verifierWith({ access_tokens: { audience: API } });
      await expect(verifier.verify('acme', await accessToken({ aud: 'app' }))).rejects.toMatchObject({
        code: 'ERR_TOKEN_AUDIENCE_INVALID',
      });
      await expect(verifier.verify('acme', await accessToken({ client_id: undefined }))).rejects.toMatchObject({
        code: 'ERR_TOKEN_CLAIM_INVALID',
      });
      await expect(verifier.verify('acme', await accessToken({ jti: undefined }))).rejects.toMatchObject({
        code: 'ERR_TOKEN_CLAIM_INVALID',
      });
    });

    it("an access token issued to a client that is not this tenant's is refused (client_id)", async () => {
      // One IdP, one API: acme's app and globex's app both get tokens for it.
      const globex = new TokenVerifier({
        tenants: tenantsOf({
          globex: { idps: [{ ...idpEntry(), client_id: 'globex-app', access_tokens: { audience: API } }] },
        }),
        jwksMinIntervalMs: 0,
      });
      const forAcmesApp = await accessToken({ client_id: 'app' });
      await expect(globex.verify('globex', forAcmesApp)).rejects.toMatchObject({ code: 'ERR_TOKEN_AUDIENCE_INVALID' });
      for (const clientId of [['globex-app'], 42, '']) {
        await expect(globex.verify('globex', await accessToken({ client_id: clientId }))).rejects.toMatchObject({
          code: 'ERR_TOKEN_AUDIENCE_INVALID',
        });
      }
      expect((await globex.verify('globex', await accessToken({ client_id: 'globex-app' }))).type).toBe('access_token');
    });

    it('access_tokens.client_ids lists the clients whose access tokens are accepted, instead of client_id', async () => {
      const verifier = verifierWith({ access_tokens: { audience: API, client_ids: ['mobile-app', 'cli'] } });
      for (const clientId of ['mobile-app', 'cli']) {
        expect((await verifier.verify('acme', await accessToken({ client_id: clientId }))).type).toBe('access_token');
      }
      await expect(verifier.verify('acme', await accessToken({ client_id: 'app' }))).rejects.toMatchObject({
        code: 'ERR_TOKEN_AUDIENCE_INVALID',
      });
    });

    it('an ID token for the API is not an access token', async () => {
      const verifier = verifierWith({ access_tokens: { audience: API } });
      const idToken = await idp.idToken('sub-1', API);
      await expect(verifier.verify('acme', idToken)).rejects.toMatchObject({ code: 'ERR_TOKEN_AUDIENCE_INVALID' });
    });

    it('an access token never signs in', async () => {
      const verifier = verifierWith({ access_tokens: { audience: API } });
      const token = await accessToken({ nonce: 'n-1' });
      await expect(verifier.verify('acme', token, { kind: 'sign-in', nonce: 'n-1' })).rejects.toMatchObject({
        code: 'ERR_TOKEN_TYPE_INVALID',
      });
    });
  });
});

describe('sign-in nonce (OIDC Core §3.1.3.7)', () => {
  const signIn = (nonce: string | undefined) => ({ kind: 'sign-in', nonce }) as const;

  it('a token carrying a nonce is refused when the request has none', async () => {
    const verifier = verifierWith({ require_nonce: false });
    const token = await idp.idToken('sub-1', 'app', { nonce: 'someone-elses' });
    await expect(verifier.verify('acme', token, signIn(undefined))).rejects.toMatchObject({
      code: 'ERR_TOKEN_NONCE_MISMATCH',
    });
  });

  it('by default every sign-in needs a nonce; require_nonce: false lets a sign-in without one through', async () => {
    const token = await idp.idToken('sub-1', 'app');
    await expect(verifierWith().verify('acme', token, signIn(undefined))).rejects.toMatchObject({
      code: 'ERR_TOKEN_NONCE_MISMATCH',
    });
    const relaxed = await verifierWith({ require_nonce: false }).verify('acme', token, signIn(undefined));
    expect(relaxed.subject).toBe('sub-1');
  });

  it('a nonce sent must come back, exactly and as a string', async () => {
    const verifier = verifierWith({ require_nonce: false });
    for (const nonce of [undefined, 'other', ['n-1'], 1]) {
      const token = await idp.idToken('sub-1', 'app', { nonce });
      await expect(verifier.verify('acme', token, signIn('n-1'))).rejects.toMatchObject({
        code: 'ERR_TOKEN_NONCE_MISMATCH',
      });
    }
  });
});

describe('claims', () => {
  it('azp naming another party is refused; azp equal to our client id is accepted', async () => {
    const verifier = verifierWith();
    await expect(verifier.verify('acme', await idp.idToken('sub-1', 'app', { azp: 'other' }))).rejects.toMatchObject({
      code: 'ERR_TOKEN_AUDIENCE_INVALID',
    });
    expect((await verifier.verify('acme', await idp.idToken('sub-1', 'app', { azp: 'app' }))).subject).toBe('sub-1');
  });

  it('a token issued longer ago than max_token_age_s is refused, whatever its exp', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = await idp.idToken('sub-1', 'app', { iat: now - 3 * 86_400, exp: now + 600 }, { now });
    await expect(verifierWith().verify('acme', old)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
    const hourOld = await idp.idToken('sub-1', 'app', { iat: now - 3_700, exp: now + 600 }, { now });
    await expect(verifierWith({ max_token_age_s: 3_600 }).verify('acme', hourOld)).rejects.toMatchObject({
      code: 'ERR_TOKEN_EXPIRED',
    });
    expect((await verifierWith().verify('acme', hourOld)).subject).toBe('sub-1');
  });

  it('auth_time in the future beyond the clock tolerance (or not a number) is refused', async () => {
    const now = Math.floor(Date.now() / 1000);
    const verifier = verifierWith({}, { clockToleranceS: 60, clock: () => now });
    for (const authTime of [now + 3_600, String(now)]) {
      const token = await idp.idToken('sub-1', 'app', { auth_time: authTime }, { now });
      await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_CLAIM_INVALID' });
    }
    const skewed = await idp.idToken('sub-1', 'app', { auth_time: now + 30 }, { now });
    expect((await verifier.verify('acme', skewed)).subject).toBe('sub-1');
  });

  it('a token without iat is TOKEN_CLAIM_INVALID, not "not yet valid"', async () => {
    const token = await idp.idToken('sub-1', 'app', { iat: undefined });
    await expect(verifierWith().verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_CLAIM_INVALID' });
  });

  it('a sub that is not a non-empty string names no identity', async () => {
    for (const sub of ['', 42, ['sub-1']]) {
      const token = await idp.idToken('sub-1', 'app', { sub });
      await expect(verifierWith().verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_CLAIM_INVALID' });
    }
  });

  it('a session_expiry or session_lifetime that is not a time is refused', async () => {
    for (const claims of [{ session_expiry: 'tomorrow' }, { session_lifetime: { s: 1 } }]) {
      const token = await idp.idToken('sub-1', 'app', claims);
      await expect(verifierWith().verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_CLAIM_INVALID' });
    }
  });

  it("an unknown critical header is the token's fault, not the IdP's (no key fetch either)", async () => {
    const verifier = verifierWith();
    const fetches = idp.jwksFetches;
    const token = await idp.idToken(
      'sub-1',
      'app',
      {},
      { header: { crit: ['urn:example:must'], 'urn:example:must': 1 } },
    );
    await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_MALFORMED' });
    expect(idp.jwksFetches).toBe(fetches);
  });

  it("a multi-tenant IdP's token for another customer is refused by the tenant claim", async () => {
    const verifier = verifierWith({ tenant_claim: { claim: 'org_id', value: 'org_acme' } });
    for (const org of [undefined, 'org_globex', ['org_acme']]) {
      const token = await idp.idToken('sub-1', 'app', { org_id: org });
      await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_AUDIENCE_INVALID' });
    }
    expect((await verifier.verify('acme', await idp.idToken('sub-1', 'app', { org_id: 'org_acme' }))).subject).toBe(
      'sub-1',
    );
  });
});

describe('the IdP key set', () => {
  it('a key the IdP stopped publishing stops verifying once the key set is older than jwksMaxAgeS', async () => {
    const own = await FakeIdp.start();
    try {
      let now = Math.floor(Date.now() / 1000);
      const verifier = new TokenVerifier({
        tenants: tenantsWith({}, own.issuer),
        clock: () => now,
        jwksMaxAgeS: 60,
        jwksMinIntervalMs: 0,
      });
      await verifier.verify('acme', await own.idToken('sub-1', 'app', {}, { now }));
      const removed = own.publicJwk().kid ?? '';
      await own.addKey('PS256');
      own.retire(removed);
      now += 61;
      const signedByRemoved = await own.idToken('sub-1', 'app', {}, { now, kid: removed });
      await expect(verifier.verify('acme', signedByRemoved)).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
    } finally {
      await own.stop();
    }
  });

  it('a cached bearer token signed by a removed key is dropped when the key set is refetched', async () => {
    const own = await FakeIdp.start();
    try {
      let now = Math.floor(Date.now() / 1000);
      const verifier = new TokenVerifier({
        tenants: tenantsWith({}, own.issuer),
        clock: () => now,
        jwksMaxAgeS: 60,
        jwksMinIntervalMs: 0,
      });
      const token = await own.idToken('sub-1', 'app', { exp: now + 3_600 }, { now });
      await verifier.verify('acme', token);
      await verifier.verify('acme', token); // served from the cache
      own.retire(own.publicJwk().kid ?? '');
      now += 61;
      await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
      await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
    } finally {
      await own.stop();
    }
  });

  it('a cached token whose key is still published survives the refetch', async () => {
    let now = Math.floor(Date.now() / 1000);
    const verifier = new TokenVerifier({ tenants, clock: () => now, jwksMaxAgeS: 60, jwksMinIntervalMs: 0 });
    const token = await idp.idToken('sub-1', 'app', { exp: now + 3_600 }, { now });
    await verifier.verify('acme', token);
    now += 61;
    expect((await verifier.verify('acme', token)).subject).toBe('sub-1');
  });

  it('the first token signed with a new key right after a fetch verifies: the cool-down is per kid', async () => {
    const own = await FakeIdp.start();
    try {
      // The default 30 s cool-down, and a fetch a moment ago.
      const verifier = new TokenVerifier({ tenants: tenantsWith({}, own.issuer), jwksMinIntervalMs: 10 });
      await verifier.verify('acme', await own.idToken('sub-1', 'app'));
      const rotated = await own.addKey('PS256');
      const verified = await verifier.verify('acme', await own.idToken('sub-1', 'app', {}, { kid: rotated }));
      expect(verified.subject).toBe('sub-1');
    } finally {
      await own.stop();
    }
  });

  it('made-up kids share one fetch per interval, and a kid still missing is not fetched for again', async () => {
    const own = await FakeIdp.start();
    try {
      const verifier = new TokenVerifier({ tenants: tenantsWith({}, own.issuer), jwksMinIntervalMs: 200 });
      await verifier.verify('acme', await own.idToken('sub-1', 'app'));
      const before = own.jwksFetches;
      const forged = await Promise.all(
        Array.from({ length: 50 }, async () => await own.idToken('sub-1', 'app', {}, { kidHeader: randomUUID() })),
      );
      const results = await Promise.allSettled(forged.map(async (t) => await verifier.verify('acme', t)));
      expect(results.every((r) => r.status === 'rejected')).toBe(true);
      expect(own.jwksFetches - before).toBe(1);
      await expect(verifier.verify('acme', forged[0] ?? '')).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
      expect(own.jwksFetches - before).toBe(1);
    } finally {
      await own.stop();
    }
  });

  it('an oversized key set, or one that cannot be fetched once the old one aged out, fails closed', async () => {
    const own = await FakeIdp.start();
    try {
      let now = Math.floor(Date.now() / 1000);
      const verifier = new TokenVerifier({
        tenants: tenantsWith({}, own.issuer),
        clock: () => now,
        jwksMaxAgeS: 60,
        jwksMinIntervalMs: 0,
      });
      own.jwksFault = 'oversized';
      await expect(verifier.verify('acme', await own.idToken('sub-1', 'app', {}, { now }))).rejects.toMatchObject({
        code: 'ERR_TOKEN_IDP_UNAVAILABLE',
      });
      own.jwksFault = undefined;
      const token = await own.idToken('sub-1', 'app', { exp: now + 3_600 }, { now });
      await verifier.verify('acme', token);
      own.jwksFault = 'fail';
      now += 61;
      await expect(verifier.verify('acme', token)).rejects.toMatchObject({ code: 'ERR_TOKEN_IDP_UNAVAILABLE' });
    } finally {
      await own.stop();
    }
  });
});

describe('hostile sizes: bounded before any key lookup', () => {
  it('a token over 16 KiB is TOKEN_MALFORMED without a key-set fetch; one under it verifies', async () => {
    const own = await FakeIdp.start();
    try {
      const verifier = new TokenVerifier({ tenants: tenantsWith({}, own.issuer), jwksMinIntervalMs: 0 });
      const over = await own.idToken('sub-1', 'app', { padding: 'x'.repeat(16 * 1024) });
      expect(over.length).toBeGreaterThan(16 * 1024);
      await expect(verifier.verify('acme', over)).rejects.toMatchObject({ code: 'ERR_TOKEN_MALFORMED' });
      await expect(verifier.verify('acme', 'a'.repeat(1024 * 1024))).rejects.toMatchObject({
        code: 'ERR_TOKEN_MALFORMED',
      });
      expect(own.jwksFetches).toBe(0);
      const under = await own.idToken('sub-1', 'app', { padding: 'x'.repeat(11 * 1024) });
      expect(under.length).toBeLessThanOrEqual(16 * 1024);
      expect((await verifier.verify('acme', under)).subject).toBe('sub-1');
    } finally {
      await own.stop();
    }
  });

  it('kids over 256 characters are TOKEN_MALFORMED without a key-set fetch, however many arrive at once', async () => {
    const own = await FakeIdp.start();
    try {
      const verifier = new TokenVerifier({ tenants: tenantsWith({}, own.issuer), jwksMinIntervalMs: 0 });
      const forged = await Promise.all(
        Array.from(
          { length: 200 },
          async (_, i) => await own.idToken('sub-1', 'app', {}, { kidHeader: `${i}-`.padEnd(257, 'k') }),
        ),
      );
      const results = await Promise.allSettled(forged.map(async (t) => await verifier.verify('acme', t)));
      expect(results.map((r) => (r.status === 'rejected' ? (r.reason as { code?: string }).code : 'accepted'))).toEqual(
        forged.map(() => 'ERR_TOKEN_MALFORMED'),
      );
      expect(own.jwksFetches).toBe(0);
      const kid = await own.addKey('PS256');
      // A kid at the bound is looked up as any other.
      await expect(
        verifier.verify('acme', await own.idToken('sub-1', 'app', {}, { kidHeader: 'k'.repeat(256) })),
      ).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
      expect((await verifier.verify('acme', await own.idToken('sub-1', 'app', {}, { kid }))).subject).toBe('sub-1');
    } finally {
      await own.stop();
    }
  });

  it('a kid that is not a string is TOKEN_MALFORMED', async () => {
    const verifier = verifierWith();
    const [header = '', payload = '', signature = ''] = (await idp.idToken('sub-1', 'app')).split('.');
    const decoded = JSON.parse(Buffer.from(header, 'base64url').toString()) as Record<string, unknown>;
    for (const kid of [42, ['k'], { k: 1 }]) {
      const forged = Buffer.from(JSON.stringify({ ...decoded, kid })).toString('base64url');
      await expect(verifier.verify('acme', `${forged}.${payload}.${signature}`)).rejects.toMatchObject({
        code: 'ERR_TOKEN_MALFORMED',
      });
    }
  });
});
