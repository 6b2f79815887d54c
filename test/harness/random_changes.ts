/**
 * Random changes of every kind over a few ids of each kind, for property
 * tests: deterministic per seed, so a failure names its seed and step.
 */
import type { Change, ChangeKind, ChangeOf, PostureKind } from '../../src/changes/index.js';
import { change } from './changes.js';
import { random } from './random.js';

/** Few ids of each kind, so that changes keep meeting the same entities. */
export const TENANTS = ['a', 'b'] as const;
/** Most changes go to the first tenant: the second shows that they leave its reads alone. */
export const pickTenant = (next: () => number): (typeof TENANTS)[number] => (next() < 0.8 ? 'a' : 'b');
/**
 * Some with a lone surrogate: the codec makes it U+FFFD, and the delete marker and the reads name it as
 * written, which SQLite gives back otherwise.
 */
export const USERS = ['u1', 'u2', 'u3\uD800'];
export const GROUPS = ['g1', 'g2'];
/** `sid1` names a session id too: an identity read by sid joins a stored session of that id. */
export const SESSIONS = ['s1', 's2', 'sid1'];
export const SIDS = ['sid1', 'sid2\uDC00'];
export const ISSUERS = ['https://idp.example', 'https://other.example'];
export const SUBJECTS = ['sub1', 'sub2'];
export const DEVICES = ['d1', 'd2\uD800'];
const POSTURE_KINDS: readonly PostureKind[] = ['risk', 'account', 'device', 'credential'];
/** The app's resources: two types, ids shared between them, parents that may form cycles. */
export const RESOURCE_TYPES = ['record', 'folder'];
export const RESOURCES = ['r1', 'r2\uD800'];

type Generator<K extends ChangeKind> = (pick: <T>(from: readonly T[]) => T, time: () => number) => ChangeOf<K>['data'];

/** A random change of every kind (a kind added to CHANGE_DATA fails to compile here until it has one). */
export const GENERATORS: { readonly [K in ChangeKind]: Generator<K> } = {
  'tenant.upsert': (pick) => ({ display_name: pick(['A', 'B']) }),
  'tenant.delete': () => ({}),
  'user.upsert': (pick) => ({
    id: pick(USERS),
    user_name: pick(['x@example.com', 'y@example.com']),
    external_id: pick([null, 'ext']),
    active: pick([true, false]),
    attributes: pick([{}, { department: 'sales' }]),
    roles: pick([[], ['admin']]),
  }),
  'user.deactivate': (pick) => ({
    id: pick(USERS),
    user_name: 'x@example.com',
    external_id: null,
    active: false,
    attributes: {},
    roles: [],
  }),
  'user.delete': (pick) => ({ id: pick(USERS) }),
  'user.reauthenticate': (pick, time) => ({ user_id: pick(USERS), after: time() }),
  'user.sessions_revoke': (pick, time) => ({ user_id: pick(USERS), before: time(), reason: pick(['r1', 'r2']) }),
  'binding.upsert': (pick) => ({ issuer: pick(ISSUERS), subject: pick(SUBJECTS), user_id: pick(USERS) }),
  'binding.delete': (pick) => ({ issuer: pick(ISSUERS), subject: pick(SUBJECTS) }),
  'group.upsert': (pick) => ({ id: pick(GROUPS), display_name: pick(['G', 'H']), external_id: pick([null, 'e']) }),
  'group.delete': (pick) => ({ id: pick(GROUPS) }),
  'member.add': (pick) => ({ group_id: pick(GROUPS), user_id: pick(USERS) }),
  'member.remove': (pick) => ({ group_id: pick(GROUPS), user_id: pick(USERS) }),
  'session.start': (pick, time) => sessionData(pick, time),
  'session.revoke': (pick, time) => ({
    ...sessionData(pick, time),
    revoked_at: time(),
    revoke_reason: 'revoked',
  }),
  'token.revoke': (pick, time) => ({
    jti: pick(['j1', 'j2']),
    user_id: pick([null, ...USERS]),
    revoked_at: time(),
    expires_at: null,
  }),
  'sid.revoke': (pick, time) => ({
    issuer: pick([null, ...ISSUERS]),
    sid: pick(SIDS),
    revoked_at: time(),
    expires_at: time() + 100,
    reason: pick(['logout', 'caep']),
  }),
  'sessions.purge': (_pick, time) => ({ expired_before: time() }),
  'posture.set': (pick) => {
    const kind = pick(POSTURE_KINDS);
    return { kind, subject_id: pick(kind === 'device' ? DEVICES : USERS), state: { level: pick(['low', 'high']) } };
  },
  'posture.clear': (pick) => {
    const kind = pick(POSTURE_KINDS);
    return { kind, subject_id: pick(kind === 'device' ? DEVICES : USERS) };
  },
  'resource.upsert': (pick) => ({
    type: pick(RESOURCE_TYPES),
    id: pick(RESOURCES),
    attributes: pick([{}, { department: 'Legal' }]),
  }),
  'resource.delete': (pick) => ({ type: pick(RESOURCE_TYPES), id: pick(RESOURCES) }),
  'relation.add': (pick) => relationData(pick),
  'relation.remove': (pick) => relationData(pick),
};

function relationData(pick: <T>(from: readonly T[]) => T): ChangeOf<'relation.add'>['data'] {
  const relation = pick(['owner', 'viewer', 'parent']);
  const kind = relation === 'parent' ? 'resource' : pick(['user', 'group', 'resource'] as const);
  return {
    resource_type: pick(RESOURCE_TYPES),
    resource_id: pick(RESOURCES),
    relation,
    subject_kind: kind,
    subject_type: kind === 'resource' ? pick(RESOURCE_TYPES) : null,
    subject_id: pick(kind === 'user' ? USERS : kind === 'group' ? GROUPS : RESOURCES),
  };
}

function sessionData(pick: <T>(from: readonly T[]) => T, time: () => number): ChangeOf<'session.start'>['data'] {
  const created = time();
  return {
    id: pick(SESSIONS),
    user_id: pick(USERS),
    issuer: pick(ISSUERS),
    acr: pick([null, 'phr']),
    amr: ['hwk'],
    auth_time: created,
    expires_at: created + pick([5, 50]),
    created_at: created,
    revoked_at: null,
    revoke_reason: null,
    ip: null,
    device_id: pick([null, ...DEVICES]),
    ...(pick([true, false]) ? { idp_session_id: pick(SIDS) } : {}),
  };
}

/**
 * The kinds to draw from: a tenant-wide write (tenant, purge) drops every read of the tenant and would hide a
 * missed drop, so those come seldom; entity writes often.
 */
export const KINDS: readonly ChangeKind[] = (Object.keys(GENERATORS) as ChangeKind[]).flatMap((kind) =>
  kind.startsWith('tenant.') || kind === 'sessions.purge' ? [kind] : [kind, kind, kind, kind, kind, kind],
);

/** A walk of random changes from one seed. */
export class ChangeWalk {
  readonly next: () => number;

  constructor(seed: number) {
    this.next = random(seed);
  }

  pick<T>(from: readonly T[]): T {
    return from[Math.floor(this.next() * from.length)] as T;
  }

  /** A time (Unix s) in a short span, so that sessions, sign-outs and purges overlap. */
  time(): number {
    return 100 + Math.floor(this.next() * 100);
  }

  /** A random change of a random kind (tenant-wide kinds seldom). */
  change(): Change {
    const kind = this.pick(KINDS);
    return change(
      pickTenant(this.next),
      kind,
      GENERATORS[kind](
        (from) => this.pick(from),
        () => this.time(),
      ),
    );
  }
}
