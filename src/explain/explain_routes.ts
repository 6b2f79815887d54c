import Router from '@koa/router';
import type { Context } from 'koa';
import { readJsonObject } from '../http/index.js';
import type { DecisionExplainer } from './decision_explainer.js';
import { ExplainRequestError } from './errors.js';

const MAX_BODY_BYTES = 256 * 1024;

/**
 * Under a tenant's admin API (`ctx.state.tenant` set by its authentication):
 *
 * - `GET /decisions/<decision_id>/explanation`: a sampled decision, explained
 * - `POST /explanations` `{"request": {Check-shaped}, "version"?: "…"}`: a request decided again now
 *   under the active (or the named) version, explained
 */
export function createExplainRoutes(explainer: DecisionExplainer): Router<{ tenant: string }> {
  const router = new Router<{ tenant: string }>();
  router.get('/decisions/:id/explanation', async (ctx) => {
    ctx.body = await explainer.explainDecision(ctx.state.tenant, ctx.params['id'] ?? '');
  });
  router.post('/explanations', async (ctx) => {
    const body = await jsonBody(ctx);
    const version = body['version'];
    if (version !== undefined && (typeof version !== 'string' || version === '')) {
      throw new ExplainRequestError('"version" must be a version string');
    }
    if (typeof body['request'] !== 'object' || body['request'] === null) {
      throw new ExplainRequestError('"request" must be a Check-shaped request object');
    }
    ctx.body = await explainer.explainRequest(ctx.state.tenant, body['request'], version);
  });
  return router;
}

async function jsonBody(ctx: Context): Promise<Record<string, unknown>> {
  return await readJsonObject(ctx, { limit: MAX_BODY_BYTES, invalid: (message) => new ExplainRequestError(message) });
}
