import type { Middleware } from 'koa';

/** `GET /metrics` in the Prometheus text format, from either role's metrics. */
export function metricsRoute(metrics: { readonly contentType: string; text(): Promise<string> }): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== '/metrics') {
      await next();
      return;
    }
    ctx.type = metrics.contentType;
    ctx.body = await metrics.text();
  };
}
