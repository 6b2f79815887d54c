import type Koa from 'koa';
import { bearerToken } from '../bearer_token.js';
import type { RefusedAuthentication } from '../audit/index.js';

/** Which API and tenant a path belongs to, when it is one of a tenant's authenticated APIs. */
export type TenantApiOf = (path: string) => { readonly api: string; readonly tenant: string } | undefined;

/**
 * After each request, reports one whose credential was refused: a 401, or an
 * RFC 8935 `authentication_failed` (SSF answers 400). Every API of both roles
 * goes through this one place, so none is left out of the tenant's trail; it
 * sees whether a credential was presented, never records it.
 */
export function refusedAuthentications(
  tenantApiOf: TenantApiOf,
  refused: (tenant: string, refusal: RefusedAuthentication) => void,
): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    const body = (typeof ctx.body === 'object' && ctx.body !== null ? ctx.body : {}) as Record<string, unknown>;
    if (ctx.status !== 401 && body['err'] !== 'authentication_failed') return;
    const site = tenantApiOf(ctx.path);
    if (site === undefined) return;
    const authorization = ctx.get('authorization');
    const code = [body['code'], body['err'], body['scimType']].find((c): c is string => typeof c === 'string');
    const userAgent = ctx.get('user-agent');
    refused(site.tenant, {
      api: site.api,
      method: ctx.method,
      path: ctx.path,
      status: ctx.status,
      credential:
        authorization === '' ? 'missing' : bearerToken(authorization) === undefined ? 'malformed' : 'not_accepted',
      ...(code === undefined ? {} : { code }),
      ...(ctx.ip === '' ? {} : { remote_address: ctx.ip }),
      ...(userAgent === '' ? {} : { user_agent: userAgent.slice(0, 256) }),
    });
  };
}
