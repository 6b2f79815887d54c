/**
 * The app's resources and relations in the store, applied through the change applier as ingest does: the
 * relations of one resource (Check), the relations a user holds on it directly, through a group or through the
 * parent chain, the resources and users that search starts from, and parent cycles that are never looped on.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Change, ChangeOf } from '../../src/changes/index.js';
import { applyChange } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { change, user } from '../harness/changes.js';

type RelationData = ChangeOf<'relation.add'>['data'];

const T = 'acme';
const DEPTH = 8;

function rel(resource: string, relation: string, subject: string): RelationData {
  const [type = '', id = ''] = resource.split(':');
  const [kind = '', sid = ''] = subject.split(':');
  if (kind === 'user' || kind === 'group') {
    return {
      resource_type: type,
      resource_id: id,
      relation,
      subject_kind: kind,
      subject_type: null,
      subject_id: sid,
    };
  }
  return {
    resource_type: type,
    resource_id: id,
    relation,
    subject_kind: 'resource',
    subject_type: kind,
    subject_id: sid,
  };
}

let store: EntitlementStore;
let sequence = 0;

function apply(...changes: Change[]): void {
  store.transaction(() => {
    for (const c of changes) applyChange(store, c, ++sequence);
    store.setAppliedSequence(sequence);
  });
}

beforeEach(() => {
  store = EntitlementStore.open(':memory:');
  sequence = 0;
  apply(
    change(T, 'tenant.upsert', { display_name: 'Acme' }),
    change('other', 'tenant.upsert', { display_name: 'Other' }),
    user(T, 'alice'),
    user(T, 'bob'),
    user(T, 'carol'),
    change(T, 'group.upsert', { id: 'legal', display_name: 'Legal', external_id: null }),
    change(T, 'member.add', { group_id: 'legal', user_id: 'bob' }),
    change(T, 'resource.upsert', { type: 'folder', id: 'f1', attributes: { name: 'Plays' } }),
    change(T, 'resource.upsert', { type: 'record', id: '101', attributes: { title: 'Hamlet' } }),
    change(T, 'resource.upsert', { type: 'record', id: '102', attributes: { title: 'Othello' } }),
    change(T, 'relation.add', rel('record:101', 'owner', 'user:alice')),
    change(T, 'relation.add', rel('record:102', 'parent', 'folder:f1')),
    change(T, 'relation.add', rel('folder:f1', 'viewer', 'group:legal')),
  );
});

afterEach(() => {
  store.close();
});

describe('resources and relations in the store', () => {
  it('reads a resource whole, with its version, and its relations in key order', () => {
    expect(store.resource(T, 'record', '101')).toMatchObject({
      type: 'record',
      id: '101',
      attributes: { title: 'Hamlet' },
    });
    expect(store.resource(T, 'record', '101')?.version?.sequence).toBeGreaterThan(0);
    expect(store.relationsOf(T, 'record', '102', 10)).toEqual([
      {
        tenantId: T,
        resourceType: 'record',
        resourceId: '102',
        relation: 'parent',
        subject: { kind: 'resource', type: 'folder', id: 'f1' },
      },
    ]);
    expect(store.relationCount(T, 'folder', 'f1')).toBe(1);
  });

  it('finds the relations a user holds directly, through a group, and down the parent chain', () => {
    expect(store.subjectRelations(T, 'alice', 'record', '101', DEPTH)).toEqual(['owner']);
    // bob is in legal, which views the folder that is 102's parent.
    expect(store.subjectRelations(T, 'bob', 'record', '102', DEPTH)).toEqual(['viewer']);
    expect(store.subjectRelations(T, 'carol', 'record', '102', DEPTH)).toEqual([]);
    // Depth 0: the resource's own relations only.
    expect(store.subjectRelations(T, 'bob', 'record', '102', 0)).toEqual([]);
  });

  it('a group membership removed, or the group deleted, grants nothing any more', () => {
    apply(change(T, 'group.delete', { id: 'legal' }));
    expect(store.subjectRelations(T, 'bob', 'record', '102', DEPTH)).toEqual([]);
    expect(
      store.resourceIdsRelatedTo(T, 'bob', { type: 'record', relation: undefined, after: '', limit: 10 }, DEPTH),
    ).toEqual([]);
  });

  it('lists the resources of a type a user holds a relation on, keyset paged in id order', () => {
    apply(change(T, 'relation.add', rel('record:103', 'parent', 'folder:f1')));
    const page = (after: string): string[] =>
      store.resourceIdsRelatedTo(T, 'bob', { type: 'record', relation: 'viewer', after, limit: 1 }, DEPTH);
    expect(page('')).toEqual(['102']);
    expect(page('102')).toEqual(['103']);
    expect(page('103')).toEqual([]);
    expect(
      store.resourceIdsRelatedTo(T, 'alice', { type: 'record', relation: 'viewer', after: '', limit: 10 }, DEPTH),
    ).toEqual([]);
    expect(
      store.resourceIdsRelatedTo(T, 'alice', { type: 'record', relation: undefined, after: '', limit: 10 }, DEPTH),
    ).toEqual(['101']);
  });

  it('lists the users related to a resource, named or through a group, on it or an ancestor', () => {
    apply(change(T, 'member.add', { group_id: 'legal', user_id: 'carol' }));
    expect(store.userIdsRelatedTo(T, { type: 'record', id: '102' }, { after: '', limit: 10 }, DEPTH)).toEqual([
      'bob',
      'carol',
    ]);
    expect(store.userIdsRelatedTo(T, { type: 'record', id: '102' }, { after: 'bob', limit: 10 }, DEPTH)).toEqual([
      'carol',
    ]);
    expect(store.userIdsRelatedTo(T, { type: 'record', id: '101' }, { after: '', limit: 10 }, DEPTH)).toEqual([
      'alice',
    ]);
  });

  it('never loops on a parent cycle that reached the store: every read ends within its depth', () => {
    apply(
      change(T, 'relation.add', rel('folder:f1', 'parent', 'folder:f2')),
      change(T, 'relation.add', rel('folder:f2', 'parent', 'folder:f1')),
    );
    expect(store.subjectRelations(T, 'bob', 'record', '102', 1_000)).toEqual(['viewer']);
    expect(store.subjectRelations(T, 'carol', 'folder', 'f2', 1_000)).toEqual([]);
    expect(
      store.resourceIdsRelatedTo(T, 'bob', { type: 'folder', relation: undefined, after: '', limit: 10 }, 1_000),
    ).toEqual(['f1', 'f2']);
    expect(store.userIdsRelatedTo(T, { type: 'folder', id: 'f2' }, { after: '', limit: 10 }, 1_000)).toEqual(['bob']);
  });

  it('keeps tenants apart: the same ids in another tenant hold nothing', () => {
    expect(store.resource('other', 'record', '101')).toBeUndefined();
    expect(store.subjectRelations('other', 'alice', 'record', '101', DEPTH)).toEqual([]);
    expect(store.relationsOf('other', 'record', '102', 10)).toEqual([]);
  });

  it('a relation removed and a resource deleted are gone; the deletion does not cascade', () => {
    apply(
      change(T, 'relation.remove', rel('record:101', 'owner', 'user:alice')),
      change(T, 'resource.delete', { type: 'record', id: '102' }),
    );
    expect(store.subjectRelations(T, 'alice', 'record', '101', DEPTH)).toEqual([]);
    expect(store.resource(T, 'record', '102')).toBeUndefined();
    // The producer publishes the relations' tombstones; the store deletes only what a change names.
    expect(store.relationCount(T, 'record', '102')).toBe(1);
  });

  it('pages resources of a type in id order after a key', () => {
    expect(store.resourcesAfter(T, 'record', '', 1).map((r) => r.id)).toEqual(['101']);
    expect(store.resourcesAfter(T, 'record', '101', 10).map((r) => r.id)).toEqual(['102']);
    expect(store.resourcesAfter(T, 'folder', '', 10).map((r) => r.id)).toEqual(['f1']);
  });
});
