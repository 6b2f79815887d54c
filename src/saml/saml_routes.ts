import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { TenantSettings } from '../config/index.js';
import { httpFailureOf, logFailure, readRequestBody, RequestBodyTooLargeError } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import type { VerifiedLogoutRequest } from './logout_request.js';
import { spMetadataXml } from './saml_verifier.js';
import type { SamlVerifier } from './saml_verifier.js';

/** Where a tenant's SP metadata is served: what its IdP administrators load (or fetch) to federate with us. */
export function samlMetadataPath(tenantId: string): string {
  return `/saml/v1/${tenantId}/metadata`;
}

/**
 * `GET /saml/v1/<tenant>/metadata`: our SP metadata for a tenant with SAML sign-in
 * (`application/samlmetadata+xml`); 404 for any other tenant. Public, as metadata is.
 */
export function createSamlMetadataRoutes(options: { readonly tenants: readonly TenantSettings[] }): Middleware {
  const documents = new Map(
    options.tenants.flatMap((t) => (t.saml === undefined ? [] : [[t.id, spMetadataXml(t.saml)] as const])),
  );
  const router = new Router();
  router.get('/saml/v1/:tenant/metadata', (ctx) => {
    const xml = documents.get(ctx.params['tenant'] ?? '');
    if (xml === undefined) {
      ctx.status = 404;
      ctx.type = 'application/json';
      ctx.body = { error: 'not_found', error_description: 'this tenant has no SAML sign-in' };
      return;
    }
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.type = 'application/samlmetadata+xml';
    ctx.body = xml;
  });
  return router.routes() as unknown as Middleware;
}

/** Where a tenant's IdPs send their LogoutRequests (our SP metadata's SingleLogoutService when slo_url is it). */
export function samlLogoutPath(tenantId: string): string {
  return `/saml/v1/${tenantId}/slo`;
}

export interface SamlLogoutRoutesOptions {
  readonly verifier: SamlVerifier;
  /** Ends the sessions a verified LogoutRequest names; resolves with the stream sequence of its effects. */
  readonly logout: (verified: VerifiedLogoutRequest, raw: string) => Promise<{ readonly sequence: number }>;
  readonly logger: Logger;
  /** @defaultValue 262144 */
  readonly maxBodyBytes?: number;
}

/**
 * SAML Single Logout from the IdP, HTTP-POST binding: `POST /saml/v1/<tenant>/slo` with a form-encoded,
 * signed `SAMLRequest` (a LogoutRequest). 200 once the logout's changes are stored (`X-Ipsie-Sequence`: a
 * Check with it sees them); a refused request answers its error code and status; 503 when it could not be
 * stored now. No LogoutResponse is sent back: the IdP's own session is the IdP's.
 */
export function createSamlLogoutRoutes(options: SamlLogoutRoutesOptions): Middleware {
  const { verifier, logout, logger } = options;
  const limit = options.maxBodyBytes ?? 256 * 1024;
  const router = new Router();
  router.post('/saml/v1/:tenant/slo', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const tenant = ctx.params['tenant'] ?? '';
    try {
      if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(ctx.get('content-type'))) {
        ctx.status = 415;
        ctx.body = { error: 'invalid_request', error_description: 'send application/x-www-form-urlencoded' };
        return;
      }
      let body: Buffer;
      try {
        body = await readRequestBody(ctx, limit);
      } catch (error) {
        if (!(error instanceof RequestBodyTooLargeError)) throw error;
        ctx.status = 413;
        ctx.body = { error: 'invalid_request', error_description: error.message };
        return;
      }
      const requests = new URLSearchParams(body.toString('utf8')).getAll('SAMLRequest');
      if (requests.length !== 1 || requests[0] === '') {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'the request must carry exactly one SAMLRequest' };
        return;
      }
      const raw = requests[0] ?? '';
      const verified = await verifier.verifyLogout(tenant, raw);
      const { sequence } = await logout(verified, raw);
      if (sequence > 0) ctx.set('X-Ipsie-Sequence', String(sequence));
      ctx.status = 200;
      ctx.body = { status: 'logged_out' };
    } catch (error) {
      const failure = httpFailureOf(error);
      logFailure(logger, failure, error, { tenant }, 'SAML logout request not accepted');
      ctx.status = failure.status;
      if (failure.retryAfterS !== undefined || failure.ours) ctx.set('Retry-After', String(failure.retryAfterS ?? 5));
      ctx.body = { error: failure.code, error_description: failure.message };
    }
  });
  return router.routes() as unknown as Middleware;
}
