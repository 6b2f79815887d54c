import { randomUUID } from 'node:crypto';
import { JIT_USER_NAME_PREFIX } from '../changes/index.js';
import type { Change, ChangeKind, ChangeOf } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import type { DirectoryReader, GroupRecord, UserRecord } from '../store/index.js';
import type { ChangeSink, PublishedChange } from '../stream/index.js';
import { SequenceConflictError } from '../stream/index.js';
import { ScimError } from './errors.js';
import { indexedEquality, matches, parseFilter } from './filter.js';
import type { Filter } from './filter.js';
import { foldName, nameTaken } from './name_claims.js';
import type { NameClaims, NamedResource } from './name_claims.js';
import { applyPatch } from './patch.js';
import {
  etagOf,
  groupDocument,
  groupResource,
  isObject,
  normalizeResource,
  project,
  projectionOf,
  userDocument,
  userFields,
  userResource,
} from './resource.js';
import type { Json, Projection, Representation } from './resource.js';
import { LIST_RESPONSE_SCHEMA, RESOURCE_TYPES, SEARCH_REQUEST_SCHEMA } from './schema.js';
import type { ResourceKind } from './schema.js';

const USER_TYPE = RESOURCE_TYPES.User;
const GROUP_TYPE = RESOURCE_TYPES.Group;

/** Page size when the client gives none, and the most one page returns (ServiceProviderConfig.filter.maxResults). */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 500;
/** Attempts of a read-modify-write that lost a race to another writer (without If-Match). */
const WRITE_ATTEMPTS = 3;

/** The replica's position relative to the stream. */
export interface ReplicaSync {
  waitForSequence(sequence: number, timeoutMs: number): Promise<boolean>;
}

export interface ScimServiceOptions {
  readonly directory: DirectoryReader;
  readonly changes: ChangeSink;
  /** userName and group displayName claims shared by every gateway replica. */
  readonly names: NameClaims;
  readonly replica: ReplicaSync;
  /** The stream's last sequence now (the read barrier). */
  readonly streamPosition: () => Promise<number>;
  readonly logger: Logger;
  /** How long a request waits for the replica to catch up, in ms. @defaultValue 5000 */
  readonly syncTimeoutMs?: number;
  /** Unix ms. @defaultValue Date.now */
  readonly clock?: () => number;
}

export interface ListQuery {
  readonly filter?: string | undefined;
  readonly startIndex?: string | number | undefined;
  readonly count?: string | number | undefined;
  readonly attributes?: string | undefined;
  readonly excludedAttributes?: string | undefined;
}

export interface ScimResult {
  readonly status: 200 | 201 | 204;
  readonly body: Json | undefined;
  readonly etag: string | undefined;
  readonly location: string | undefined;
  /** For writes: the stream sequence that holds the change (a Check `min_sequence` that sees it). */
  readonly sequence?: number;
}

/** Where a request came in: the tenant and the base URL of its SCIM endpoint. */
export interface ScimContext extends Representation {
  readonly tenantId: string;
}

/**
 * SCIM 2.0 over the state stream. Every write is published (with the
 * entity's last sequence as the expected one, so concurrent writers cannot
 * lose each other's updates) and answered from this gateway's replica once
 * the replica has applied it. Every read first waits for the replica to
 * reach the stream's current end, so any gateway replica answers the same.
 */
export class ScimService {
  readonly #directory: DirectoryReader;
  readonly #changes: ChangeSink;
  readonly #names: NameClaims;
  readonly #replica: ReplicaSync;
  readonly #streamPosition: () => Promise<number>;
  readonly #logger: Logger;
  readonly #syncTimeoutMs: number;
  readonly #clock: () => number;

  constructor(options: ScimServiceOptions) {
    this.#directory = options.directory;
    this.#changes = options.changes;
    this.#names = options.names;
    this.#replica = options.replica;
    this.#streamPosition = options.streamPosition;
    this.#logger = options.logger;
    this.#syncTimeoutMs = options.syncTimeoutMs ?? 5_000;
    this.#clock = options.clock ?? Date.now;
  }

  // --- reads -----------------------------------------------------------------

  async list(kind: ResourceKind, context: ScimContext, query: ListQuery): Promise<ScimResult> {
    const type = RESOURCE_TYPES[kind];
    const projection = projectionOf(type, query.attributes, query.excludedAttributes);
    const filter =
      query.filter === undefined || query.filter.trim() === '' ? undefined : parseFilter(type, query.filter);
    const startIndex = Math.max(1, integerParameter(query.startIndex, 'startIndex') ?? 1);
    const count = Math.min(MAX_PAGE_SIZE, Math.max(0, integerParameter(query.count, 'count') ?? DEFAULT_PAGE_SIZE));
    await this.#barrier();
    this.#requireTenant(context);
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
    await this.#barrier();
    this.#requireTenant(context);
    const resource = this.#render(kind, context, id, projection);
    if (resource === undefined) throw notFound(kind, id);
    return ok(resource, etagOf(this.#version(kind, context.tenantId, id)));
  }

  // --- users -----------------------------------------------------------------

  async createUser(context: ScimContext, body: unknown): Promise<ScimResult> {
    const scim = normalizeResource(USER_TYPE, body, { requireSchemas: true });
    await this.#barrier();
    this.#requireTenant(context);
    const fields = userFields(scim);
    this.#requireUniqueUserName(context.tenantId, fields.userName, undefined);
    const id = randomUUID();
    const published = await this.#publishClaimed(
      context.tenantId,
      'User',
      fields.userName,
      id,
      0,
      this.#change(context.tenantId, 'user.upsert', {
        id,
        user_name: fields.userName,
        external_id: fields.externalId ?? null,
        // A new account is active unless the IdP says otherwise.
        active: fields.active ?? true,
        attributes: fields.attributes,
        roles: fields.roles,
        created_at: this.#clock(),
      }),
    );
    this.#logger.info({ tenant: context.tenantId, user_id: id, scim: 'create User' }, 'SCIM write');
    return await this.#answer('User', context, id, published.sequence, 201);
  }

  async replaceUser(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult> {
    const scim = normalizeResource(USER_TYPE, body, { requireSchemas: true });
    return await this.#updateUser(context, id, ifMatch, 'replace', () => scim);
  }

  async patchUser(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult> {
    return await this.#updateUser(context, id, ifMatch, 'patch', (current) =>
      normalizeResource(USER_TYPE, applyPatch(USER_TYPE, userDocument(current), body), { requireSchemas: false }),
    );
  }

  async deleteUser(context: ScimContext, id: string, ifMatch: string | undefined): Promise<ScimResult> {
    await this.#barrier();
    this.#requireTenant(context);
    const { tenantId } = context;
    const current = this.#directory.user(tenantId, id);
    if (current === undefined) throw notFound('User', id);
    checkIfMatch(ifMatch, current.version?.sequence ?? 0);
    const memberships = this.#directory.membershipGroupIds(tenantId, id);
    const bindings = this.#directory.bindingsOfUser(tenantId, id);
    // The user first, so access ends with the first stored change; then the
    // tombstones that keep a re-created id from inheriting anything.
    const deleted = await this.#publishExpecting(
      this.#change(tenantId, 'user.delete', { id }),
      current.version?.sequence ?? 0,
      ifMatch,
    );
    let last = deleted.sequence;
    for (const groupId of memberships) {
      last = (await this.#changes.publish(this.#change(tenantId, 'member.remove', { group_id: groupId, user_id: id })))
        .sequence;
    }
    for (const b of bindings) {
      last = (
        await this.#changes.publish(this.#change(tenantId, 'binding.delete', { issuer: b.issuer, subject: b.subject }))
      ).sequence;
    }
    await this.#names.release(tenantId, 'User', current.userName, id);
    await this.#sync(last);
    this.#logger.info({ tenant: tenantId, user_id: id, scim: 'delete User' }, 'SCIM write');
    return { status: 204, body: undefined, etag: undefined, location: undefined, sequence: last };
  }

  async #updateUser(
    context: ScimContext,
    id: string,
    ifMatch: string | undefined,
    operation: 'replace' | 'patch',
    compute: (current: UserRecord) => Json,
  ): Promise<ScimResult> {
    const { tenantId } = context;
    for (let attempt = 1; ; attempt++) {
      await this.#barrier();
      this.#requireTenant(context);
      const current = this.#directory.user(tenantId, id);
      if (current === undefined) throw notFound('User', id);
      const sequence = current.version?.sequence ?? 0;
      checkIfMatch(ifMatch, sequence);
      const fields = userFields(compute(current));
      // Nothing but an explicit `active: true` activates: a PUT without `active` keeps the current
      // value; a PATCH that removes it (or sets it to null) leaves the account inactive.
      const active = fields.active ?? (operation === 'replace' ? current.active : false);
      this.#requireUniqueUserName(tenantId, fields.userName, id);
      const unchanged =
        fields.userName === current.userName &&
        fields.externalId === current.externalId &&
        active === current.active &&
        JSON.stringify(fields.attributes) === JSON.stringify(current.attributes) &&
        JSON.stringify(fields.roles) === JSON.stringify(current.roles);
      if (unchanged) return this.#respond('User', context, id, 200);
      const deactivated = current.active && !active;
      const change = this.#change(tenantId, active ? 'user.upsert' : 'user.deactivate', {
        id,
        user_name: fields.userName,
        external_id: fields.externalId ?? null,
        active,
        attributes: fields.attributes,
        roles: fields.roles,
        created_at: current.version?.createdAt ?? this.#clock(),
      });
      try {
        const published =
          foldName(fields.userName) === foldName(current.userName)
            ? await this.#changes.publish(change, { expectedLastSubjectSequence: sequence })
            : await this.#publishClaimed(tenantId, 'User', fields.userName, id, sequence, change, current.userName);
        let last = published.sequence;
        if (deactivated) {
          // IPSIE AL1: deactivation ends every session at once, and for good:
          // reactivating the account does not bring them back.
          last = (
            await this.#changes.publish(
              this.#change(tenantId, 'user.sessions_revoke', {
                user_id: id,
                before: Math.floor(this.#clock() / 1000),
                reason: 'account deactivated',
              }),
            )
          ).sequence;
        }
        this.#logger.info({ tenant: tenantId, user_id: id, scim: `${operation} User`, deactivated }, 'SCIM write');
        return await this.#answer('User', context, id, last, 200);
      } catch (error) {
        if (!(error instanceof SequenceConflictError) || ifMatch !== undefined || attempt >= WRITE_ATTEMPTS) {
          throw error instanceof SequenceConflictError ? preconditionFailed(id) : error;
        }
      }
    }
  }

  // --- groups ----------------------------------------------------------------

  async createGroup(context: ScimContext, body: unknown): Promise<ScimResult> {
    const scim = normalizeResource(GROUP_TYPE, body, { requireSchemas: true });
    await this.#barrier();
    this.#requireTenant(context);
    const { tenantId } = context;
    const displayName = scim['displayName'] as string;
    this.#requireUniqueDisplayName(tenantId, displayName, undefined);
    const members = this.#memberIds(tenantId, scim['members']);
    const id = randomUUID();
    let last = (
      await this.#publishClaimed(
        tenantId,
        'Group',
        displayName,
        id,
        0,
        this.#change(tenantId, 'group.upsert', {
          id,
          display_name: displayName,
          external_id: typeof scim['externalId'] === 'string' ? scim['externalId'] : null,
          created_at: this.#clock(),
        }),
      )
    ).sequence;
    for (const userId of members) {
      last = (await this.#changes.publish(this.#change(tenantId, 'member.add', { group_id: id, user_id: userId })))
        .sequence;
    }
    this.#logger.info({ tenant: tenantId, group_id: id, members: members.size, scim: 'create Group' }, 'SCIM write');
    return await this.#answer('Group', context, id, last, 201);
  }

  async replaceGroup(
    context: ScimContext,
    id: string,
    body: unknown,
    ifMatch: string | undefined,
  ): Promise<ScimResult> {
    const scim = normalizeResource(GROUP_TYPE, body, { requireSchemas: true });
    return await this.#updateGroup(context, id, ifMatch, 'replace', () => scim);
  }

  async patchGroup(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult> {
    const result = await this.#updateGroup(context, id, ifMatch, 'patch', (current, members) =>
      normalizeResource(GROUP_TYPE, applyPatch(GROUP_TYPE, groupDocument(current, members), body), {
        requireSchemas: false,
      }),
    );
    // Microsoft Entra expects 204 for group PATCH; the state is applied either way.
    return { ...result, status: 204, body: undefined };
  }

  async deleteGroup(context: ScimContext, id: string, ifMatch: string | undefined): Promise<ScimResult> {
    await this.#barrier();
    this.#requireTenant(context);
    const { tenantId } = context;
    const current = this.#directory.group(tenantId, id);
    if (current === undefined) throw notFound('Group', id);
    checkIfMatch(ifMatch, current.version?.sequence ?? 0);
    const members = this.#directory.groupMembers(tenantId, id);
    let last = (
      await this.#publishExpecting(
        this.#change(tenantId, 'group.delete', { id }),
        current.version?.sequence ?? 0,
        ifMatch,
      )
    ).sequence;
    for (const m of members) {
      last = (await this.#changes.publish(this.#change(tenantId, 'member.remove', { group_id: id, user_id: m.id })))
        .sequence;
    }
    await this.#names.release(tenantId, 'Group', current.displayName, id);
    await this.#sync(last);
    this.#logger.info({ tenant: tenantId, group_id: id, scim: 'delete Group' }, 'SCIM write');
    return { status: 204, body: undefined, etag: undefined, location: undefined, sequence: last };
  }

  async #updateGroup(
    context: ScimContext,
    id: string,
    ifMatch: string | undefined,
    operation: 'replace' | 'patch',
    compute: (current: GroupRecord, members: { id: string; userName: string }[]) => Json,
  ): Promise<ScimResult> {
    const { tenantId } = context;
    for (let attempt = 1; ; attempt++) {
      await this.#barrier();
      this.#requireTenant(context);
      const current = this.#directory.group(tenantId, id);
      if (current === undefined) throw notFound('Group', id);
      const sequence = current.version?.sequence ?? 0;
      checkIfMatch(ifMatch, sequence);
      const currentMembers = this.#directory.groupMembers(tenantId, id);
      const next = compute(current, currentMembers);
      const displayName = next['displayName'] as string;
      const externalId = typeof next['externalId'] === 'string' ? next['externalId'] : undefined;
      this.#requireUniqueDisplayName(tenantId, displayName, id);
      const wanted = this.#memberIds(tenantId, next['members']);
      const had = new Set(currentMembers.map((m) => m.id));
      try {
        let last = 0;
        if (displayName !== current.displayName || externalId !== current.externalId) {
          const change = this.#change(tenantId, 'group.upsert', {
            id,
            display_name: displayName,
            external_id: externalId ?? null,
            created_at: current.version?.createdAt ?? this.#clock(),
          });
          last = (
            foldName(displayName) === foldName(current.displayName)
              ? await this.#changes.publish(change, { expectedLastSubjectSequence: sequence })
              : await this.#publishClaimed(tenantId, 'Group', displayName, id, sequence, change, current.displayName)
          ).sequence;
        }
        for (const userId of wanted) {
          if (had.has(userId)) continue;
          last = (await this.#changes.publish(this.#change(tenantId, 'member.add', { group_id: id, user_id: userId })))
            .sequence;
        }
        for (const userId of had) {
          if (wanted.has(userId)) continue;
          last = (
            await this.#changes.publish(this.#change(tenantId, 'member.remove', { group_id: id, user_id: userId }))
          ).sequence;
        }
        this.#logger.info({ tenant: tenantId, group_id: id, scim: `${operation} Group` }, 'SCIM write');
        return last === 0
          ? this.#respond('Group', context, id, 200)
          : await this.#answer('Group', context, id, last, 200);
      } catch (error) {
        if (!(error instanceof SequenceConflictError) || ifMatch !== undefined || attempt >= WRITE_ATTEMPTS) {
          throw error instanceof SequenceConflictError ? preconditionFailed(id) : error;
        }
      }
    }
  }

  /** Members must be users of this tenant; nested groups are not supported. */
  #memberIds(tenantId: string, members: unknown): Set<string> {
    const ids = new Set<string>();
    for (const member of Array.isArray(members) ? (members as Json[]) : []) {
      const value = member['value'];
      if (typeof value !== 'string') throw new ScimError('ERR_SCIM_INVALID_VALUE', 'members[].value is required');
      if (member['type'] === 'Group') {
        throw new ScimError('ERR_SCIM_INVALID_VALUE', `member ${value}: nested groups are not supported`);
      }
      if (this.#directory.user(tenantId, value) === undefined) {
        throw new ScimError('ERR_SCIM_INVALID_VALUE', `member ${value} is not a user of this tenant`);
      }
      ids.add(value);
    }
    return ids;
  }

  // --- shared ----------------------------------------------------------------

  #change<K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data']): Change {
    return { v: 1, id: randomUUID(), tenant, at: this.#clock(), kind, data } as unknown as Change;
  }

  /**
   * Publishes a write that gives resource `id` the name `name`: claims the
   * name first (409 while another resource holds it), publishes expecting
   * the subject at `base`, then releases the name it had before. A failed
   * write releases the new claim once the stream shows it cannot land.
   */
  async #publishClaimed(
    tenantId: string,
    kind: ResourceKind,
    name: string,
    id: string,
    base: number,
    change: Change,
    previousName?: string,
  ): Promise<PublishedChange> {
    await this.#names.claim(tenantId, kind, name, id, base);
    let published: PublishedChange;
    try {
      published = await this.#changes.publish(change, { expectedLastSubjectSequence: base });
    } catch (error) {
      await this.#names.release(tenantId, kind, name, id);
      // A create whose id was fenced: another request took the name over while this one stalled.
      if (error instanceof SequenceConflictError && base === 0) throw nameTaken(kind, name);
      throw error;
    }
    if (previousName !== undefined) await this.#names.release(tenantId, kind, previousName, id);
    return published;
  }

  /**
   * Claims the names of every user and group the replica holds (see
   * {@link NameClaims.claimExisting}); run at start, once caught up.
   * Returns how many claims were written.
   */
  async claimExistingNames(tenantIds: readonly string[]): Promise<number> {
    const directory = this.#directory;
    function* resources(): Generator<NamedResource> {
      for (const tenantId of tenantIds) {
        for (const u of directory.users(tenantId)) {
          yield { tenantId, kind: 'User', id: u.id, name: u.userName, sequence: u.version?.sequence ?? 0 };
        }
        for (const g of directory.groups(tenantId)) {
          yield { tenantId, kind: 'Group', id: g.id, name: g.displayName, sequence: g.version?.sequence ?? 0 };
        }
      }
    }
    // Read in full first: the replica's iterators must not stay open across an await (the ingestor writes).
    return await this.#names.claimExisting([...resources()]);
  }

  async #publishExpecting(change: Change, sequence: number, ifMatch: string | undefined): Promise<PublishedChange> {
    try {
      return await this.#changes.publish(change, { expectedLastSubjectSequence: sequence });
    } catch (error) {
      // A delete that lost a race: with If-Match the client asked for exactly this version.
      if (error instanceof SequenceConflictError) throw preconditionFailed(ifMatch ?? '');
      throw error;
    }
  }

  /** Waits until the replica has applied `sequence` (read-your-writes), then renders the resource. */
  async #answer(
    kind: ResourceKind,
    context: ScimContext,
    id: string,
    sequence: number,
    status: 200 | 201,
  ): Promise<ScimResult> {
    await this.#sync(sequence);
    return { ...this.#respond(kind, context, id, status), sequence };
  }

  #respond(kind: ResourceKind, context: ScimContext, id: string, status: 200 | 201): ScimResult {
    const resource = this.#render(kind, context, id, { attributes: undefined, excluded: undefined });
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
      return project(USER_TYPE, userResource(user, groups, context), projection);
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
    return project(GROUP_TYPE, resource, projection);
  }

  #version(kind: ResourceKind, tenantId: string, id: string): number {
    const record = kind === 'User' ? this.#directory.user(tenantId, id) : this.#directory.group(tenantId, id);
    return record?.version?.sequence ?? 0;
  }

  /** Every resource of the tenant matching `filter`, in id order, as full SCIM JSON. */
  #search(kind: ResourceKind, context: ScimContext, filter: Filter): Json[] {
    const { tenantId } = context;
    const type = RESOURCE_TYPES[kind];
    const everything = { attributes: undefined, excluded: undefined };
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
      const resource = this.#render(kind, context, id, everything);
      if (resource !== undefined && matches(type, resource, filter)) found.push(resource);
    }
    return found;
  }

  /** The replica's view, before any claim: a cheap 409 for a name this replica already sees taken. */
  #requireUniqueUserName(tenantId: string, userName: string, self: string | undefined): void {
    if (userName.toLowerCase().startsWith(JIT_USER_NAME_PREFIX)) {
      const own = self === undefined ? undefined : this.#directory.user(tenantId, self)?.userName;
      // A user the sidecar provisioned at sign-in keeps its name; no IdP may give one out.
      if (own !== userName) {
        throw new ScimError(
          'ERR_SCIM_INVALID_VALUE',
          `userName "${userName}": names beginning "${JIT_USER_NAME_PREFIX}" are reserved for users provisioned at sign-in`,
        );
      }
    }
    if (this.#directory.userIdsByUserName(tenantId, userName).some((id) => id !== self)) {
      throw nameTaken('User', userName);
    }
  }

  #requireUniqueDisplayName(tenantId: string, displayName: string, self: string | undefined): void {
    if (this.#directory.groupIdsByDisplayName(tenantId, displayName).some((id) => id !== self)) {
      throw nameTaken('Group', displayName);
    }
  }

  #requireTenant(context: ScimContext): void {
    if (!this.#directory.hasTenant(context.tenantId)) {
      throw new ScimError('ERR_SCIM_UNAVAILABLE', `tenant "${context.tenantId}" is not provisioned yet; retry`);
    }
  }

  /** The read barrier: this replica has applied everything the stream held when the request arrived. */
  async #barrier(): Promise<void> {
    let position: number;
    try {
      position = await this.#streamPosition();
    } catch (cause) {
      throw new ScimError('ERR_SCIM_UNAVAILABLE', 'the state stream cannot be reached; retry', { cause });
    }
    await this.#sync(position);
  }

  async #sync(sequence: number): Promise<void> {
    if (!(await this.#replica.waitForSequence(sequence, this.#syncTimeoutMs))) {
      throw new ScimError('ERR_SCIM_UNAVAILABLE', 'this gateway is behind the state stream; retry');
    }
  }
}

function* idsOf(records: IterableIterator<{ id: string }>): Generator<string> {
  for (const record of records) yield record.id;
}

function ok(body: Json, etag?: string): ScimResult {
  return { status: 200, body, etag, location: undefined };
}

function notFound(kind: ResourceKind, id: string): ScimError {
  return new ScimError('ERR_SCIM_NOT_FOUND', `${kind} ${id} not found`);
}

function preconditionFailed(id: string): ScimError {
  return new ScimError('ERR_SCIM_PRECONDITION_FAILED', `resource ${id} changed since the version given in If-Match`);
}

/** `If-Match: W/"42"` (or `*`) against the entity's current sequence. */
function checkIfMatch(ifMatch: string | undefined, sequence: number): void {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(',').map((t) => t.trim());
  if (tags.includes('*')) return;
  const current = etagOf(sequence);
  const strong = current.slice(2);
  if (!tags.some((t) => t === current || t === strong)) {
    throw new ScimError(
      'ERR_SCIM_PRECONDITION_FAILED',
      `If-Match ${ifMatch} does not match the current version ${current}`,
    );
  }
}

function integerParameter(value: string | number | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n)) throw new ScimError('ERR_SCIM_INVALID_VALUE', `${name} must be an integer`);
  return n;
}
