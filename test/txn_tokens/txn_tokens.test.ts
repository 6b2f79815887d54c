/**
 * Transaction tokens against a real JetStream KV bucket: the keys several sidecars share (created once,
 * rotated by compare-and-set, old keys kept until their tokens expire), and the verifier's refusals.
 */
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, KvRegister } from '../../src/stream/index.js';
import type { NatsConnection } from '../../src/stream/index.js';
import {
  maintained,
  readPublicJwks,
  TXN_KEYS_BUCKET_OPTIONS,
  TxnKeyRing,
  TxnTokenService,
  withinScope,
} from '../../src/txn_tokens/index.js';
import type { TxnGrant } from '../../src/txn_tokens/index.js';
import { NatsServer } from '../harness/nats_server.js';
import { FakeIdp } from '../harness/fake_idp.js';
import { pino } from 'pino';

const ROTATION_S = 3_600;
const LIFETIME_S = 300;
const TOLERANCE_S = 5;
const T0 = 1_900_000_000;

let nats: NatsServer;
let nc: NatsConnection;
let register: KvRegister;
let tenantSeq = 0;

beforeAll(async () => {
  nats = await NatsServer.start();
  nc = await connectNats({ servers: [nats.url], name: 'txn-test' }, pino({ level: 'silent' }));
  register = await KvRegister.open(nc, TXN_KEYS_BUCKET_OPTIONS(1));
});

afterAll(async () => {
  await nc.close();
  await nats.dispose();
});

/** A fresh tenant per test: the bucket is shared by the file. */
const freshTenant = (): string => `t${++tenantSeq}`;

/** A sidecar's view: its own ring and service over the shared bucket, at the clock `now()` gives. */
function sidecar(now: () => number, store = register): TxnTokenService {
  const keys = new TxnKeyRing({
    store,
    rotationS: ROTATION_S,
    retainS: LIFETIME_S + TOLERANCE_S,
    clock: now,
    minRereadMs: 0,
  });
  return new TxnTokenService({
    keys,
    trustDomain: 'urn:test:txn',
    lifetimeS: LIFETIME_S,
    clockToleranceS: TOLERANCE_S,
    clock: now,
  });
}

function grant(tenantId: string, extra: Partial<TxnGrant> = {}): TxnGrant {
  return {
    tenantId,
    userId: 'u-bob',
    sessionId: 's-1',
    idp: { iss: 'https://idp.example', sub: 'sub-bob' },
    scope: { action: 'write', resource: { type: 'repository', id: 'r1' } },
    decisionId: 'd-1',
    policyVersion: 'sha256:abc',
    purpose: 'deploy',
    requestIp: '10.0.0.1',
    ...extra,
  };
}

describe('the shared keys', () => {
  it('two sidecars minting at once for a new tenant create one key set, and each verifies the other', async () => {
    const tenant = freshTenant();
    const a = sidecar(() => T0);
    const b = sidecar(() => T0);
    const [ta, tb] = await Promise.all([a.mint(grant(tenant)), b.mint(grant(tenant))]);
    expect(decodeProtectedHeader(ta).kid).toBe(decodeProtectedHeader(tb).kid);
    expect((await b.verify(tenant, ta)).userId).toBe('u-bob');
    expect((await a.verify(tenant, tb)).sessionId).toBe('s-1');
    // The key signing now and its successor, published ahead.
    expect((await readPublicJwks(register, tenant)).keys).toHaveLength(2);
  });

  it('the JWKS carries public halves only', async () => {
    const tenant = freshTenant();
    await sidecar(() => T0).mint(grant(tenant));
    const { keys } = await readPublicJwks(register, tenant);
    for (const key of keys) {
      expect(key).not.toHaveProperty('d');
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    }
    expect((await readPublicJwks(register, freshTenant())).keys).toEqual([]);
  });

  it('after a rotation new tokens are signed by the successor, and a token of the old key verifies until it expires', async () => {
    const tenant = freshTenant();
    let now = T0;
    const a = sidecar(() => now);
    const b = sidecar(() => now);
    const old = await a.mint(grant(tenant));
    const oldKid = decodeProtectedHeader(old).kid;
    const published = (await readPublicJwks(register, tenant)).keys.map((k) => k.kid);
    // The old key's window ends just as the token was minted: it signed in its last second.
    now = T0 + ROTATION_S - 1;
    const last = await a.mint(grant(tenant));
    expect(decodeProtectedHeader(last).kid).toBe(oldKid);
    now = T0 + ROTATION_S + 10;
    const fresh = await b.mint(grant(tenant));
    const newKid = decodeProtectedHeader(fresh).kid;
    expect(newKid).not.toBe(oldKid);
    // The successor was published a rotation ahead of its first use.
    expect(published).toContain(newKid);
    // Rotation added the next successor; the old key stays for its tokens.
    const afterRotation = (await readPublicJwks(register, tenant)).keys.map((k) => k.kid);
    expect(afterRotation).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect(afterRotation).toHaveLength(3);
    expect((await a.verify(tenant, last)).scope.action).toBe('write');
    expect((await a.verify(tenant, fresh)).userId).toBe('u-bob');
    // Past the old token's expiry (and tolerance), the next maintenance drops its key.
    now = T0 + ROTATION_S - 1 + LIFETIME_S + TOLERANCE_S + 1;
    await expect(a.verify(tenant, last)).rejects.toMatchObject({ code: 'ERR_TOKEN_EXPIRED' });
    await b.mint(grant(tenant));
    const kept = (await readPublicJwks(register, tenant)).keys.map((k) => k.kid);
    expect(kept).not.toContain(oldKid);
    expect(kept).toContain(newKid);
  });

  it('keys left unrotated past their window (the cluster was off) are replaced at the next mint', async () => {
    const tenant = freshTenant();
    let now = T0;
    const a = sidecar(() => now);
    const first = decodeProtectedHeader(await a.mint(grant(tenant))).kid;
    now = T0 + 10 * ROTATION_S;
    const later = decodeProtectedHeader(await a.mint(grant(tenant))).kid;
    expect(later).not.toBe(first);
    expect((await readPublicJwks(register, tenant)).keys.map((k) => k.kid)).not.toContain(first);
  });

  it('maintenance is a no-op when a key signs now and its successor exists', () => {
    const keys = {
      v: 1 as const,
      keys: [
        { kid: 'a', alg: 'ES256', jwk: { kty: 'EC' }, sign_from: T0, sign_until: T0 + 100, retain_s: 10 },
        { kid: 'b', alg: 'ES256', jwk: { kty: 'EC' }, sign_from: T0 + 100, sign_until: T0 + 200, retain_s: 10 },
      ],
    };
    expect(maintained(keys, T0 + 50, 100, 10)).toBeUndefined();
    expect(maintained(keys, T0 + 105, 100, 10)?.keys.map((k) => k.kid)).toEqual(['a', 'b', '']);
    expect(maintained(keys, T0 + 150, 100, 60)?.keys.map((k) => k.kid)).toEqual(['a', 'b', '']);
    expect(maintained(keys, T0 + 111, 100, 10)?.keys.map((k) => k.kid)).toEqual(['b', '']);
    // A sidecar whose tokens live longer keeps the key it signs with longer, before signing.
    expect(maintained(keys, T0 + 50, 100, 30)?.keys[0]).toMatchObject({ kid: 'a', retain_s: 30 });
  });

  it('a sidecar with a shorter token lifetime never drops a key the longer-lived tokens of another still need', async () => {
    const tenant = freshTenant();
    let now = T0;
    const long = sidecar(() => now);
    const short = new TxnKeyRing({ store: register, rotationS: ROTATION_S, retainS: 1, clock: () => now });
    const token = await long.mint(grant(tenant));
    const kid = decodeProtectedHeader(token).kid ?? '';
    // Past the first key's window and the short sidecar's retention, within the long one's tokens' life.
    now = T0 + ROTATION_S + 2;
    await short.signingKey(tenant);
    expect((await readPublicJwks(register, tenant)).keys.map((k) => k.kid)).toContain(kid);
  });
});

describe('a minted token', () => {
  it('is a txntoken+jwt naming the tenant trust domain, user, session, IdP binding, decision and scope', async () => {
    const tenant = freshTenant();
    const token = await sidecar(() => T0).mint(grant(tenant));
    expect(decodeProtectedHeader(token)).toMatchObject({ typ: 'txntoken+jwt', alg: 'ES256' });
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: 'urn:test:txn',
      aud: `urn:test:txn:${tenant}`,
      sub: 'u-bob',
      iat: T0,
      exp: T0 + LIFETIME_S,
      scope: 'write:repository:r1',
      tctx: {
        tenant,
        action: 'write',
        resource: { type: 'repository', id: 'r1' },
        decision_id: 'd-1',
        sid: 's-1',
        idp: { iss: 'https://idp.example', sub: 'sub-bob' },
        purpose: 'deploy',
      },
      rctx: { req_ip: '10.0.0.1' },
    });
    expect(typeof claims['txn']).toBe('string');
  });

  it('is within scope only for its own action, resource type and resource id', () => {
    const scope = { action: 'write', resource: { type: 'repository', id: 'r1' } };
    expect(withinScope(scope, 'write', { type: 'repository', id: 'r1' })).toBe(true);
    expect(withinScope(scope, 'delete', { type: 'repository', id: 'r1' })).toBe(false);
    expect(withinScope(scope, 'write', { type: 'repository', id: 'r2' })).toBe(false);
    expect(withinScope(scope, 'write', { type: 'repository', id: '' })).toBe(false);
    expect(withinScope(scope, 'write', { type: 'invoice', id: 'r1' })).toBe(false);
  });
});

describe('verification refuses', () => {
  const now = (): number => T0;

  it('a token whose payload was altered after signing', async () => {
    const tenant = freshTenant();
    const token = await sidecar(now).mint(grant(tenant));
    const [h, p, s] = token.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const widened = Buffer.from(
      JSON.stringify({ ...payload, tctx: { ...(payload['tctx'] as object), action: 'delete' } }),
    );
    await expect(sidecar(now).verify(tenant, `${h}.${widened.toString('base64url')}.${s}`)).rejects.toMatchObject({
      code: 'ERR_TOKEN_SIGNATURE_INVALID',
    });
    const flipped = `${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`;
    await expect(sidecar(now).verify(tenant, flipped)).rejects.toMatchObject({ code: 'ERR_TOKEN_SIGNATURE_INVALID' });
  });

  it('another tenant’s token', async () => {
    const mine = freshTenant();
    const theirs = freshTenant();
    await sidecar(now).mint(grant(mine));
    const token = await sidecar(now).mint(grant(theirs));
    await expect(sidecar(now).verify(mine, token)).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
  });

  it('an expired token, beyond the tolerance only', async () => {
    const tenant = freshTenant();
    const token = await sidecar(now).mint(grant(tenant));
    await expect(sidecar(() => T0 + LIFETIME_S + TOLERANCE_S - 1).verify(tenant, token)).resolves.toBeDefined();
    await expect(sidecar(() => T0 + LIFETIME_S + TOLERANCE_S).verify(tenant, token)).rejects.toMatchObject({
      code: 'ERR_TOKEN_EXPIRED',
    });
  });

  it('an ID token, access token, logout token or SET from an IdP, and any unsigned or HMAC token', async () => {
    const tenant = freshTenant();
    await sidecar(now).mint(grant(tenant));
    const idp = await FakeIdp.start();
    try {
      await idp.addKey('ES256');
      const idToken = await idp.idToken('sub-bob', 'app', {}, { now: T0 });
      for (const typ of [undefined, 'JWT', 'at+jwt', 'logout+jwt', 'secevent+jwt']) {
        const { privateKey } = await generateKeyPair('ES256');
        const forged = await new SignJWT({ txn: 'x', tctx: {} })
          .setProtectedHeader({ alg: 'ES256', ...(typ === undefined ? {} : { typ }), kid: 'k' })
          .setSubject('u-bob')
          .setIssuedAt(T0)
          .setExpirationTime(T0 + 60)
          .sign(privateKey);
        await expect(sidecar(now).verify(tenant, forged)).rejects.toMatchObject({ code: 'ERR_TOKEN_TYPE_INVALID' });
      }
      await expect(sidecar(now).verify(tenant, idToken)).rejects.toMatchObject({ code: 'ERR_TOKEN_TYPE_INVALID' });
      const hmac = await new SignJWT({ txn: 'x' })
        .setProtectedHeader({ alg: 'HS256', typ: 'txntoken+jwt', kid: 'k' })
        .sign(new Uint8Array(32));
      await expect(sidecar(now).verify(tenant, hmac)).rejects.toMatchObject({ code: 'ERR_TOKEN_ALGORITHM_REFUSED' });
      await expect(sidecar(now).verify(tenant, 'not.a.jwt')).rejects.toMatchObject({ code: 'ERR_TOKEN_MALFORMED' });
    } finally {
      await idp.stop();
    }
  });

  it('a flood of tokens with made-up kids costs at most one read of the bucket per interval, keys or none', async () => {
    const withKeys = freshTenant();
    const withoutKeys = freshTenant();
    await sidecar(now).mint(grant(withKeys));
    let reads = 0;
    const counting = {
      read: async (key: string) => {
        reads++;
        return await register.read(key);
      },
      create: async (key: string, value: string) => await register.create(key, value),
      replace: async (key: string, value: string, revision: number) => await register.replace(key, value, revision),
    };
    const verifier = new TxnTokenService({
      keys: new TxnKeyRing({
        store: counting,
        rotationS: ROTATION_S,
        retainS: LIFETIME_S,
        clock: now,
        minRereadMs: 300,
      }),
      trustDomain: 'urn:test:txn',
      lifetimeS: LIFETIME_S,
      clockToleranceS: TOLERANCE_S,
      clock: now,
    });
    const { privateKey } = await generateKeyPair('ES256');
    for (const tenant of [withKeys, withoutKeys]) {
      const before = reads;
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const forged = await new SignJWT({ txn: 'x' })
            .setProtectedHeader({ alg: 'ES256', typ: 'txntoken+jwt', kid: `made-up-${i}` })
            .sign(privateKey);
          await expect(verifier.verify(tenant, forged)).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
        }),
      );
      // The first made-up kid reads; those after it wait for one more read, 300 ms later, and share it.
      expect(reads - before).toBe(2);
    }
  });

  it('a key created just after the verifier last read the bucket is found at its next read, not refused', async () => {
    const tenant = freshTenant();
    const verifier = new TxnTokenService({
      keys: new TxnKeyRing({
        store: register,
        rotationS: ROTATION_S,
        retainS: LIFETIME_S,
        clock: now,
        minRereadMs: 300,
      }),
      trustDomain: 'urn:test:txn',
      lifetimeS: LIFETIME_S,
      clockToleranceS: TOLERANCE_S,
      clock: now,
    });
    const { privateKey } = await generateKeyPair('ES256');
    const madeUp = await new SignJWT({ txn: 'x' })
      .setProtectedHeader({ alg: 'ES256', typ: 'txntoken+jwt', kid: 'made-up' })
      .sign(privateKey);
    // The verifier reads the tenant (no keys yet); another sidecar creates them at once.
    await expect(verifier.verify(tenant, madeUp)).rejects.toMatchObject({ code: 'ERR_TOKEN_KEY_UNKNOWN' });
    const token = await sidecar(now).mint(grant(tenant));
    await expect(verifier.verify(tenant, token)).resolves.toMatchObject({ userId: 'u-bob' });
  });

  it('a token of our key that lives longer than our lifetime or names another tenant in tctx', async () => {
    const tenant = freshTenant();
    const service = sidecar(now);
    const token = await service.mint(grant(tenant));
    // Sign with the tenant's own private key, as a holder of the bucket could: the claims are still checked.
    const entry = await register.read(tenant);
    const stored = JSON.parse(entry?.value ?? '{}') as { keys: { kid: string; jwk: Record<string, unknown> }[] };
    const kid = decodeProtectedHeader(token).kid;
    const jwk = stored.keys.find((k) => k.kid === kid)?.jwk ?? {};
    const { importJWK } = await import('jose');
    const key = await importJWK(jwk, 'ES256');
    const base = decodeJwt(token);
    const sign = async (claims: Record<string, unknown>): Promise<string> =>
      await new SignJWT({ ...base, ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'txntoken+jwt', ...(kid === undefined ? {} : { kid }) })
        .sign(key);
    await expect(service.verify(tenant, await sign({ exp: T0 + 10 * LIFETIME_S }))).rejects.toMatchObject({
      code: 'ERR_TOKEN_CLAIM_INVALID',
    });
    await expect(
      service.verify(tenant, await sign({ tctx: { ...(base['tctx'] as object), tenant: 'other' } })),
    ).rejects.toMatchObject({ code: 'ERR_TOKEN_CLAIM_INVALID' });
    await expect(service.verify(tenant, await sign({ aud: 'urn:test:txn:other' }))).rejects.toMatchObject({
      code: 'ERR_TOKEN_AUDIENCE_INVALID',
    });
    await expect(service.verify(tenant, await sign({}))).resolves.toMatchObject({ userId: 'u-bob' });
  });
});
