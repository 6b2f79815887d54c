import type { Context } from 'koa';
import type { Logger } from '../logging/index.js';
import { httpFailureOf, logFailure } from './http_status.js';

/**
 * Answers `error` as RFC 9457 problem details (the admin and resource APIs): a coded error says its code and
 * message, anything else is withheld; logged at the level its kind calls for; a 401 names the API's `realm`
 * in its challenge, and a retryable refusal says when (`Retry-After`).
 *
 * @param extra members added to the problem (e.g. located compile problems)
 */
export function answerProblem(
  ctx: Context,
  error: unknown,
  logger: Logger,
  options: { readonly realm: string; readonly logMessage: string; readonly extra?: Record<string, unknown> },
): void {
  const failure = httpFailureOf(error);
  logFailure(logger, failure, error, { path: ctx.path }, options.logMessage);
  ctx.status = failure.status;
  if (failure.status === 401) ctx.set('WWW-Authenticate', `Bearer realm="${options.realm}"`);
  if (failure.retryAfterS !== undefined) ctx.set('Retry-After', String(failure.retryAfterS));
  ctx.type = 'application/problem+json';
  ctx.body = {
    type: 'about:blank',
    title: failure.code === 'ERR_INTERNAL' ? 'Internal Server Error' : failure.code,
    status: failure.status,
    detail: failure.message,
    code: failure.code,
    ...options.extra,
  };
}
