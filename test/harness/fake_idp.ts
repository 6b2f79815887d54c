import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { JWK, JWTPayload } from 'jose';
import { TestKeySet } from './signing_keys.js';
import type { SigningAlgorithm, SignOptions } from './signing_keys.js';

/**
 * An OpenID Provider for tests: real keys, real signatures, discovery and
 * JWKS served on loopback. Keys rotate; what it publishes is what it says.
 */
export class FakeIdp {
  readonly #server: Server;
  readonly issuer: string;
  readonly keys = new TestKeySet();
  /** Discovery answers with this issuer (tests the issuer-must-match rule). */
  discoveryIssuer: string;
  /** JWKS requests served so far. */
  jwksFetches = 0;
  /** How the JWKS endpoint misbehaves: `fail` answers 500, `oversized` pads the document past any sane size. */
  jwksFault: 'fail' | 'oversized' | undefined;
  /** `Cache-Control` of the JWKS and of the discovery metadata; none when undefined. */
  cacheControl: { jwks?: string | undefined; discovery?: string | undefined } = {};
  /** The path of `jwks_uri` in the discovery metadata (every `/jwks…` path serves the keys). @defaultValue /jwks */
  jwksPath = '/jwks';

  private constructor(server: Server, issuer: string) {
    this.#server = server;
    this.issuer = issuer;
    this.discoveryIssuer = issuer;
  }

  static async start(): Promise<FakeIdp> {
    // The handler needs the instance, which needs the server's port: fill it in after listen.
    const self: { idp?: FakeIdp } = {};
    const server = createServer((request, response) => {
      const { idp } = self;
      response.setHeader('content-type', 'application/json');
      if (idp === undefined) {
        response.end('{}');
        return;
      }
      if (request.url === '/.well-known/openid-configuration') {
        if (idp.cacheControl.discovery !== undefined) response.setHeader('cache-control', idp.cacheControl.discovery);
        response.end(
          JSON.stringify({
            issuer: idp.discoveryIssuer,
            jwks_uri: `${idp.issuer}${idp.jwksPath}`,
            authorization_endpoint: `${idp.issuer}/authorize`,
            token_endpoint: `${idp.issuer}/token`,
            id_token_signing_alg_values_supported: ['PS256', 'ES256', 'EdDSA'],
          }),
        );
      } else if (request.url?.startsWith('/jwks') === true) {
        idp.jwksFetches++;
        if (idp.cacheControl.jwks !== undefined) response.setHeader('cache-control', idp.cacheControl.jwks);
        if (idp.jwksFault === 'fail') {
          response.statusCode = 500;
          response.end('{}');
        } else if (idp.jwksFault === 'oversized') {
          response.end(JSON.stringify({ ...idp.keys.jwks(), padding: 'x'.repeat(8 * 1024 * 1024) }));
        } else {
          response.end(JSON.stringify(idp.keys.jwks()));
        }
      } else {
        response.statusCode = 404;
        response.end('{}');
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const idp = new FakeIdp(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    self.idp = idp;
    await idp.addKey('PS256');
    return idp;
  }

  get jwksUri(): string {
    return `${this.issuer}/jwks`;
  }

  /** Creates a key, publishes it in the JWKS (unless `publish` is false), and returns its kid. */
  async addKey(alg: SigningAlgorithm, publish = true): Promise<string> {
    return await this.keys.addKey(alg, publish);
  }

  publish(kid: string): void {
    this.keys.publish(kid);
  }

  retire(kid: string): void {
    this.keys.retire(kid);
  }

  publicJwk(kid?: string): JWK {
    return this.keys.publicJwk(kid);
  }

  async sign(claims: JWTPayload, options: SignOptions = {}): Promise<string> {
    return await this.keys.sign(claims, options);
  }

  /**
   * An OpenID Connect Back-Channel Logout 1.0 logout token for `audience`
   * (typ `logout+jwt`, the logout event, `exp` 2 minutes after `iat`, as
   * OPs issue them); `claims` override or add (`undefined` removes one).
   */
  async logoutToken(
    audience: string,
    claims: Record<string, unknown>,
    options: { kid?: string | undefined; typ?: string | null; now?: number } = {},
  ): Promise<string> {
    const now = options.now ?? Math.floor(Date.now() / 1000);
    return await this.sign(
      {
        iss: this.issuer,
        aud: audience,
        iat: now,
        exp: now + 120,
        jti: randomUUID(),
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        ...claims,
      },
      { kid: options.kid, typ: options.typ === undefined ? 'logout+jwt' : options.typ },
    );
  }

  /** A standard ID token for `sub`, valid now; `claims` override, add or (as undefined) leave out. */
  async idToken(
    sub: string,
    audience: string,
    claims: Readonly<Record<string, unknown>> = {},
    options: SignOptions & { now?: number } = {},
  ): Promise<string> {
    const now = options.now ?? Math.floor(Date.now() / 1000);
    return await this.sign(
      {
        iss: this.issuer,
        sub,
        aud: audience,
        iat: now,
        exp: now + 600,
        auth_time: now - 30,
        acr: 'phr',
        amr: ['hwk', 'mfa'],
        jti: randomUUID(),
        sid: `sid-${randomUUID().slice(0, 8)}`,
        session_expiry: now + 3600,
        ...claims,
      },
      options,
    );
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.#server.close(resolve));
  }
}

/** An unsigned JWT (`alg: none`), as an attacker would send it. */
export function unsignedToken(claims: JWTPayload): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.`;
}

/** The classic key-confusion forgery: HS256 keyed with the IdP's public key. */
export async function hmacWithPublicKey(claims: JWTPayload, publicJwk: JWK): Promise<string> {
  const secret = new TextEncoder().encode(JSON.stringify(publicJwk));
  return await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: publicJwk.kid ?? '' }).sign(secret);
}
