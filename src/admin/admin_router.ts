import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { Change, ChangeKind, ChangeOf } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import type { DirectoryReader } from '../store/index.js';
import type { ChangeSink } from '../stream/index.js';
import { isTenantKey } from '../tenant_id.js';
import { isSidecarError } from '../errors.js';
import { answerProblem } from '../http/index.js';
import { AdminError } from './errors.js';
import { TokenDigests, bearerToken } from '../bearer_token.js';

export interface AdminRouterOptions {
  /** tenant id -> SHA-256 (hex) of its administrators' bearer tokens. */
  readonly adminTokens: ReadonlyMap<string, readonly string[]>;
  readonly directory: Pick<DirectoryReader, 'user'>;
  readonly changes: ChangeSink;
  readonly replica: { waitForSequence(sequence: number, timeoutMs: number): Promise<boolean> };
  readonly logger: Logger;
  /** Records each action in the tenant's audit trail. */
  readonly audit?: (tenant: string, action: Record<string, unknown>) => Promise<void>;
  /** More routes behind the same authentication (`ctx.state.tenant` set), e.g. SSF stream management. */
  readonly nested?: readonly Router<{ tenant: string }>[];
  /** Unix ms. @defaultValue Date.now */
  readonly clock?: () => number;
}

/**
 * `/admin/v1/<tenant>/…`: what a tenant's administrators (or their SOC
 * tooling) may do at once, each behind the tenant's own admin credentials:
 *
 * - `POST users/<id>/reauthenticate` — IPSIE SL2: the user must authenticate
 *   again before continuing; Checks step up until a newer assertion.
 * - `POST users/<id>/sessions/revoke` — every current session of the user ends.
 *
 * Answers `202 {"sequence": n}` once this gateway's replica applied it: a
 * Check with that `min_sequence` sees it on any sidecar.
 */
export function createAdminRouter(options: AdminRouterOptions): Middleware {
  const { directory, changes, replica, logger } = options;
  const clock = options.clock ?? Date.now;
  const tokens = new Map([...options.adminTokens].map(([tenant, hashes]) => [tenant, new TokenDigests(hashes)]));
  const router = new Router<{ tenant: string }>({ prefix: '/admin/v1/:tenant' });

  router.use(async (ctx, next) => {
    try {
      const tenant = ctx.params['tenant'] ?? '';
      if (!isTenantKey(tenant) || tokens.get(tenant)?.accepts(bearerToken(ctx.get('authorization'))) !== true) {
        throw new AdminError(
          'ERR_ADMIN_UNAUTHORIZED',
          "a valid Bearer token of this tenant's administrators is required",
        );
      }
      ctx.state.tenant = tenant;
      try {
        await next();
      } catch (error) {
        problem(ctx, error, logger);
      }
      // SSF stream management changes the tenant's streams at its IdP: part of its audit trail, refused or not.
      const ssf = /\/ssf\/(.+)$/.exec(ctx.path)?.[1];
      if (ssf !== undefined && ctx.method !== 'GET') {
        await options.audit?.(tenant, { action: `ssf ${ctx.method} ${ssf}`, status: ctx.status, ...refusal(ctx) });
      } else if (ctx.method !== 'GET' && ctx.method !== 'HEAD' && ctx.status >= 400) {
        // Done actions record themselves; a refused one (a policy that does not compile, an unknown user) here.
        const action = `${ctx.method} ${ctx.path.slice(`/admin/v1/${tenant}`.length)}`;
        await options.audit?.(tenant, { action, status: ctx.status, ...refusal(ctx) });
      }
    } catch (error) {
      problem(ctx, error, logger);
    }
  });

  const userAction = (path: string, make: (tenant: string, userId: string, now: number) => Change): void => {
    router.post(`/users/:id/${path}`, async (ctx) => {
      const tenant = ctx.state.tenant;
      const userId = ctx.params['id'] ?? '';
      if (directory.user(tenant, userId) === undefined)
        throw new AdminError('ERR_ADMIN_NOT_FOUND', `user ${userId} not found`);
      const published = await changes.publish(make(tenant, userId, clock()));
      if (!(await replica.waitForSequence(published.sequence, 5_000))) {
        throw new AdminError(
          'ERR_ADMIN_UNAVAILABLE',
          'the change is stored but this gateway is behind; retry the read',
        );
      }
      logger.info({ tenant, user_id: userId, admin: path, sequence: published.sequence }, 'admin action');
      await options.audit?.(tenant, { action: path, user_id: userId, sequence: published.sequence });
      ctx.status = 202;
      ctx.body = { sequence: published.sequence };
    });
  };
  userAction('reauthenticate', (tenant, userId, now) =>
    change(tenant, 'user.reauthenticate', { user_id: userId, after: Math.floor(now / 1000) }, now),
  );
  userAction('sessions/revoke', (tenant, userId, now) =>
    change(
      tenant,
      'user.sessions_revoke',
      { user_id: userId, before: Math.floor(now / 1000), reason: 'revoked by a tenant administrator' },
      now,
    ),
  );
  for (const nested of options.nested ?? []) router.use(nested.routes(), nested.allowedMethods());
  // The router's context type carries `params`; the app sees a plain middleware.
  return router.routes() as unknown as Middleware;
}

function change<K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data'], at: number): Change {
  return { v: 1, id: randomUUID(), tenant, at, kind, data } as unknown as Change;
}

/** What a refused request was answered: the problem's code and detail. */
function refusal(ctx: Context): { code?: string; detail?: string } {
  const body = (typeof ctx.body === 'object' && ctx.body !== null ? ctx.body : {}) as Record<string, unknown>;
  return {
    ...(typeof body['code'] === 'string' ? { code: body['code'] } : {}),
    ...(typeof body['detail'] === 'string' ? { detail: body['detail'].slice(0, 1024) } : {}),
  };
}

/** RFC 9457 problem details for any error; a coded one says its code and message, anything else is withheld. */
function problem(ctx: Context, error: unknown, logger: Logger): void {
  answerProblem(ctx, error, logger, { realm: 'admin', logMessage: 'admin request not done', extra: problemsOf(error) });
}

/** Located compiler findings (`PolicyCompileError.problems`: file, row, col), when the error has them. */
function problemsOf(error: unknown): { problems?: unknown[] } {
  const problems: unknown = isSidecarError(error) ? (error as { problems?: unknown }).problems : undefined;
  return Array.isArray(problems) ? { problems } : {};
}
