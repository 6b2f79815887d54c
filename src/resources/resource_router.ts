import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type { RelationData } from '../changes/index.js';
import { answerProblem, readRequestBody, RequestBodyTooLargeError } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { bearerToken } from '../bearer_token.js';
import { ResourceApiError } from './errors.js';
import { invalid, isObject, relationJson } from './resource_writer.js';
import type { ResourceWriterOptions, ResourceWriter } from './resource_writer.js';

export const RESOURCE_API_PREFIX = '/resources/v1';

/** The stream sequence of a write, for a Check's `min_sequence` (as SCIM answers it). */
const SEQUENCE_HEADER = 'X-Ipsie-Sequence';

export interface ResourceRouterOptions {
  /** The writes and reads, shared with the gRPC service. */
  readonly writer: ResourceWriter;
  readonly logger: Logger;
  /** Records each write (done or refused) in the tenant's audit trail. */
  readonly audit?: (tenant: string, record: Record<string, unknown>) => Promise<void>;
  readonly maxBodyBytes: number;
}

export type { ResourceWriterOptions };

interface State {
  tenant: string;
}

/**
 * `/resources/v1/<tenant>/…`: the tenant's app writes its own resources and their relations
 * (docs/resources.md), behind the tenant's resource credential, never an IdP's:
 *
 * - `PUT resources/<type>/<id>` `{"attributes": {…}}`, `GET` and `DELETE` it (a delete publishes a tombstone for
 *   each relation of the resource and each naming it first);
 * - `PUT` / `DELETE resources/<type>/<id>/relations/<relation>/user|group/<id>`, and
 *   `…/relations/<relation>/resource/<type>/<id>`.
 *
 * A write is answered once this gateway's replica applied it, with its stream sequence (body `sequence`,
 * header `X-Ipsie-Sequence`): a Check with that `min_sequence` sees it on any sidecar. The writes of one tenant
 * are checked and published one at a time on this gateway, so its bounds (relations per resource, parent
 * chains without cycles and within the depth) hold against its own concurrent requests.
 */
export function createResourceRouter(options: ResourceRouterOptions): Middleware {
  const { writer, logger } = options;
  const router = new Router<State>({ prefix: `${RESOURCE_API_PREFIX}/:tenant` });

  router.use(async (ctx, next) => {
    const tenant = ctx.params['tenant'] ?? '';
    try {
      writer.authorize(tenant, bearerToken(ctx.get('authorization')));
      ctx.state.tenant = tenant;
    } catch (error) {
      problem(ctx, error, logger);
      return;
    }
    try {
      await next();
    } catch (error) {
      problem(ctx, error, logger);
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      const body = (typeof ctx.body === 'object' && ctx.body !== null ? ctx.body : {}) as Record<string, unknown>;
      await options.audit?.(tenant, {
        method: ctx.method,
        path: ctx.path.slice(`${RESOURCE_API_PREFIX}/${tenant}`.length),
        status: ctx.status,
        ...(typeof body['sequence'] === 'number' ? { sequence: body['sequence'] } : {}),
        ...(typeof body['code'] === 'string' ? { code: body['code'] } : {}),
      });
    }
  });

  const answer = (ctx: Context, sequence: number, body: Record<string, unknown> = {}): void => {
    ctx.set(SEQUENCE_HEADER, String(sequence));
    ctx.status = 200;
    ctx.body = { ...body, sequence };
  };

  router.get('/resources/:type/:id', async (ctx) => {
    const { type, id } = resourceOf(ctx);
    const read = await writer.read(ctx.state.tenant, type, id);
    ctx.set(SEQUENCE_HEADER, String(read.sequence));
    ctx.body = { ...read.resource, relations: read.relations };
  });

  router.put('/resources/:type/:id', async (ctx) => {
    const { type, id } = resourceOf(ctx);
    const body = await jsonBody(ctx, options.maxBodyBytes);
    const attributes = body['attributes'] ?? {};
    if (!isObject(attributes)) throw invalid('"attributes" must be a JSON object');
    const unknown = Object.keys(body).filter((k) => k !== 'attributes');
    if (unknown.length > 0) throw invalid(`unknown member "${unknown[0]?.slice(0, 64) ?? ''}": send only "attributes"`);
    answer(ctx, await writer.put(ctx.state.tenant, type, id, attributes), { type, id, attributes });
  });

  router.delete('/resources/:type/:id', async (ctx) => {
    const { type, id } = resourceOf(ctx);
    answer(ctx, await writer.delete(ctx.state.tenant, type, id));
  });

  for (const path of ['/:kind/:sid', '/:kind/:stype/:sid']) {
    const relationPath = `/resources/:type/:id/relations/:relation${path}`;
    router.put(relationPath, async (ctx) => {
      const { tenant } = ctx.state;
      const relation = writer.relation(tenant, relationDataOfPath(ctx));
      answer(ctx, await writer.addRelation(tenant, relation), { relation: relationJson(relation) });
    });
    router.delete(relationPath, async (ctx) => {
      const { tenant } = ctx.state;
      answer(ctx, await writer.removeRelation(tenant, writer.relation(tenant, relationDataOfPath(ctx))));
    });
  }

  // The router's context type carries `params`; the app sees a plain middleware.
  return router.routes() as unknown as Middleware;
}

function resourceOf(ctx: Context): { type: string; id: string } {
  const params = (ctx as unknown as { params: Record<string, string | undefined> }).params;
  return { type: params['type'] ?? '', id: params['id'] ?? '' };
}

/** The relation a path names. */
function relationDataOfPath(ctx: Context): RelationData {
  const params = (ctx as unknown as { params: Record<string, string | undefined> }).params;
  const kind = params['kind'] ?? '';
  const stype = params['stype'];
  if (stype === undefined ? kind !== 'user' && kind !== 'group' : kind !== 'resource') {
    throw invalid('a relation names its subject as user/<id>, group/<id> or resource/<type>/<id>');
  }
  return {
    resource_type: params['type'] ?? '',
    resource_id: params['id'] ?? '',
    relation: params['relation'] ?? '',
    subject_kind: kind,
    subject_type: stype ?? null,
    subject_id: params['sid'] ?? '',
  } as RelationData;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The request body as a JSON object: `application/json`, at most `limit` bytes, UTF-8. */
async function jsonBody(ctx: Context, limit: number): Promise<Record<string, unknown>> {
  if (!/^application\/json\s*(;|$)/i.test(ctx.get('content-type'))) {
    throw new ResourceApiError('ERR_RESOURCE_UNSUPPORTED_MEDIA_TYPE', 'send application/json');
  }
  let bytes: Buffer;
  try {
    bytes = await readRequestBody(ctx, limit);
  } catch (error) {
    if (error instanceof RequestBodyTooLargeError)
      throw new ResourceApiError('ERR_RESOURCE_PAYLOAD_TOO_LARGE', error.message);
    throw error;
  }
  let body: unknown;
  try {
    body = JSON.parse(STRICT_UTF8.decode(bytes));
  } catch {
    throw invalid('the body is not UTF-8 JSON');
  }
  if (!isObject(body)) throw invalid('the body must be a JSON object');
  return body;
}

/** RFC 9457 problem details; a coded error says its code and message, anything else is withheld. */
function problem(ctx: Context, error: unknown, logger: Logger): void {
  answerProblem(ctx, error, logger, { realm: 'resources', logMessage: 'resource API request not done' });
}
