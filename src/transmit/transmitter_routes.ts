import Router from '@koa/router';
import type { Middleware } from 'koa';
import type { SigningKeyRing } from './signing_keys.js';

export const TRANSMITTER_JWKS_PATH = '/ssf/v1/jwks';

/**
 * What a tenant's IdP (our SETs' receiver) reads to verify them: our SSF
 * Transmitter Configuration Metadata (SSF §7) at the well-known path of our
 * issuer, and the JWKS it names. Streams to us are configured per tenant, so
 * no management endpoints are offered.
 */
export function createTransmitterRoutes(options: { keys: SigningKeyRing; issuer: () => string }): Middleware {
  const router = new Router();
  router.get('/.well-known/ssf-configuration', (ctx) => {
    const issuer = options.issuer();
    ctx.body = {
      spec_version: '1_0',
      issuer,
      jwks_uri: `${issuer}${TRANSMITTER_JWKS_PATH}`,
      delivery_methods_supported: ['urn:ietf:rfc:8935'],
      default_subjects: 'ALL',
    };
  });
  router.get(TRANSMITTER_JWKS_PATH, (ctx) => {
    // Short caching: a receiver sees a new key soon after it is added.
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.type = 'application/jwk-set+json';
    ctx.body = options.keys.jwks();
  });
  return router.routes() as unknown as Middleware;
}
