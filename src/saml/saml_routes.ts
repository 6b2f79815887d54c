import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { TenantSettings } from '../config/index.js';
import { spMetadataXml } from './saml_verifier.js';

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
