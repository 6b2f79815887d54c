import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { readRequestBody, RequestBodyTooLargeError } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { LogoutTokenRefusedError } from './errors.js';
import type { LogoutReceiver } from './logout_receiver.js';

export interface LogoutRouterOptions {
  readonly receiver: LogoutReceiver;
  readonly logger: Logger;
  /** Largest request body accepted, in bytes. @defaultValue 65536 */
  readonly maxBodyBytes?: number;
}

/** The back-channel logout URI of a tenant: what each of its IdPs registers as `backchannel_logout_uri`. */
export function logoutPath(tenantId: string): string {
  return `/oidc/v1/${tenantId}/backchannel-logout`;
}

/**
 * OpenID Connect Back-Channel Logout 1.0 §2.5/§2.8:
 * `POST /oidc/v1/<tenant>/backchannel-logout` with a form-encoded
 * `logout_token`. 200 once the logout's changes are stored; 400 with
 * `{error, error_description}` when the request or token is refused; 503
 * when it could not be stored now. Every answer is `Cache-Control: no-store`.
 */
export function createLogoutRouter(options: LogoutRouterOptions): Middleware {
  const { receiver, logger } = options;
  const limit = options.maxBodyBytes ?? 64 * 1024;
  const router = new Router();
  router.post('/oidc/v1/:tenant/backchannel-logout', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    try {
      const type = ctx.get('content-type');
      if (!/^application\/x-www-form-urlencoded\s*(;|$)/i.test(type)) {
        throw new LogoutTokenRefusedError(`send application/x-www-form-urlencoded, not ${type || 'no content type'}`);
      }
      let body: Buffer;
      try {
        body = await readRequestBody(ctx, limit);
      } catch (error) {
        if (!(error instanceof RequestBodyTooLargeError)) throw error;
        fail(ctx, 413, 'invalid_request', error.message);
        return;
      }
      const tokens = new URLSearchParams(body.toString('utf8')).getAll('logout_token');
      if (tokens.length !== 1 || tokens[0] === '') {
        throw new LogoutTokenRefusedError('the request must carry exactly one logout_token');
      }
      const accepted = await receiver.receive(ctx.params['tenant'] ?? '', tokens[0] ?? '');
      // As for SSF pushes: a Check with this min_sequence sees the logout's effects.
      if (accepted.sequence > 0) ctx.set('X-Ipsie-Sequence', String(accepted.sequence));
      ctx.status = 200;
      ctx.body = '';
      ctx.remove('Content-Type');
    } catch (error) {
      if (error instanceof LogoutTokenRefusedError) {
        fail(ctx, 400, 'invalid_request', error.message);
        return;
      }
      logger.error({ err: error, tenant: ctx.params['tenant'] }, 'back-channel logout not stored');
      ctx.set('Retry-After', '5');
      fail(ctx, 503, 'temporarily_unavailable', 'the logout could not be stored now; send it again');
    }
  });
  // The router's context type carries `params`; the app sees a plain middleware.
  return router.routes() as unknown as Middleware;
}

function fail(ctx: Context, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = { error, error_description: description };
}
