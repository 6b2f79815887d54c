import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

/** The authentication context classes this OP knows, weakest first. */
export const PASSWORD_ACR = 'urn:acme:loa:pwd';
export const PHISHING_RESISTANT_ACR = 'phr';

export interface OpAccount {
  readonly sub: string;
  readonly email: string;
}

/**
 * A real OpenID Provider (panva `oidc-provider`, certified) on loopback, with
 * one confidential client and an interaction that "logs the user in": at the
 * strongest acr the authorization request makes essential, else with a
 * password. A user agent with a cookie jar drives it, as a browser would.
 */
export class TestOp {
  readonly issuer: string;
  readonly clientId = 'acme-app';
  readonly clientSecret = 'acme-app-secret';
  readonly redirectUri = 'http://127.0.0.1/callback';
  /** Each login the interaction performed: the acr it authenticated at. */
  readonly logins: string[] = [];
  readonly #server: Server;
  readonly #cookies = new Map<string, string>();

  private constructor(issuer: string, server: Server) {
    this.issuer = issuer;
    this.#server = server;
  }

  static async start(account: OpAccount): Promise<TestOp> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'op-1', alg: 'ES256', use: 'sig' };
    const op = new TestOp(issuer, server);
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: op.clientId,
          client_secret: op.clientSecret,
          redirect_uris: [op.redirectUri],
          response_types: ['code'],
          grant_types: ['authorization_code'],
          id_token_signed_response_alg: 'ES256',
        },
      ],
      jwks: { keys: [jwk] },
      acrValues: [PASSWORD_ACR, PHISHING_RESISTANT_ACR],
      claims: { openid: ['sub'], email: ['email', 'email_verified'] },
      // As Entra ID and Okta do: the scope's claims are in the ID token itself, not only at userinfo.
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false }, claimsParameter: { enabled: true } },
      pkce: { required: () => false },
      // Lifetimes of its own artifacts, so the OP does not warn about defaults.
      ttl: {
        Interaction: 600,
        Session: 3_600,
        Grant: 3_600,
        AccessToken: 600,
        IdToken: 600,
        AuthorizationCode: 60,
      },
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      findAccount: (_ctx, sub) =>
        sub === account.sub
          ? { accountId: sub, claims: () => ({ sub, email: account.email, email_verified: true }) }
          : undefined,
      // Consent is not what these tests are about: every client is granted what it asks.
      loadExistingGrant: async (ctx) => {
        const session = ctx.oidc.session;
        const client = ctx.oidc.client;
        if (session?.accountId === undefined || client === undefined) return undefined;
        const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
        grant.addOIDCScope('openid email');
        grant.addOIDCClaims(['acr', 'auth_time', 'email', 'email_verified']);
        await grant.save();
        return grant;
      },
    });
    provider.proxy = false;
    const callback = provider.callback();
    server.on('request', (request, response) => {
      const interaction = /^\/interaction\/([^/?]+)/.exec(request.url ?? '')?.[1];
      if (interaction === undefined) {
        void callback(request, response);
        return;
      }
      void (async () => {
        const details = await provider.interactionDetails(request, response);
        // The user logs in at the strongest acr the request makes essential (they have a security key).
        const requested = details.params['claims'];
        const claims = JSON.parse(typeof requested === 'string' ? requested : '{}') as {
          id_token?: { acr?: { essential?: boolean; values?: string[] } };
        };
        const acr =
          claims.id_token?.acr?.values?.includes(PHISHING_RESISTANT_ACR) === true
            ? PHISHING_RESISTANT_ACR
            : PASSWORD_ACR;
        op.logins.push(acr);
        await provider.interactionFinished(
          request,
          response,
          {
            login: {
              accountId: account.sub,
              acr,
              amr: acr === PASSWORD_ACR ? ['pwd'] : ['hwk'],
              ts: Math.floor(Date.now() / 1000),
            },
          },
          { mergeWithLastSubmission: false },
        );
      })().catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    });
    return op;
  }

  /**
   * One authorization-code flow as the app runs it: the authorization request with `params`, the browser
   * following redirects (and logging in when the OP asks), the code exchanged for the ID token.
   */
  async signIn(params: Readonly<Record<string, string>>): Promise<{ idToken: string; nonce: string }> {
    const nonce = randomUUID();
    const query = new URLSearchParams({
      client_id: this.clientId,
      response_type: 'code',
      scope: 'openid email',
      redirect_uri: this.redirectUri,
      state: randomUUID(),
      nonce,
      ...params,
    });
    let url = `${this.issuer}/auth?${query.toString()}`;
    for (let hops = 0; hops < 20; hops++) {
      if (url.startsWith(this.redirectUri)) {
        const callback = new URL(url);
        const code = callback.searchParams.get('code');
        if (code === null) throw new Error(`the OP answered ${callback.search}`);
        return { idToken: await this.#exchange(code), nonce };
      }
      const response = await fetch(url, { redirect: 'manual', headers: { cookie: this.#cookieHeader() } });
      this.#remember(response);
      const location = response.headers.get('location');
      if (location === null)
        throw new Error(`the OP stopped at ${url}: ${String(response.status)} ${await response.text()}`);
      url = new URL(location, url).toString();
    }
    throw new Error('too many redirects');
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) =>
      this.#server.close(() => {
        resolve();
      }),
    );
  }

  async #exchange(code: string): Promise<string> {
    const response = await fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${this.clientId}:${this.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: this.redirectUri }),
    });
    const body = (await response.json()) as { id_token?: string; error?: string };
    if (body.id_token === undefined) throw new Error(`token endpoint: ${body.error ?? String(response.status)}`);
    return body.id_token;
  }

  #remember(response: Response): void {
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const separator = pair?.indexOf('=') ?? -1;
      if (pair === undefined || separator < 0) continue;
      const name = pair.slice(0, separator);
      const value = pair.slice(separator + 1);
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(cookie)) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  #cookieHeader(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}
