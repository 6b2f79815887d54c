import { randomUUID } from 'node:crypto';
import type { UserData } from '../changes/index.js';
import { JIT_USER_NAME_PREFIX } from '../changes/index.js';
import { userDataOf } from '../store/index.js';
import type { UserRecord } from '../store/index.js';
import { SequenceConflictError } from '../stream/index.js';
import { ScimError } from './errors.js';
import { foldName, nameTaken } from './name_claims.js';
import { applyPatch } from './patch.js';
import { normalizeResource, userDocument, userStateOf } from './resource.js';
import type { Json } from './resource.js';
import { RESOURCE_TYPES } from './schema.js';
import { checkIfMatch, noContent, notFound, preconditionFailed, WRITE_ATTEMPTS } from './scim_result.js';
import type { ScimContext, ScimResult } from './scim_result.js';
import { ResourceWriter } from './resource_writer.js';

const USER_TYPE = RESOURCE_TYPES.User;

/** SCIM User writes: each publishes the user's whole state, and a deactivation ends the user's sessions. */
export class UserWrites extends ResourceWriter {
  async create(context: ScimContext, body: unknown): Promise<ScimResult> {
    const scim = normalizeResource(USER_TYPE, body, { requireSchemas: true });
    this.catalogs.checkUser(context.tenantId, scim);
    const { state, active } = userStateOf(scim);
    await this.gate.enter(context.tenantId);
    this.#requireUniqueUserName(context.tenantId, state.user_name, undefined);
    const id = randomUUID();
    // A new account is active unless the IdP says otherwise.
    const data: UserData = { id, ...state, active: active ?? true, created_at: this.publisher.now() };
    const published = await this.publisher.publishNamed(
      context.tenantId,
      'User',
      state.user_name,
      id,
      0,
      this.publisher.change(context.tenantId, 'user.upsert', data),
    );
    this.logger.info({ tenant: context.tenantId, user_id: id, scim: 'create User' }, 'SCIM write');
    return await this.reads.written('User', context, id, published.sequence, 201);
  }

  async replace(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult> {
    const scim = normalizeResource(USER_TYPE, body, { requireSchemas: true });
    this.catalogs.checkUser(context.tenantId, scim);
    return await this.#update(context, id, ifMatch, 'replace', () => scim);
  }

  async patch(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult> {
    return await this.#update(context, id, ifMatch, 'patch', (current) => {
      const scim = normalizeResource(USER_TYPE, applyPatch(USER_TYPE, userDocument(current), body), {
        requireSchemas: false,
      });
      this.catalogs.checkUser(context.tenantId, scim);
      return scim;
    });
  }

  async delete(context: ScimContext, id: string, ifMatch: string | undefined): Promise<ScimResult> {
    const { tenantId } = context;
    await this.gate.enter(tenantId);
    const current = this.directory.user(tenantId, id);
    if (current === undefined) throw notFound('User', id);
    const sequence = current.version?.sequence ?? 0;
    checkIfMatch(ifMatch, sequence);
    const memberships = this.directory.membershipGroupIds(tenantId, id);
    const bindings = this.directory.bindingsOfUser(tenantId, id);
    // The user first, so access ends with the first stored change; then the
    // tombstones that keep a re-created id from inheriting anything.
    const publisher = this.publisher;
    let last = (await publisher.publishIfMatch(publisher.change(tenantId, 'user.delete', { id }), sequence, ifMatch))
      .sequence;
    for (const groupId of memberships) {
      last = await publisher.publish(tenantId, 'member.remove', { group_id: groupId, user_id: id });
    }
    for (const { issuer, subject } of bindings) {
      last = await publisher.publish(tenantId, 'binding.delete', { issuer, subject });
    }
    await publisher.releaseName(tenantId, 'User', current.userName, id);
    await this.gate.sync(last);
    this.logger.info({ tenant: tenantId, user_id: id, scim: 'delete User' }, 'SCIM write');
    return noContent(last);
  }

  async #update(
    context: ScimContext,
    id: string,
    ifMatch: string | undefined,
    operation: 'replace' | 'patch',
    compute: (current: UserRecord) => Json,
  ): Promise<ScimResult> {
    const { tenantId } = context;
    const publisher = this.publisher;
    for (let attempt = 1; ; attempt++) {
      await this.gate.enter(tenantId);
      const current = this.directory.user(tenantId, id);
      if (current === undefined) throw notFound('User', id);
      const sequence = current.version?.sequence ?? 0;
      checkIfMatch(ifMatch, sequence);
      const { state, active: assigned } = userStateOf(compute(current));
      // Nothing but an explicit `active: true` activates: a PUT without `active` keeps the current
      // value; a PATCH that removes it (or sets it to null) leaves the account inactive.
      const active = assigned ?? (operation === 'replace' ? current.active : false);
      this.#requireUniqueUserName(tenantId, state.user_name, id);
      // What the stream holds of the user, with what SCIM sets of it: fields a newer producer added stay.
      const before = userDataOf(current);
      const after: UserData = { ...before, ...state, active, created_at: before.created_at ?? publisher.now() };
      if (JSON.stringify(after) === JSON.stringify({ ...before, created_at: after.created_at })) {
        return this.reads.current('User', context, id, 200);
      }
      const deactivated = current.active && !active;
      const change = publisher.change(tenantId, active ? 'user.upsert' : 'user.deactivate', after);
      try {
        const published =
          foldName(state.user_name) === foldName(current.userName)
            ? await publisher.publishAt(change, sequence)
            : await publisher.publishNamed(tenantId, 'User', state.user_name, id, sequence, change, current.userName);
        let last = published.sequence;
        if (deactivated) {
          // IPSIE AL1: deactivation ends every session at once, and for good:
          // reactivating the account does not bring them back.
          last = await publisher.publish(tenantId, 'user.sessions_revoke', {
            user_id: id,
            before: Math.floor(publisher.now() / 1000),
            reason: 'account deactivated',
          });
        }
        this.logger.info({ tenant: tenantId, user_id: id, scim: `${operation} User`, deactivated }, 'SCIM write');
        return await this.reads.written('User', context, id, last, 200);
      } catch (error) {
        if (!(error instanceof SequenceConflictError) || ifMatch !== undefined || attempt >= WRITE_ATTEMPTS) {
          throw error instanceof SequenceConflictError ? preconditionFailed(id) : error;
        }
      }
    }
  }

  /** The replica's view, before any claim: a cheap 409 for a name this replica already sees taken. */
  #requireUniqueUserName(tenantId: string, userName: string, self: string | undefined): void {
    if (userName.toLowerCase().startsWith(JIT_USER_NAME_PREFIX)) {
      const own = self === undefined ? undefined : this.directory.user(tenantId, self)?.userName;
      // A user the sidecar provisioned at sign-in keeps its name; no IdP may give one out.
      if (own !== userName) {
        throw new ScimError(
          'ERR_SCIM_INVALID_VALUE',
          `userName "${userName}": names beginning "${JIT_USER_NAME_PREFIX}" are reserved for users provisioned at sign-in`,
        );
      }
    }
    if (this.directory.userIdsByUserName(tenantId, userName).some((other) => other !== self)) {
      throw nameTaken('User', userName);
    }
  }
}
