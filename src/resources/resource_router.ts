import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { ChangeRejectedError, decodeChange, encodeChange, PARENT_RELATION } from '../changes/index.js';
import type { Change, ChangeKind, ChangeOf, RelationData } from '../changes/index.js';
import { httpFailureOf, logFailure, readRequestBody, RequestBodyTooLargeError } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { relationDataOf, relationOf, resourceDataOf } from '../store/index.js';
import type { DirectoryReader, RelationRecord, RelationSubject, ResourceReader } from '../store/index.js';
import type { ChangeSink } from '../stream/index.js';
import { isTenantId } from '../tenant_id.js';
import { TokenDigests, bearerToken } from '../bearer_token.js';
import { ResourceApiError } from './errors.js';

export const RESOURCE_API_PREFIX = '/resources/v1';

/** The stream sequence of a write, for a Check's `min_sequence` (as SCIM answers it). */
const SEQUENCE_HEADER = 'X-Ipsie-Sequence';

/** Most resources a parent check walks over, up or down, before it refuses to decide. */
const MAX_WALK = 10_000;

export interface ResourceRouterOptions {
  /** tenant id -> SHA-256 (hex) of its app's bearer tokens. */
  readonly tokens: ReadonlyMap<string, readonly string[]>;
  readonly store: Pick<
    ResourceReader,
    'resource' | 'relationsOf' | 'relationCount' | 'parentsOf' | 'relationsNaming' | 'hasRelation'
  > &
    Pick<DirectoryReader, 'user' | 'group'>;
  readonly changes: ChangeSink;
  /** This gateway's replica of the stream: reads wait for it, writes are answered once it applied them. */
  readonly replica: {
    waitForSequence(sequence: number, timeoutMs: number): Promise<boolean>;
    streamPosition(): Promise<number>;
  };
  readonly logger: Logger;
  /** Records each write (done or refused) in the tenant's audit trail. */
  readonly audit?: (tenant: string, record: Record<string, unknown>) => Promise<void>;
  /** Most `parent` steps in any chain. */
  readonly maxDepth: number;
  /** Most relations one resource may hold. */
  readonly maxRelations: number;
  /** Largest `attributes`, as JSON bytes. */
  readonly maxAttributesBytes: number;
  readonly maxBodyBytes: number;
  /** Unix ms. @defaultValue Date.now */
  readonly clock?: () => number;
}

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
  const { store, changes, replica, logger } = options;
  const clock = options.clock ?? Date.now;
  const tokens = new Map([...options.tokens].map(([tenant, hashes]) => [tenant, new TokenDigests(hashes)]));
  const queues = new Map<string, Promise<unknown>>();
  const router = new Router<State>({ prefix: `${RESOURCE_API_PREFIX}/:tenant` });

  router.use(async (ctx, next) => {
    const tenant = ctx.params['tenant'] ?? '';
    try {
      // The same answer for an unknown tenant as for a bad token: the API does not say which tenants exist.
      if (!isTenantId(tenant) || tokens.get(tenant)?.accepts(bearerToken(ctx.get('authorization'))) !== true) {
        throw new ResourceApiError(
          'ERR_RESOURCE_UNAUTHORIZED',
          "a valid Bearer token of this tenant's app is required",
        );
      }
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

  /** Runs `write` after the tenant's earlier writes on this gateway, on a replica that holds the stream's end. */
  async function serialized<T>(tenant: string, write: () => Promise<T>): Promise<T> {
    const before = queues.get(tenant) ?? Promise.resolve();
    const run = before.then(async () => {
      await caughtUp();
      return await write();
    });
    const settled = run.catch(() => undefined);
    queues.set(tenant, settled);
    try {
      return await run;
    } finally {
      if (queues.get(tenant) === settled) queues.delete(tenant);
    }
  }

  async function caughtUp(): Promise<void> {
    let position: number;
    try {
      position = await replica.streamPosition();
    } catch (cause) {
      throw new ResourceApiError('ERR_RESOURCE_UNAVAILABLE', 'the state stream cannot be reached; retry', { cause });
    }
    await applied(position);
  }

  async function applied(sequence: number): Promise<void> {
    if (!(await replica.waitForSequence(sequence, 5_000))) {
      throw new ResourceApiError('ERR_RESOURCE_UNAVAILABLE', 'this gateway is behind the state stream; retry');
    }
  }

  /** Publishes the changes in order; answers the last one's sequence once this replica applied it. */
  async function publish(
    ctx: Context,
    published: readonly Change[],
    body: Record<string, unknown> = {},
  ): Promise<void> {
    let sequence = 0;
    for (const change of published) sequence = (await changes.publish(change)).sequence;
    await applied(sequence);
    ctx.set(SEQUENCE_HEADER, String(sequence));
    ctx.status = 200;
    ctx.body = { ...body, sequence };
  }

  const change = <K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data']): Change =>
    // Through the codec: the stream gets only what every sidecar will apply, and a refusal names the field.
    checked({ v: 1, id: randomUUID(), tenant, at: clock(), kind, data } as unknown as Change);

  router.get('/resources/:type/:id', async (ctx) => {
    const { tenant } = ctx.state;
    const { type, id } = resourceOf(ctx);
    await caughtUp();
    const resource = store.resource(tenant, type, id);
    if (resource === undefined) throw notFound(type, id);
    ctx.set(SEQUENCE_HEADER, String(resource.version?.sequence ?? 0));
    ctx.body = {
      ...resourceDataOf(resource),
      relations: store.relationsOf(tenant, type, id, options.maxRelations).map(relationJson),
    };
  });

  router.put('/resources/:type/:id', async (ctx) => {
    const { tenant } = ctx.state;
    const { type, id } = resourceOf(ctx);
    const body = await jsonBody(ctx, options.maxBodyBytes);
    const attributes = body['attributes'] ?? {};
    if (!isObject(attributes)) throw invalid('"attributes" must be a JSON object');
    const unknown = Object.keys(body).filter((k) => k !== 'attributes');
    if (unknown.length > 0) throw invalid(`unknown member "${unknown[0]?.slice(0, 64) ?? ''}": send only "attributes"`);
    const size = Buffer.byteLength(JSON.stringify(attributes));
    if (size > options.maxAttributesBytes) {
      throw new ResourceApiError(
        'ERR_RESOURCE_PAYLOAD_TOO_LARGE',
        `"attributes" is ${size} bytes of JSON; at most ${options.maxAttributesBytes}`,
      );
    }
    const upsert = change(tenant, 'resource.upsert', { type, id, attributes });
    await serialized(tenant, async () => {
      await publish(ctx, [upsert], { type, id, attributes });
    });
  });

  router.delete('/resources/:type/:id', async (ctx) => {
    const { tenant } = ctx.state;
    const { type, id } = resourceOf(ctx);
    await serialized(tenant, async () => {
      if (store.resource(tenant, type, id) === undefined) throw notFound(type, id);
      // No cascade in the store: a tombstone for each relation of the resource, and each that names it,
      // so a resource created again under this id inherits none of them.
      const ended = [
        ...store.relationsOf(tenant, type, id, Number.MAX_SAFE_INTEGER),
        ...store.relationsNaming(tenant, { kind: 'resource', type, id }, Number.MAX_SAFE_INTEGER),
      ];
      await publish(ctx, [
        ...ended.map((r) => change(tenant, 'relation.remove', relationDataOf(r))),
        change(tenant, 'resource.delete', { type, id }),
      ]);
    });
  });

  for (const path of ['/:kind/:sid', '/:kind/:stype/:sid']) {
    const relationPath = `/resources/:type/:id/relations/:relation${path}`;
    router.put(relationPath, async (ctx) => {
      const { tenant } = ctx.state;
      const relation = relationOfPath(ctx, tenant);
      const add = change(tenant, 'relation.add', relationDataOf(relation));
      await serialized(tenant, async () => {
        checkRelation(tenant, relation);
        await publish(ctx, [add], { relation: relationJson(relation) });
      });
    });
    router.delete(relationPath, async (ctx) => {
      const { tenant } = ctx.state;
      const relation = relationOfPath(ctx, tenant);
      const remove = change(tenant, 'relation.remove', relationDataOf(relation));
      await serialized(tenant, async () => {
        if (!holds(tenant, relation)) {
          throw new ResourceApiError('ERR_RESOURCE_NOT_FOUND', 'the resource holds no such relation');
        }
        await publish(ctx, [remove]);
      });
    });
  }

  function holds(tenant: string, relation: RelationRecord): boolean {
    return store.hasRelation({ ...relation, tenantId: tenant });
  }

  /**
   * A relation may be added when its resource and subject exist, the resource has room for it, and a parent
   * makes no cycle and no chain longer than the depth bound.
   *
   * @throws {ResourceApiError} `ERR_RESOURCE_NOT_FOUND`, `ERR_RESOURCE_CONFLICT`
   */
  function checkRelation(tenant: string, relation: RelationRecord): void {
    const { resourceType: type, resourceId: id, subject } = relation;
    if (store.resource(tenant, type, id) === undefined) throw notFound(type, id);
    const exists =
      subject.kind === 'user'
        ? store.user(tenant, subject.id) !== undefined
        : subject.kind === 'group'
          ? store.group(tenant, subject.id) !== undefined
          : store.resource(tenant, subject.type ?? '', subject.id) !== undefined;
    if (!exists) {
      throw new ResourceApiError(
        'ERR_RESOURCE_NOT_FOUND',
        `the relation's subject, ${subject.kind} ${subject.type === undefined ? '' : `${subject.type} `}${subject.id}, is not known to this tenant`,
      );
    }
    if (holds(tenant, relation)) return;
    if (store.relationCount(tenant, type, id) >= options.maxRelations) {
      throw new ResourceApiError(
        'ERR_RESOURCE_CONFLICT',
        `resource ${type} ${id} holds ${options.maxRelations} relations already, the most one may hold`,
      );
    }
    if (relation.relation === PARENT_RELATION)
      checkParent(tenant, { type, id }, { type: subject.type ?? '', id: subject.id });
  }

  /**
   * `child -parent-> parent` must not close a cycle (the child is not among the parent's ancestors, nor the
   * parent itself) and the longest chain through it must stay within `maxDepth` steps.
   */
  function checkParent(tenant: string, child: Ref, parent: Ref): void {
    const key = (r: Ref): string => JSON.stringify([r.type, r.id]);
    if (key(child) === key(parent)) throw conflict(`resource ${child.type} ${child.id} cannot be its own parent`);
    const above = levels(parent, (r) => store.parentsOf(tenant, r.type, r.id), key);
    if (above.seen.has(key(child))) {
      throw conflict(
        `resource ${parent.type} ${parent.id} is below ${child.type} ${child.id} already: a parent there makes a cycle`,
      );
    }
    const below = levels(
      child,
      (r) =>
        store
          .relationsNaming(tenant, { kind: 'resource', type: r.type, id: r.id }, MAX_WALK)
          .filter((c) => c.relation === PARENT_RELATION)
          .map((c) => ({ type: c.resourceType, id: c.resourceId })),
      key,
    );
    const depth = above.depth + 1 + below.depth;
    if (depth > options.maxDepth) {
      throw conflict(
        `the parent chain through ${child.type} ${child.id} would be ${depth} steps; at most ${options.maxDepth}`,
      );
    }
  }

  /** Walks from `start` level by level (at most maxDepth + 1 levels): the ones seen and how many levels had any. */
  function levels(start: Ref, next: (r: Ref) => Ref[], key: (r: Ref) => string): { seen: Set<string>; depth: number } {
    const seen = new Set<string>();
    let level = [start];
    let depth = 0;
    while (depth <= options.maxDepth) {
      const following: Ref[] = [];
      for (const r of level) {
        for (const n of next(r)) {
          if (seen.has(key(n))) continue;
          seen.add(key(n));
          following.push(n);
        }
      }
      if (seen.size > MAX_WALK) throw conflict(`the parent chains here reach more than ${MAX_WALK} resources`);
      if (following.length === 0) break;
      level = following;
      depth++;
    }
    return { seen, depth };
  }

  // The router's context type carries `params`; the app sees a plain middleware.
  return router.routes() as unknown as Middleware;
}

interface Ref {
  readonly type: string;
  readonly id: string;
}

function resourceOf(ctx: Context): Ref {
  const params = (ctx as unknown as { params: Record<string, string | undefined> }).params;
  return { type: params['type'] ?? '', id: params['id'] ?? '' };
}

/** The relation a path names, checked as the stream would check it. */
function relationOfPath(ctx: Context, tenant: string): RelationRecord {
  const params = (ctx as unknown as { params: Record<string, string | undefined> }).params;
  const kind = params['kind'] ?? '';
  const stype = params['stype'];
  if (stype === undefined ? kind !== 'user' && kind !== 'group' : kind !== 'resource') {
    throw invalid('a relation names its subject as user/<id>, group/<id> or resource/<type>/<id>');
  }
  const data = {
    resource_type: params['type'] ?? '',
    resource_id: params['id'] ?? '',
    relation: params['relation'] ?? '',
    subject_kind: kind,
    subject_type: stype ?? null,
    subject_id: params['sid'] ?? '',
  } as RelationData;
  const decoded = checked({ v: 1, id: randomUUID(), tenant, at: 0, kind: 'relation.add', data });
  return relationOf(tenant, (decoded as ChangeOf<'relation.add'>).data);
}

/** The change as every sidecar will decode it. @throws {ResourceApiError} naming the field */
function checked(change: Change): Change {
  try {
    return decodeChange(encodeChange(change));
  } catch (error) {
    if (error instanceof ChangeRejectedError) throw invalid(error.message.replace(/^data\./, ''));
    throw error;
  }
}

function relationJson(relation: RelationRecord): Record<string, unknown> {
  const subject: RelationSubject = relation.subject;
  return {
    resource: { type: relation.resourceType, id: relation.resourceId },
    relation: relation.relation,
    subject: { kind: subject.kind, ...(subject.type === undefined ? {} : { type: subject.type }), id: subject.id },
  };
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

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const invalid = (message: string): ResourceApiError => new ResourceApiError('ERR_RESOURCE_INVALID_REQUEST', message);
const conflict = (message: string): ResourceApiError => new ResourceApiError('ERR_RESOURCE_CONFLICT', message);
const notFound = (type: string, id: string): ResourceApiError =>
  new ResourceApiError('ERR_RESOURCE_NOT_FOUND', `resource ${type} ${id} is not known to this tenant`);

/** RFC 9457 problem details; a coded error says its code and message, anything else is withheld. */
function problem(ctx: Context, error: unknown, logger: Logger): void {
  const failure = httpFailureOf(error);
  logFailure(logger, failure, error, { path: ctx.path }, 'resource API request not done');
  ctx.status = failure.status;
  if (failure.status === 401) ctx.set('WWW-Authenticate', 'Bearer realm="resources"');
  if (failure.retryAfterS !== undefined) ctx.set('Retry-After', String(failure.retryAfterS));
  ctx.type = 'application/problem+json';
  ctx.body = {
    type: 'about:blank',
    title: failure.code === 'ERR_INTERNAL' ? 'Internal Server Error' : failure.code,
    status: failure.status,
    detail: failure.message,
    code: failure.code,
  };
}
