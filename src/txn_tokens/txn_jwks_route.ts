import Router from '@koa/router';
import type { Middleware } from 'koa';
import { readPublicJwks } from './txn_key_ring.js';
import type { TxnKeyStore } from './txn_key_ring.js';

/** Where a tenant's transaction-token public keys are served: `/txn-tokens/v1/<tenant>/jwks`. */
export const TXN_JWKS_PATH = '/txn-tokens/v1/:tenant/jwks';

/**
 * The public half of each tenant's transaction-token keys, read from the bucket at each request: the key
 * signing now, its successor (published ahead of use) and those still verifying unexpired tokens. For
 * services that verify transaction tokens without a sidecar. Unknown tenants are 404.
 */
export function createTxnJwksRoute(options: {
  keys: Pick<TxnKeyStore, 'read'>;
  tenants: ReadonlySet<string>;
}): Middleware {
  const router = new Router();
  router.get(TXN_JWKS_PATH, async (ctx) => {
    const tenant = ctx.params['tenant'] ?? '';
    if (!options.tenants.has(tenant)) {
      ctx.status = 404;
      return;
    }
    const jwks = await readPublicJwks(options.keys, tenant);
    // Short caching: a successor is published a whole rotation ahead, so a verifier sees it long before use.
    ctx.set('Cache-Control', 'public, max-age=60');
    ctx.type = 'application/jwk-set+json';
    ctx.body = jwks;
  });
  return router.routes() as unknown as Middleware;
}
