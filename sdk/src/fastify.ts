/**
 * Fastify `preHandler` hook: `fastify.get('/docs/:id', { preHandler:
 * fastifyAuthorization({ client, check: (request) => ({ ... }) }) }, handler)`.
 * On ALLOW the decision is `authorizationOf(request)`; otherwise the
 * request is answered here and the handler does not run.
 */
import type { FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify';
import { authorizeHttp } from './http_authorization.js';
import type { AuthorizationOptions } from './http_authorization.js';
import type { CheckResult } from './types.js';

export type { AuthorizationOptions, CheckMapper, HttpRefusal, RefusalBody } from './http_authorization.js';

// Outside the request object: Fastify wants request properties declared up front (decorateRequest).
const decisions = new WeakMap<FastifyRequest, CheckResult>();

/** The ALLOW decision that let `request` through, if this hook ran for it. */
export function authorizationOf(request: FastifyRequest): CheckResult | undefined {
  return decisions.get(request);
}

export function fastifyAuthorization(options: AuthorizationOptions<FastifyRequest>): preHandlerAsyncHookHandler {
  return async function authorize(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const answer = await authorizeHttp(options.client, await options.check(request), options);
    if (answer.allowed) {
      decisions.set(request, answer.result);
      return;
    }
    // Sending from an async hook and awaiting the reply ends the request: the route handler is not called.
    await reply.code(answer.refusal.status).headers(answer.refusal.headers).send(answer.refusal.body);
  };
}
