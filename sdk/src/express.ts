/**
 * Express middleware: `app.get('/docs/:id', expressAuthorization({ client,
 * check: (req) => ({ ... }) }), handler)`. On ALLOW the decision is in
 * `res.locals.authorization`; otherwise the request is answered here.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { authorizeHttp } from './http_authorization.js';
import type { AuthorizationOptions } from './http_authorization.js';

export type { AuthorizationOptions, CheckMapper, HttpRefusal, RefusalBody } from './http_authorization.js';

export function expressAuthorization(options: AuthorizationOptions<Request>): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const decide = async (): Promise<void> => {
      const answer = await authorizeHttp(options.client, await options.check(req), options);
      if (answer.allowed) {
        res.locals['authorization'] = answer.result;
        next();
        return;
      }
      res.status(answer.refusal.status).set(answer.refusal.headers).json(answer.refusal.body);
    };
    // A mapper that throws is the app's bug: its error handler answers, the route never runs.
    decide().catch(next);
  };
}
