/**
 * Koa middleware: `router.get('/docs/:id', koaAuthorization({ client,
 * check: (ctx) => ({ ... }) }), handler)`. On ALLOW the decision is in
 * `ctx.state.authorization`; otherwise the request is answered here.
 */
import type { Context, Middleware, Next } from 'koa';
import { authorizeHttp } from './http_authorization.js';
import type { AuthorizationOptions } from './http_authorization.js';

export type { AuthorizationOptions, CheckMapper, HttpRefusal, RefusalBody } from './http_authorization.js';

export function koaAuthorization(options: AuthorizationOptions<Context>): Middleware {
  return async (ctx: Context, next: Next): Promise<void> => {
    const answer = await authorizeHttp(options.client, await options.check(ctx), options);
    if (answer.allowed) {
      ctx.state['authorization'] = answer.result;
      await next();
      return;
    }
    ctx.status = answer.refusal.status;
    ctx.set(answer.refusal.headers);
    ctx.body = answer.refusal.body;
  };
}
