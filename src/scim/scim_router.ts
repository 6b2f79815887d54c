import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { httpFailureOf, logFailure, readRequestBody, RequestBodyTooLargeError } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { isTenantKey, tenantNameOf } from '../tenant_id.js';
import { listOf, resourceTypes, schemas, serviceProviderConfig } from './discovery.js';
import { ScimError } from './errors.js';
import type { RateLimiter } from './rate_limiter.js';
import type { Json } from './resource.js';
import { ERROR_SCHEMA, RESOURCE_TYPES } from './schema.js';
import type { ResourceKind } from './schema.js';
import type { ScimAuthenticator } from './scim_authenticator.js';
import type { ListQuery, ScimContext, ScimResult } from './scim_result.js';
import type { ScimService } from './scim_service.js';

export const SCIM_MEDIA_TYPE = 'application/scim+json';
/** @defaultValue 1 MiB */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface ScimRouterOptions {
  readonly service: ScimService;
  readonly authenticator: ScimAuthenticator;
  readonly rateLimiter: RateLimiter;
  readonly logger: Logger;
  /** Largest accepted request body. @defaultValue 1 MiB */
  readonly maxBodyBytes?: number;
}

interface ScimState {
  scim: ScimContext;
}

/**
 * `/scim/v2/<tenant>/…`: Users, Groups, `.search`, and the discovery
 * endpoints, each behind the tenant's own credentials and rate limit.
 * Every error is a SCIM Error document (RFC 7644 §3.12).
 */
export function createScimRouter(options: ScimRouterOptions): Middleware {
  const { service, authenticator, rateLimiter, logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const router = new Router<ScimState>({ prefix: '/scim/v2/:tenant' });

  const body = async (ctx: Context): Promise<unknown> => await readJsonBody(ctx, maxBodyBytes);
  const query = (ctx: Context): ListQuery => ({
    filter: single(ctx.query['filter']),
    startIndex: single(ctx.query['startIndex']),
    count: single(ctx.query['count']),
    attributes: single(ctx.query['attributes']),
    excludedAttributes: single(ctx.query['excludedAttributes']),
  });
  const ifMatch = (ctx: Context): string | undefined => ctx.get('if-match') || undefined;
  const tenantSchemas = (scim: ScimContext): ReturnType<typeof schemas> =>
    schemas(scim.baseUrl, (schema) => service.catalogs.refine(scim.tenantId, schema));

  for (const kind of ['User', 'Group'] as const satisfies readonly ResourceKind[]) {
    const path = RESOURCE_TYPES[kind].endpoint;
    router.get(path, async (ctx) => {
      send(ctx, await service.reads.list(kind, ctx.state.scim, query(ctx)));
    });
    router.post(`${path}/.search`, async (ctx) => {
      send(ctx, await service.reads.search(kind, ctx.state.scim, await body(ctx)));
    });
    router.get(`${path}/:id`, async (ctx) => {
      send(ctx, await service.reads.get(kind, ctx.state.scim, ctx.params['id'] ?? '', query(ctx)));
    });
    router.post(path, async (ctx) => {
      const payload = await body(ctx);
      send(ctx, await service.writes[kind].create(ctx.state.scim, payload));
    });
    router.put(`${path}/:id`, async (ctx) => {
      const payload = await body(ctx);
      const id = ctx.params['id'] ?? '';
      send(ctx, await service.writes[kind].replace(ctx.state.scim, id, payload, ifMatch(ctx)));
    });
    router.patch(`${path}/:id`, async (ctx) => {
      const payload = await body(ctx);
      const id = ctx.params['id'] ?? '';
      send(ctx, await service.writes[kind].patch(ctx.state.scim, id, payload, ifMatch(ctx)));
    });
    router.delete(`${path}/:id`, async (ctx) => {
      const id = ctx.params['id'] ?? '';
      send(ctx, await service.writes[kind].delete(ctx.state.scim, id, ifMatch(ctx)));
    });
  }

  router.get('/ServiceProviderConfig', (ctx) => {
    json(ctx, 200, serviceProviderConfig(ctx.state.scim.baseUrl));
  });
  router.get('/ResourceTypes', (ctx) => {
    json(ctx, 200, listOf(resourceTypes(ctx.state.scim.baseUrl)));
  });
  router.get('/ResourceTypes/:name', (ctx) => {
    const found = resourceTypes(ctx.state.scim.baseUrl).find((r) => r['id'] === ctx.params['name']);
    if (found === undefined) throw new ScimError('ERR_SCIM_NOT_FOUND', `no resource type ${ctx.params['name'] ?? ''}`);
    json(ctx, 200, found);
  });
  router.get('/Schemas', (ctx) => {
    json(ctx, 200, listOf(tenantSchemas(ctx.state.scim)));
  });
  router.get('/Schemas/:id', (ctx) => {
    const found = tenantSchemas(ctx.state.scim).find((s) => s['id'] === ctx.params['id']);
    if (found === undefined) throw new ScimError('ERR_SCIM_NOT_FOUND', `no schema ${ctx.params['id'] ?? ''}`);
    json(ctx, 200, found);
  });
  router.all('/Bulk', () => {
    throw new ScimError('ERR_SCIM_NOT_IMPLEMENTED', 'bulk operations are not supported (see /ServiceProviderConfig)');
  });
  router.all('/Me', () => {
    throw new ScimError('ERR_SCIM_NOT_IMPLEMENTED', '/Me is not supported');
  });
  // RFC 7644 §3.4.3: a search over every resource type at the root. Not offered (501, as §3.12 says).
  router.post('/.search', () => {
    throw new ScimError('ERR_SCIM_NOT_IMPLEMENTED', 'searching every resource type at once is not supported');
  });

  // The router's context type carries `params`; the app sees plain middleware.
  const routes = router.routes() as unknown as Middleware;
  const methods = router.allowedMethods() as unknown as Middleware;
  return async (ctx, next) => {
    const tenantId = /^\/scim\/v2\/([^/]+)(\/|$)/.exec(ctx.path)?.[1];
    if (tenantId === undefined) {
      await next();
      return;
    }
    try {
      // Same answer as a bad token: the endpoint does not reveal which tenants exist.
      if (!isTenantKey(tenantId))
        throw new ScimError('ERR_SCIM_UNAUTHORIZED', 'a valid Bearer token for this tenant is required');
      await authenticator.authenticate(tenantId, ctx.get('authorization') || undefined);
      rateLimiter.take(tenantId);
      (ctx.state as ScimState).scim = {
        tenantId,
        baseUrl: `${ctx.protocol}://${ctx.host}/scim/v2/${tenantNameOf(tenantId)}`,
      };
      await routes(ctx, async () => {
        await methods(ctx, () => Promise.resolve());
      });
      // Every answer under the base URL is a SCIM one (RFC 7644 §3.12), including the router's own.
      if (ctx.status === 405) {
        throw new ScimError('ERR_SCIM_METHOD_NOT_ALLOWED', `${ctx.method} is not allowed on ${ctx.path}`);
      }
      if (ctx.status === 501 && ctx.body === undefined) {
        throw new ScimError('ERR_SCIM_NOT_IMPLEMENTED', `the method ${ctx.method} is not implemented`);
      }
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new ScimError('ERR_SCIM_NOT_FOUND', `no SCIM endpoint ${ctx.method} ${ctx.path}`);
      }
    } catch (error) {
      renderError(ctx, error, logger);
    }
  };
}

/** The stream sequence of a write, for a Check's `min_sequence` (read-after-write on any sidecar). */
export const SEQUENCE_HEADER = 'X-Ipsie-Sequence';

function send(ctx: Context, result: ScimResult): void {
  if (result.etag !== undefined) ctx.set('ETag', result.etag);
  if (result.sequence !== undefined) ctx.set(SEQUENCE_HEADER, String(result.sequence));
  if (result.location !== undefined) ctx.set('Location', result.location);
  if (result.body === undefined) {
    ctx.status = result.status;
    ctx.body = null;
  } else {
    json(ctx, result.status, result.body);
  }
}

function json(ctx: Context, status: number, body: Json): void {
  ctx.status = status;
  ctx.type = SCIM_MEDIA_TYPE;
  ctx.body = body;
}

function renderError(ctx: Context, error: unknown, logger: Logger): void {
  const failure = httpFailureOf(error);
  logFailure(logger, failure, error, { method: ctx.method, path: ctx.path }, 'SCIM request not done');
  if (failure.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="scim", error="invalid_token"');
  if (failure.retryAfterS !== undefined) ctx.set('Retry-After', String(failure.retryAfterS));
  const scimType = error instanceof ScimError ? error.scimType : undefined;
  json(ctx, failure.status, {
    schemas: [ERROR_SCHEMA],
    status: String(failure.status),
    ...(scimType === undefined ? {} : { scimType }),
    detail: failure.message,
  });
}

/**
 * The request body as JSON: `application/scim+json` or `application/json`,
 * at most `limit` bytes (413 beyond, without reading the rest into memory).
 */
async function readJsonBody(ctx: Context, limit: number): Promise<unknown> {
  const type = ctx.get('content-type');
  if (type !== '' && !/^application\/(scim\+)?json\b/i.test(type)) {
    throw new ScimError('ERR_SCIM_UNSUPPORTED_MEDIA_TYPE', `send ${SCIM_MEDIA_TYPE}, not ${type}`);
  }
  let bytes: Buffer;
  try {
    bytes = await readRequestBody(ctx, limit);
  } catch (error) {
    if (error instanceof RequestBodyTooLargeError) throw new ScimError('ERR_SCIM_PAYLOAD_TOO_LARGE', error.message);
    throw error;
  }
  let text: string;
  try {
    // Fatal: a lenient decode would store U+FFFD in place of the bytes the IdP sent.
    text = STRICT_UTF8.decode(bytes);
  } catch {
    throw new ScimError('ERR_SCIM_INVALID_VALUE', 'the body is not valid UTF-8 (RFC 8259 §8.1)');
  }
  if (text.trim() === '') throw new ScimError('ERR_SCIM_INVALID_SYNTAX', 'the request has no body');
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    throw new ScimError('ERR_SCIM_INVALID_SYNTAX', 'the body is not valid JSON');
  }
  requireUnicodeText(body);
  return body;
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });
/** In a `u` regex a surrogate pair is one code point, so this matches only an unpaired half. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Far deeper than any SCIM document; deeper bodies would only exhaust the stack of later recursive steps. */
const MAX_DEPTH = 32;

/**
 * Every string and key of a parsed body must be a sequence of Unicode scalar
 * values: JSON's `"\ud800"` escape parses to a lone surrogate, which no
 * UTF-8 encoder can write and no IdP means. Iterative, and bounded in depth:
 * JSON.parse accepts nesting far deeper than a recursive walk's stack.
 *
 * @throws {ScimError} `ERR_SCIM_INVALID_VALUE` (a lone surrogate), `ERR_SCIM_INVALID_SYNTAX` (too deep)
 */
function requireUnicodeText(body: unknown): void {
  const pending: [value: unknown, path: string, depth: number][] = [[body, 'the body', 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path, depth] = next;
    if (typeof value === 'string') {
      if (LONE_SURROGATE.test(value)) throw loneSurrogate(path);
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_DEPTH) throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `the body nests deeper than ${MAX_DEPTH}`);
    if (Array.isArray(value)) {
      value.forEach((element, i) => pending.push([element, `${path}[${i}]`, depth + 1]));
      continue;
    }
    for (const [key, element] of Object.entries(value)) {
      if (LONE_SURROGATE.test(key)) throw loneSurrogate(`a key of ${path}`);
      pending.push([element, `${path}.${key}`, depth + 1]);
    }
  }
}

function loneSurrogate(path: string): ScimError {
  return new ScimError(
    'ERR_SCIM_INVALID_VALUE',
    `${path} holds an unpaired surrogate (\\ud800-\\udfff): not Unicode text`,
  );
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
