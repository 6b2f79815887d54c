import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { httpFailureOf, logFailure, readJsonObject } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { StreamRequestInvalidError } from './errors.js';
import type { StreamManagement } from './stream_management.js';

/** Where the stream management endpoints are, under our issuer (SSF §7.1 names them in the metadata). */
export const STREAM_MANAGEMENT_PATHS = {
  configuration: '/ssf/v1/stream',
  status: '/ssf/v1/status',
  addSubject: '/ssf/v1/subjects:add',
  removeSubject: '/ssf/v1/subjects:remove',
  verification: '/ssf/v1/verify',
} as const;

const MAX_BODY_BYTES = 64 * 1024;

/**
 * SSF stream management (§8) for tenants' receivers: the receiver's bearer
 * token names its tenant, and every stream id is looked up in that tenant
 * only. Answers carry `Cache-Control: no-store`; errors are
 * `{"code", "description"}` with the status of their kind (SSF §8's
 * tables: 400, 401, 404, 409, 413, 429).
 */
export function createStreamManagementRoutes(options: {
  readonly management: StreamManagement;
  readonly logger: Logger;
}): Middleware {
  const { management, logger } = options;
  const router = new Router();
  const paths = escaped();
  const handle =
    (run: (ctx: Context, tenant: string) => Promise<void>): Middleware =>
    async (ctx) => {
      ctx.set('Cache-Control', 'no-store');
      try {
        // RFC 6750 §2.1 and the CAEP interoperability profile: the token in the header, never in the query.
        await run(ctx, management.authenticate(ctx.get('authorization') || undefined));
      } catch (error) {
        fail(ctx, error, logger);
      }
    };
  const streamIdOf = (ctx: Context): string | undefined =>
    typeof ctx.query['stream_id'] === 'string' ? ctx.query['stream_id'] : undefined;

  router.post(
    paths.configuration,
    handle(async (ctx, tenant) => {
      ctx.status = 201;
      ctx.body = await management.create(tenant, await jsonBody(ctx));
    }),
  );
  router.get(
    paths.configuration,
    handle(async (ctx, tenant) => {
      ctx.body = await management.read(tenant, streamIdOf(ctx));
    }),
  );
  router.patch(
    paths.configuration,
    handle(async (ctx, tenant) => {
      ctx.body = await management.update(tenant, await jsonBody(ctx), 'update');
    }),
  );
  router.put(
    paths.configuration,
    handle(async (ctx, tenant) => {
      ctx.body = await management.update(tenant, await jsonBody(ctx), 'replace');
    }),
  );
  router.delete(
    paths.configuration,
    handle(async (ctx, tenant) => {
      await management.delete(tenant, streamIdOf(ctx));
      ctx.status = 204;
    }),
  );
  router.get(
    paths.status,
    handle(async (ctx, tenant) => {
      ctx.body = await management.status(tenant, streamIdOf(ctx));
    }),
  );
  router.post(
    paths.status,
    handle(async (ctx, tenant) => {
      ctx.body = await management.setStatus(tenant, await jsonBody(ctx));
    }),
  );
  router.post(
    paths.addSubject,
    handle(async (ctx, tenant) => {
      await management.addSubject(tenant, await jsonBody(ctx));
      // SSF §8.1.3.2: an empty 200.
      ctx.status = 200;
      ctx.body = '';
    }),
  );
  router.post(
    paths.removeSubject,
    handle(async (ctx, tenant) => {
      await management.removeSubject(tenant, await jsonBody(ctx));
      ctx.status = 204;
    }),
  );
  router.post(
    paths.verification,
    handle(async (ctx, tenant) => {
      await management.requestVerification(tenant, await jsonBody(ctx));
      ctx.status = 204;
    }),
  );
  // The router's context type carries `params`; the app sees a plain middleware.
  return router.routes() as unknown as Middleware;
}

/** The paths as route patterns: `:` starts a parameter there, and SSF's paths contain one. */
function escaped(): typeof STREAM_MANAGEMENT_PATHS {
  return Object.fromEntries(
    Object.entries(STREAM_MANAGEMENT_PATHS).map(([name, path]) => [name, path.replaceAll(':', '\\:')]),
  ) as unknown as typeof STREAM_MANAGEMENT_PATHS;
}

async function jsonBody(ctx: Context): Promise<Record<string, unknown>> {
  return await readJsonObject(ctx, {
    limit: MAX_BODY_BYTES,
    invalid: (message) => new StreamRequestInvalidError(message),
  });
}

function fail(ctx: Context, error: unknown, logger: Logger): void {
  const failure = httpFailureOf(error);
  logFailure(logger, failure, error, { path: ctx.path }, 'SSF stream management request not done');
  ctx.status = failure.status;
  if (failure.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="ssf"');
  if (failure.retryAfterS !== undefined) ctx.set('Retry-After', String(failure.retryAfterS));
  ctx.body = { code: failure.code, description: failure.message };
}
