import type { Middleware } from 'koa';
import { tenantKeyOf } from '../tenant_id.js';

/** Where the gateway's APIs name a tenant: `/scim/v2/<tenant>/…`, `/admin/v1/<tenant>/…`, … */
export const GATEWAY_TENANT_PATHS: readonly RegExp[] = [
  /^(?<prefix>\/(?:scim\/v2|ssf\/v1|admin\/v1|oidc\/v1|resources\/v1|saml\/v1|txn-tokens\/v1)\/)(?<tenant>[^/]+)/,
];

/** Where the sidecar's AuthZEN API names a tenant: `/<tenant>/access/v1/…`, its metadata. */
export const AUTHZEN_TENANT_PATHS: readonly RegExp[] = [
  /^(?<prefix>\/)(?<tenant>[^/]+)(?=\/access\/v1\/)/,
  /^(?<prefix>\/\.well-known\/authzen-configuration\/)(?<tenant>[^/]+)$/,
];

/**
 * A sandbox is addressed by its name (`/scim/v2/acme.sandbox/Users`); this turns the name into its key
 * (`acme-sandbox`) in the request path before any router or recorder reads it, so every route, audit record and
 * metric downstream sees one form, and a name can never be spliced into a NATS subject as two tokens.
 *
 * @param paths each from the path's start: a named group `prefix`, then `tenant`
 */
export function tenantNamesInPaths(paths: readonly RegExp[]): Middleware {
  return async (ctx, next) => {
    for (const pattern of paths) {
      const match = pattern.exec(ctx.path);
      const prefix = match?.groups?.['prefix'];
      const name = match?.groups?.['tenant'];
      if (prefix === undefined || name === undefined) continue;
      let decoded: string;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        break;
      }
      const key = tenantKeyOf(decoded);
      if (key !== undefined && key !== name) {
        ctx.path = `${prefix}${key}${ctx.path.slice(prefix.length + name.length)}`;
      }
      break;
    }
    await next();
  };
}
