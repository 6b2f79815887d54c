import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { readRequestBody, RequestBodyTooLargeError } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { SetRefusedError, TransmitterUnavailableError } from './errors.js';
import type { SignalReceiver } from './signal_receiver.js';

export interface PushRouterOptions {
  readonly receiver: SignalReceiver;
  readonly logger: Logger;
  /** Largest SET accepted, in bytes. @defaultValue 65536 */
  readonly maxBodyBytes?: number;
}

/** The push endpoint path of a tenant's stream: what the transmitter's `delivery.endpoint_url` names. */
export function pushPath(tenantId: string): string {
  return `/ssf/v1/${tenantId}/events`;
}

/**
 * RFC 8935 push delivery: `POST /ssf/v1/<tenant>/events` with an
 * `application/secevent+jwt` body. 202 once the SET's effects are stored;
 * 400 with `{err, description}` when it is refused; 503 when it could not be
 * stored now and should be sent again.
 */
export function createPushRouter(options: PushRouterOptions): Middleware {
  const { receiver, logger } = options;
  const limit = options.maxBodyBytes ?? 64 * 1024;
  const router = new Router();
  router.post('/ssf/v1/:tenant/events', async (ctx) => {
    try {
      const type = ctx.get('content-type');
      if (!/^application\/secevent\+jwt\s*(;|$)/i.test(type)) {
        throw new SetRefusedError('invalid_request', `send application/secevent+jwt, not ${type || 'no content type'}`);
      }
      let body: Buffer;
      try {
        body = await readRequestBody(ctx, limit);
      } catch (error) {
        if (!(error instanceof RequestBodyTooLargeError)) throw error;
        fail(ctx, 413, 'invalid_request', error.message);
        return;
      }
      const accepted = await receiver.receive(ctx.params['tenant'] ?? '', body.toString('utf8').trim(), {
        method: 'push',
        authorization: ctx.get('authorization') || undefined,
      });
      // As for SCIM writes: a Check with this min_sequence sees the event's effects.
      if (accepted.sequence > 0) ctx.set('X-Ipsie-Sequence', String(accepted.sequence));
      // RFC 8935 §2.2: 202 with no body (koa would otherwise write the status text).
      ctx.status = 202;
      ctx.body = '';
      ctx.remove('Content-Type');
    } catch (error) {
      if (error instanceof SetRefusedError) {
        fail(ctx, 400, error.err, error.message);
        return;
      }
      const transient = error instanceof TransmitterUnavailableError;
      logger.error({ err: error, tenant: ctx.params['tenant'] }, 'SET not stored');
      ctx.set('Retry-After', '5');
      fail(
        ctx,
        503,
        'temporarily_unavailable',
        transient ? error.message : 'the SET could not be stored now; send it again',
      );
    }
  });
  // The router's context type carries `params`; the app sees a plain middleware.
  return router.routes() as unknown as Middleware;
}

function fail(ctx: Context, status: number, err: string, description: string): void {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = { err, description };
}
