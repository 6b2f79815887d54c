import { randomUUID } from 'node:crypto';
import type { GroupData } from '../changes/index.js';
import { groupDataOf } from '../store/index.js';
import type { GroupRecord } from '../store/index.js';
import { SequenceConflictError } from '../stream/index.js';
import { ScimError } from './errors.js';
import { foldName, nameTaken } from './name_claims.js';
import { applyPatch } from './patch.js';
import { groupDocument, groupStateOf, normalizeResource } from './resource.js';
import type { Json } from './resource.js';
import { RESOURCE_TYPES } from './schema.js';
import { checkIfMatch, noContent, notFound, preconditionFailed, WRITE_ATTEMPTS } from './scim_result.js';
import type { ScimContext, ScimResult } from './scim_result.js';
import { ResourceWriter } from './resource_writer.js';

const GROUP_TYPE = RESOURCE_TYPES.Group;

/** SCIM Group writes: the group's own state, then one change per membership added or removed. */
export class GroupWrites extends ResourceWriter {
  async create(context: ScimContext, body: unknown): Promise<ScimResult> {
    const scim = normalizeResource(GROUP_TYPE, body, { requireSchemas: true });
    const { tenantId } = context;
    await this.gate.enter(tenantId);
    const state = groupStateOf(scim);
    this.#requireUniqueDisplayName(tenantId, state.display_name, undefined);
    const members = this.#memberIds(tenantId, scim['members']);
    const id = randomUUID();
    const publisher = this.publisher;
    const data: GroupData = { id, ...state, created_at: publisher.now() };
    let last = (
      await publisher.publishNamed(
        tenantId,
        'Group',
        state.display_name,
        id,
        0,
        publisher.change(tenantId, 'group.upsert', data),
      )
    ).sequence;
    for (const userId of members) {
      last = await publisher.publish(tenantId, 'member.add', { group_id: id, user_id: userId });
    }
    this.logger.info({ tenant: tenantId, group_id: id, members: members.size, scim: 'create Group' }, 'SCIM write');
    return await this.reads.written('Group', context, id, last, 201);
  }

  async replace(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult> {
    const scim = normalizeResource(GROUP_TYPE, body, { requireSchemas: true });
    return await this.#update(context, id, ifMatch, 'replace', () => scim);
  }

  async patch(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult> {
    const result = await this.#update(context, id, ifMatch, 'patch', (current, members) =>
      normalizeResource(GROUP_TYPE, applyPatch(GROUP_TYPE, groupDocument(current, members), body), {
        requireSchemas: false,
      }),
    );
    // Microsoft Entra expects 204 for group PATCH; the state is applied either way.
    return { ...result, status: 204, body: undefined };
  }

  async delete(context: ScimContext, id: string, ifMatch: string | undefined): Promise<ScimResult> {
    const { tenantId } = context;
    await this.gate.enter(tenantId);
    const current = this.directory.group(tenantId, id);
    if (current === undefined) throw notFound('Group', id);
    const sequence = current.version?.sequence ?? 0;
    checkIfMatch(ifMatch, sequence);
    const members = this.directory.groupMembers(tenantId, id);
    const publisher = this.publisher;
    let last = (await publisher.publishIfMatch(publisher.change(tenantId, 'group.delete', { id }), sequence, ifMatch))
      .sequence;
    for (const m of members) {
      last = await publisher.publish(tenantId, 'member.remove', { group_id: id, user_id: m.id });
    }
    await publisher.releaseName(tenantId, 'Group', current.displayName, id);
    await this.gate.sync(last);
    this.logger.info({ tenant: tenantId, group_id: id, scim: 'delete Group' }, 'SCIM write');
    return noContent(last);
  }

  async #update(
    context: ScimContext,
    id: string,
    ifMatch: string | undefined,
    operation: 'replace' | 'patch',
    compute: (current: GroupRecord, members: { id: string; userName: string }[]) => Json,
  ): Promise<ScimResult> {
    const { tenantId } = context;
    const publisher = this.publisher;
    for (let attempt = 1; ; attempt++) {
      await this.gate.enter(tenantId);
      const current = this.directory.group(tenantId, id);
      if (current === undefined) throw notFound('Group', id);
      const sequence = current.version?.sequence ?? 0;
      checkIfMatch(ifMatch, sequence);
      const currentMembers = this.directory.groupMembers(tenantId, id);
      const next = compute(current, currentMembers);
      const state = groupStateOf(next);
      this.#requireUniqueDisplayName(tenantId, state.display_name, id);
      const wanted = this.#memberIds(tenantId, next['members']);
      const had = new Set(currentMembers.map((m) => m.id));
      try {
        let last = 0;
        // What the stream holds of the group, with what SCIM sets of it: fields a newer producer added stay.
        const before = groupDataOf(current);
        const after: GroupData = { ...before, ...state, created_at: before.created_at ?? publisher.now() };
        if (after.display_name !== before.display_name || after.external_id !== before.external_id) {
          const change = publisher.change(tenantId, 'group.upsert', after);
          last = (
            foldName(state.display_name) === foldName(current.displayName)
              ? await publisher.publishAt(change, sequence)
              : await publisher.publishNamed(
                  tenantId,
                  'Group',
                  state.display_name,
                  id,
                  sequence,
                  change,
                  current.displayName,
                )
          ).sequence;
        }
        for (const userId of wanted) {
          if (had.has(userId)) continue;
          last = await publisher.publish(tenantId, 'member.add', { group_id: id, user_id: userId });
        }
        for (const userId of had) {
          if (wanted.has(userId)) continue;
          last = await publisher.publish(tenantId, 'member.remove', { group_id: id, user_id: userId });
        }
        this.logger.info({ tenant: tenantId, group_id: id, scim: `${operation} Group` }, 'SCIM write');
        return last === 0
          ? this.reads.current('Group', context, id, 200)
          : await this.reads.written('Group', context, id, last, 200);
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
      if (this.directory.user(tenantId, value) === undefined) {
        throw new ScimError('ERR_SCIM_INVALID_VALUE', `member ${value} is not a user of this tenant`);
      }
      ids.add(value);
    }
    return ids;
  }

  #requireUniqueDisplayName(tenantId: string, displayName: string, self: string | undefined): void {
    if (this.directory.groupIdsByDisplayName(tenantId, displayName).some((other) => other !== self)) {
      throw nameTaken('Group', displayName);
    }
  }
}
