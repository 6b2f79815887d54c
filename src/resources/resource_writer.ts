import { randomUUID } from 'node:crypto';
import { ChangeRejectedError, decodeChange, encodeChange, PARENT_RELATION } from '../changes/index.js';
import type { Change, ChangeKind, ChangeOf, RelationData } from '../changes/index.js';
import { relationDataOf, relationOf, resourceDataOf } from '../store/index.js';
import type { DirectoryReader, RelationRecord, RelationSubject, ResourceReader } from '../store/index.js';
import type { ChangeSink } from '../stream/index.js';
import { isTenantKey } from '../tenant_id.js';
import { TokenDigests } from '../bearer_token.js';
import { ResourceApiError } from './errors.js';

/** Most resources a parent check walks over, up or down, before it refuses to decide. */
const MAX_WALK = 10_000;

export interface ResourceWriterOptions {
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
  /** Most `parent` steps in any chain. */
  readonly maxDepth: number;
  /** Most relations one resource may hold. */
  readonly maxRelations: number;
  /** Largest `attributes`, as JSON bytes. */
  readonly maxAttributesBytes: number;
  /** Unix ms. @defaultValue Date.now */
  readonly clock?: () => number;
}

/** A resource as read back: its attributes and its relations. */
export interface ResourceView {
  readonly resource: Record<string, unknown>;
  readonly relations: Record<string, unknown>[];
  /** The stream sequence of its latest change. */
  readonly sequence: number;
}

/**
 * What the app may do to its resources and their relations, whichever API it writes through (HTTP,
 * gRPC): each write checked, published on the state stream, and answered with its sequence once this
 * gateway's replica applied it. The writes of one tenant are checked and published one at a time here, so
 * the bounds (relations per resource, parent chains without cycles and within the depth) hold against its
 * own concurrent requests.
 */
export class ResourceWriter {
  readonly #options: ResourceWriterOptions;
  readonly #tokens: Map<string, TokenDigests>;
  readonly #queues = new Map<string, Promise<unknown>>();
  readonly #clock: () => number;

  constructor(options: ResourceWriterOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#tokens = new Map([...options.tokens].map(([tenant, hashes]) => [tenant, new TokenDigests(hashes)]));
  }

  /**
   * The same answer for an unknown tenant as for a bad token: the API does not say which tenants exist.
   *
   * @throws {ResourceApiError} `ERR_RESOURCE_UNAUTHORIZED`
   */
  authorize(tenant: string, token: string | undefined): void {
    if (!isTenantKey(tenant) || this.#tokens.get(tenant)?.accepts(token) !== true) {
      throw new ResourceApiError('ERR_RESOURCE_UNAUTHORIZED', "a valid Bearer token of this tenant's app is required");
    }
  }

  /** @throws {ResourceApiError} `ERR_RESOURCE_NOT_FOUND`, `ERR_RESOURCE_UNAVAILABLE` */
  async read(tenant: string, type: string, id: string): Promise<ResourceView> {
    const { store } = this.#options;
    await this.#caughtUp();
    const resource = store.resource(tenant, type, id);
    if (resource === undefined) throw notFound(type, id);
    return {
      resource: { ...resourceDataOf(resource) },
      relations: store.relationsOf(tenant, type, id, this.#options.maxRelations).map(relationJson),
      sequence: resource.version?.sequence ?? 0,
    };
  }

  /** @throws {ResourceApiError} `ERR_RESOURCE_INVALID_REQUEST`, `ERR_RESOURCE_PAYLOAD_TOO_LARGE`, … */
  async put(tenant: string, type: string, id: string, attributes: unknown): Promise<number> {
    if (!isObject(attributes)) throw invalid('"attributes" must be a JSON object');
    const size = Buffer.byteLength(JSON.stringify(attributes));
    if (size > this.#options.maxAttributesBytes) {
      throw new ResourceApiError(
        'ERR_RESOURCE_PAYLOAD_TOO_LARGE',
        `"attributes" is ${size} bytes of JSON; at most ${this.#options.maxAttributesBytes}`,
      );
    }
    const upsert = this.#change(tenant, 'resource.upsert', { type, id, attributes });
    return await this.#serialized(tenant, async () => await this.#publish([upsert]));
  }

  /**
   * Publishes a tombstone for each relation of the resource and each naming it first (no cascade in the
   * store), so a resource created again under this id inherits none of them.
   *
   * @throws {ResourceApiError} `ERR_RESOURCE_NOT_FOUND`, …
   */
  async delete(tenant: string, type: string, id: string): Promise<number> {
    const { store } = this.#options;
    const key = this.#change(tenant, 'resource.delete', { type, id });
    return await this.#serialized(tenant, async () => {
      if (store.resource(tenant, type, id) === undefined) throw notFound(type, id);
      const ended = [
        ...store.relationsOf(tenant, type, id, Number.MAX_SAFE_INTEGER),
        ...store.relationsNaming(tenant, { kind: 'resource', type, id }, Number.MAX_SAFE_INTEGER),
      ];
      return await this.#publish([
        ...ended.map((r) => this.#change(tenant, 'relation.remove', relationDataOf(r))),
        key,
      ]);
    });
  }

  /**
   * The relation `data` names, checked as the stream would check it.
   *
   * @throws {ResourceApiError} `ERR_RESOURCE_INVALID_REQUEST` naming the field
   */
  relation(tenant: string, data: RelationData): RelationRecord {
    const decoded = checked({ v: 1, id: randomUUID(), tenant, at: 0, kind: 'relation.add', data });
    return relationOf(tenant, (decoded as ChangeOf<'relation.add'>).data);
  }

  /** @throws {ResourceApiError} `ERR_RESOURCE_NOT_FOUND`, `ERR_RESOURCE_CONFLICT`, … */
  async addRelation(tenant: string, relation: RelationRecord): Promise<number> {
    const add = this.#change(tenant, 'relation.add', relationDataOf(relation));
    return await this.#serialized(tenant, async () => {
      this.#checkRelation(tenant, relation);
      return await this.#publish([add]);
    });
  }

  /** @throws {ResourceApiError} `ERR_RESOURCE_NOT_FOUND` when the resource holds no such relation, … */
  async removeRelation(tenant: string, relation: RelationRecord): Promise<number> {
    const remove = this.#change(tenant, 'relation.remove', relationDataOf(relation));
    return await this.#serialized(tenant, async () => {
      if (!this.#holds(tenant, relation)) {
        throw new ResourceApiError('ERR_RESOURCE_NOT_FOUND', 'the resource holds no such relation');
      }
      return await this.#publish([remove]);
    });
  }

  /** Runs `write` after the tenant's earlier writes on this gateway, on a replica that holds the stream's end. */
  async #serialized<T>(tenant: string, write: () => Promise<T>): Promise<T> {
    const before = this.#queues.get(tenant) ?? Promise.resolve();
    const run = before.then(async () => {
      await this.#caughtUp();
      return await write();
    });
    const settled = run.catch(() => undefined);
    this.#queues.set(tenant, settled);
    try {
      return await run;
    } finally {
      if (this.#queues.get(tenant) === settled) this.#queues.delete(tenant);
    }
  }

  async #caughtUp(): Promise<void> {
    let position: number;
    try {
      position = await this.#options.replica.streamPosition();
    } catch (cause) {
      throw new ResourceApiError('ERR_RESOURCE_UNAVAILABLE', 'the state stream cannot be reached; retry', { cause });
    }
    await this.#applied(position);
  }

  async #applied(sequence: number): Promise<void> {
    if (!(await this.#options.replica.waitForSequence(sequence, 5_000))) {
      throw new ResourceApiError('ERR_RESOURCE_UNAVAILABLE', 'this gateway is behind the state stream; retry');
    }
  }

  /** Publishes the changes in order; answers the last one's sequence once this replica applied it. */
  async #publish(published: readonly Change[]): Promise<number> {
    let sequence = 0;
    for (const change of published) sequence = (await this.#options.changes.publish(change)).sequence;
    await this.#applied(sequence);
    return sequence;
  }

  #change<K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data']): Change {
    // Through the codec: the stream gets only what every sidecar will apply, and a refusal names the field.
    return checked({ v: 1, id: randomUUID(), tenant, at: this.#clock(), kind, data } as unknown as Change);
  }

  #holds(tenant: string, relation: RelationRecord): boolean {
    return this.#options.store.hasRelation({ ...relation, tenantId: tenant });
  }

  /**
   * A relation may be added when its resource and subject exist, the resource has room for it, and a parent
   * makes no cycle and no chain longer than the depth bound.
   *
   * @throws {ResourceApiError} `ERR_RESOURCE_NOT_FOUND`, `ERR_RESOURCE_CONFLICT`
   */
  #checkRelation(tenant: string, relation: RelationRecord): void {
    const { store, maxRelations } = this.#options;
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
    if (this.#holds(tenant, relation)) return;
    if (store.relationCount(tenant, type, id) >= maxRelations) {
      throw new ResourceApiError(
        'ERR_RESOURCE_CONFLICT',
        `resource ${type} ${id} holds ${maxRelations} relations already, the most one may hold`,
      );
    }
    if (relation.relation === PARENT_RELATION)
      this.#checkParent(tenant, { type, id }, { type: subject.type ?? '', id: subject.id });
  }

  /**
   * `child -parent-> parent` must not close a cycle (the child is not among the parent's ancestors, nor the
   * parent itself) and the longest chain through it must stay within `maxDepth` steps.
   */
  #checkParent(tenant: string, child: Ref, parent: Ref): void {
    const { store, maxDepth } = this.#options;
    const key = (r: Ref): string => JSON.stringify([r.type, r.id]);
    if (key(child) === key(parent)) throw conflict(`resource ${child.type} ${child.id} cannot be its own parent`);
    const above = this.#levels(parent, (r) => store.parentsOf(tenant, r.type, r.id), key);
    if (above.seen.has(key(child))) {
      throw conflict(
        `resource ${parent.type} ${parent.id} is below ${child.type} ${child.id} already: a parent there makes a cycle`,
      );
    }
    const below = this.#levels(
      child,
      (r) =>
        store
          .relationsNaming(tenant, { kind: 'resource', type: r.type, id: r.id }, MAX_WALK)
          .filter((c) => c.relation === PARENT_RELATION)
          .map((c) => ({ type: c.resourceType, id: c.resourceId })),
      key,
    );
    const depth = above.depth + 1 + below.depth;
    if (depth > maxDepth) {
      throw conflict(`the parent chain through ${child.type} ${child.id} would be ${depth} steps; at most ${maxDepth}`);
    }
  }

  /** Walks from `start` level by level (at most maxDepth + 1 levels): the ones seen and how many levels had any. */
  #levels(start: Ref, next: (r: Ref) => Ref[], key: (r: Ref) => string): { seen: Set<string>; depth: number } {
    const seen = new Set<string>();
    let level = [start];
    let depth = 0;
    while (depth <= this.#options.maxDepth) {
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
}

interface Ref {
  readonly type: string;
  readonly id: string;
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

export function relationJson(relation: RelationRecord): Record<string, unknown> {
  const subject: RelationSubject = relation.subject;
  return {
    resource: { type: relation.resourceType, id: relation.resourceId },
    relation: relation.relation,
    subject: { kind: subject.kind, ...(subject.type === undefined ? {} : { type: subject.type }), id: subject.id },
  };
}

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const invalid = (message: string): ResourceApiError =>
  new ResourceApiError('ERR_RESOURCE_INVALID_REQUEST', message);
const conflict = (message: string): ResourceApiError => new ResourceApiError('ERR_RESOURCE_CONFLICT', message);
const notFound = (type: string, id: string): ResourceApiError =>
  new ResourceApiError('ERR_RESOURCE_NOT_FOUND', `resource ${type} ${id} is not known to this tenant`);
