import type { DirectoryReader } from '../store/index.js';
import { ScimError } from './errors.js';
import { indexedEquality, matches, parseFilter } from './filter.js';
import type { Filter } from './filter.js';
import type { ReplicaGate } from './replica_gate.js';
import { etagOf, groupResource, isObject, project, projectionOf, userResource } from './resource.js';
import type { Json, Projection } from './resource.js';
import { LIST_RESPONSE_SCHEMA, RESOURCE_TYPES, SEARCH_REQUEST_SCHEMA } from './schema.js';
import type { ResourceKind } from './schema.js';
import { notFound, ok } from './scim_result.js';
import type { ListQuery, ScimContext, ScimResult } from './scim_result.js';

/** Page size when the client gives none, and the most one page returns (ServiceProviderConfig.filter.maxResults). */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;

const EVERYTHING: Projection = { attributes: undefined, excluded: undefined };

/** SCIM reads (RFC 7644 §3.4) from this gateway's replica, once it has caught up with the stream. */
export class ScimReads {
  readonly #directory: DirectoryReader;
  readonly #gate: ReplicaGate;

  constructor(directory: DirectoryReader, gate: ReplicaGate) {
    this.#directory = directory;
    this.#gate = gate;
  }

  async list(kind: ResourceKind, context: ScimContext, query: ListQuery): Promise<ScimResult> {
    const type = RESOURCE_TYPES[kind];
    const projection = projectionOf(type, query.attributes, query.excludedAttributes);
    const filter =
      query.filter === undefined || query.filter.trim() === '' ? undefined : parseFilter(type, query.filter);
    const startIndex = Math.max(1, integerParameter(query.startIndex, 'startIndex') ?? 1);
    const count = Math.min(MAX_PAGE_SIZE, Math.max(0, integerParameter(query.count, 'count') ?? DEFAULT_PAGE_SIZE));
    await this.#gate.enter(context.tenantId);
    const { tenantId } = context;
    const render = (id: string): Json | undefined => this.#render(kind, context, id, projection);

    let total: number;
    let page: Json[];
    if (filter === undefined) {
      total = kind === 'User' ? this.#directory.userCount(tenantId) : this.#directory.groupCount(tenantId);
      const ids =
        kind === 'User'
          ? this.#directory.usersPage(tenantId, startIndex - 1, count).map((u) => u.id)
          : this.#directory.groupsPage(tenantId, startIndex - 1, count).map((g) => g.id);
      page = ids.map(render).filter((r): r is Json => r !== undefined);
    } else {
      const found = this.#search(kind, context, filter);
      total = found.length;
      page = found.slice(startIndex - 1, startIndex - 1 + count).map((r) => project(type, r, projection));
    }
    return ok({
      schemas: [LIST_RESPONSE_SCHEMA],
      totalResults: total,
      startIndex,
      itemsPerPage: page.length,
      Resources: page,
    });
  }

  /** `POST /.search` (RFC 7644 §3.4.3): the same as a GET with the parameters in the body. */
  async search(kind: ResourceKind, context: ScimContext, body: unknown): Promise<ScimResult> {
    if (!isObject(body) || !Array.isArray(body['schemas']) || !body['schemas'].includes(SEARCH_REQUEST_SCHEMA)) {
      throw new ScimError('ERR_SCIM_INVALID_SYNTAX', `a search needs "schemas": ["${SEARCH_REQUEST_SCHEMA}"]`);
    }
    const text = (name: string): string | undefined => {
      const value = body[name];
      if (value === undefined) return undefined;
      if (Array.isArray(value)) return value.join(',');
      if (typeof value !== 'string') throw new ScimError('ERR_SCIM_INVALID_VALUE', `${name} must be a string`);
      return value;
    };
    const number = (name: string): number | undefined => {
      const value = body[name];
      if (value === undefined) return undefined;
      if (typeof value !== 'number') throw new ScimError('ERR_SCIM_INVALID_VALUE', `${name} must be a number`);
      return value;
    };
    return await this.list(kind, context, {
      filter: text('filter'),
      attributes: text('attributes'),
      excludedAttributes: text('excludedAttributes'),
      startIndex: number('startIndex'),
      count: number('count'),
    });
  }

  async get(kind: ResourceKind, context: ScimContext, id: string, query: ListQuery): Promise<ScimResult> {
    const type = RESOURCE_TYPES[kind];
    const projection = projectionOf(type, query.attributes, query.excludedAttributes);
    await this.#gate.enter(context.tenantId);
    const resource = this.#render(kind, context, id, projection);
    if (resource === undefined) throw notFound(kind, id);
    return ok(resource, etagOf(this.#version(kind, context.tenantId, id)));
  }

  /** A write's answer: once the replica has applied `sequence` (read-your-writes), the whole resource. */
  async written(
    kind: ResourceKind,
    context: ScimContext,
    id: string,
    sequence: number,
    status: 200 | 201,
  ): Promise<ScimResult> {
    await this.#gate.sync(sequence);
    return { ...this.current(kind, context, id, status), sequence };
  }

  /** The whole resource as the replica holds it now. */
  current(kind: ResourceKind, context: ScimContext, id: string, status: 200 | 201): ScimResult {
    const resource = this.#render(kind, context, id, EVERYTHING);
    if (resource === undefined) throw notFound(kind, id);
    return {
      status,
      body: resource,
      etag: etagOf(this.#version(kind, context.tenantId, id)),
      location: status === 201 ? `${context.baseUrl}/${kind}s/${id}` : undefined,
    };
  }

  #render(kind: ResourceKind, context: ScimContext, id: string, projection: Projection): Json | undefined {
    const { tenantId } = context;
    if (kind === 'User') {
      const user = this.#directory.user(tenantId, id);
      if (user === undefined) return undefined;
      const groups = this.#directory.groupsOfUser(tenantId, id);
      return project(RESOURCE_TYPES.User, userResource(user, groups, context), projection);
    }
    const group = this.#directory.group(tenantId, id);
    if (group === undefined) return undefined;
    // Entra and the IPSIE profile read groups with excludedAttributes=members: skip the member query.
    const skipMembers =
      projection.excluded?.some((t) => t.attribute.name === 'members' && t.subAttribute === undefined) === true ||
      (projection.attributes !== undefined && !projection.attributes.some((t) => t.attribute.name === 'members'));
    const members = skipMembers ? [] : this.#directory.groupMembers(tenantId, id);
    const resource = groupResource(group, members, context);
    if (skipMembers) delete resource['members'];
    return project(RESOURCE_TYPES.Group, resource, projection);
  }

  #version(kind: ResourceKind, tenantId: string, id: string): number {
    const record = kind === 'User' ? this.#directory.user(tenantId, id) : this.#directory.group(tenantId, id);
    return record?.version?.sequence ?? 0;
  }

  /** Every resource of the tenant matching `filter`, in id order, as full SCIM JSON. */
  #search(kind: ResourceKind, context: ScimContext, filter: Filter): Json[] {
    const { tenantId } = context;
    const type = RESOURCE_TYPES[kind];
    const indexed = indexedEquality(filter);
    let ids: Iterable<string>;
    if (indexed?.attribute === 'id') ids = [indexed.value];
    else if (kind === 'User' && indexed?.attribute === 'userName')
      ids = this.#directory.userIdsByUserName(tenantId, indexed.value);
    else if (kind === 'User' && indexed?.attribute === 'externalId')
      ids = this.#directory.userIdsByExternalId(tenantId, indexed.value);
    else if (kind === 'Group' && indexed?.attribute === 'displayName')
      ids = this.#directory.groupIdsByDisplayName(tenantId, indexed.value);
    else ids = kind === 'User' ? idsOf(this.#directory.users(tenantId)) : idsOf(this.#directory.groups(tenantId));
    const found: Json[] = [];
    for (const id of ids) {
      const resource = this.#render(kind, context, id, EVERYTHING);
      if (resource !== undefined && matches(type, resource, filter)) found.push(resource);
    }
    return found;
  }
}

function* idsOf(records: IterableIterator<{ id: string }>): Generator<string> {
  for (const record of records) yield record.id;
}

function integerParameter(value: string | number | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n)) throw new ScimError('ERR_SCIM_INVALID_VALUE', `${name} must be an integer`);
  return n;
}
