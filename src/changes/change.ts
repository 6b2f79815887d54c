import { z } from 'zod';
import { isTenantKey, TENANT_KEY_PATTERN, TENANT_KEY_RULE } from '../tenant_id.js';

/**
 * The normalized change: what every accepted input (SCIM write, SSF event,
 * sign-in) becomes before it is published to the `IPSIE_STATE` stream, and
 * what every sidecar applies to its store. JSON on the wire; see
 * docs/changes.md, and docs/schemas/change.schema.json generated from the
 * schemas below.
 *
 * Every message on an entity's subject carries that entity's *whole* state,
 * or a tombstone, and touches nothing else. The stream keeps one message per
 * subject, so the view is a function of the latest message of each subject:
 * a sidecar that applied changes live and one that replays the stream end
 * in the same state.
 */

/** The schema version this build writes and reads. */
export const CHANGE_VERSION = 1;

/** Ids, names and keys are bounded so one message cannot bloat every store. */
export const MAX_ID = 256;
export const MAX_TEXT = 4096;
/** A sealed profile: its attributes with room for the cipher's overhead. */
export const MAX_SEALED = 1_048_576;

/**
 * What a posture record describes, and what it is keyed by: the one list
 * every store query, decoder and document derives from. `claims` and
 * `credential` came with the SSF receiver.
 */
export const POSTURE_KIND_REGISTRY = {
  account: { keyedBy: 'user', source: 'RISC account-disabled / account-enabled' },
  assurance: { keyedBy: 'user', source: 'CAEP assurance-level-change, per namespace, with decreased_at' },
  claims: { keyedBy: 'user', source: 'CAEP token-claims-change' },
  credential: {
    keyedBy: 'user',
    source: 'CAEP credential-change, RISC credential-compromise and account-credential-change-required',
  },
  device: { keyedBy: 'device', source: 'CAEP device-compliance-change, device risk-level-change' },
  risk: { keyedBy: 'user', source: 'CAEP risk-level-change of the user or session' },
} as const satisfies Record<string, { keyedBy: 'user' | 'device'; source: string }>;

export type PostureKind = keyof typeof POSTURE_KIND_REGISTRY;

export const POSTURE_KINDS = Object.keys(POSTURE_KIND_REGISTRY) as readonly PostureKind[];

/** Posture kinds keyed by user id: what a subject read joins for the user. */
export const USER_POSTURE_KINDS: readonly PostureKind[] = POSTURE_KINDS.filter(
  (kind) => POSTURE_KIND_REGISTRY[kind].keyedBy === 'user',
);

// Field types, each with the words a rejection uses for it.
const text = (max = MAX_TEXT): z.ZodString =>
  z
    .string({ error: 'must be a non-empty string' })
    .min(1, { error: 'must be a non-empty string' })
    .max(max, { error: `must be at most ${max} characters` });
const id = (): z.ZodString => text(MAX_ID);
const seconds = (): z.ZodInt =>
  z
    .int({ error: 'must be a non-negative integer (Unix seconds)' })
    .min(0, { error: 'must be a non-negative integer (Unix seconds)' });
const millis = (): z.ZodInt =>
  z
    .int({ error: 'must be a non-negative integer (Unix ms)' })
    .min(0, { error: 'must be a non-negative integer (Unix ms)' });
const object = (): z.ZodRecord<z.ZodString, z.ZodUnknown> =>
  z.record(z.string(), z.unknown(), { error: 'must be an object' });
const strings = (): z.ZodArray<z.ZodString> =>
  z.array(
    z
      .string({ error: 'must be an array of strings' })
      .max(MAX_TEXT, { error: `must be an array of strings of at most ${MAX_TEXT} characters` }),
    { error: 'must be an array of strings' },
  );
/** A value sealed under a tenant's data key (src/tenant_keys): `s1.<key id>.<iv>.<ciphertext>`. */
const sealedText = (): z.ZodString =>
  z
    .string({ error: 'must be a sealed value' })
    .regex(/^s1\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, { error: 'must be a sealed value' })
    .max(MAX_SEALED, { error: `must be at most ${MAX_SEALED} characters` });
/** Absent reads as null, as older producers left such fields out. */
const orNull = <T extends z.ZodType>(schema: T): z.ZodDefault<z.ZodNullable<T>> => schema.nullable().default(null);

const postureKind = z.enum(POSTURE_KINDS as [PostureKind, ...PostureKind[]], {
  error: `must be one of ${POSTURE_KINDS.join(', ')}`,
});

const userData = z.object({
  id: id(),
  user_name: text(),
  external_id: orNull(text()),
  active: z.boolean({ error: 'must be a boolean' }),
  attributes: object().describe('profile attributes the policy may use (department, title, ...)'),
  roles: strings().describe('SCIM roles values'),
  created_at: millis().optional().describe('when the user was first created, Unix ms (absent: the change at)'),
  sealed: sealedText()
    .optional()
    .describe(
      "the tenant's customer-managed key seals user_name, external_id, attributes and extra here; those fields then hold lookup hashes (docs/keys.md)",
    ),
});

const groupData = z.object({
  id: id(),
  display_name: text(),
  external_id: orNull(text()),
  created_at: millis().optional().describe('when the group was first created, Unix ms (absent: the change at)'),
});

const sessionData = z.object({
  id: id(),
  user_id: id(),
  issuer: text().describe('the IdP that asserted the session'),
  acr: orNull(text()),
  amr: strings(),
  auth_time: orNull(seconds()),
  expires_at: seconds().describe('the session ends here at the latest (IPSIE SL1: from the assertion)'),
  created_at: seconds(),
  revoked_at: orNull(seconds()),
  revoke_reason: orNull(text()),
  ip: orNull(text(MAX_ID)),
  device_id: orNull(id()),
  idp_session_id: id().optional().describe("the IdP's own session id (sid), which its logout and CAEP events name"),
  sealed: sealedText()
    .optional()
    .describe("the tenant's customer-managed key seals ip here; ip is then null (docs/keys.md)"),
});

const sidRevocationData = z.object({
  issuer: orNull(text()).describe('the IdP whose session it is; null: any IdP of the tenant'),
  sid: id().describe("the IdP's session id, as its tokens carry it in sid"),
  revoked_at: seconds(),
  expires_at: seconds().describe('every token and session authenticated before the revocation has expired by then'),
  reason: text(),
});

/**
 * Names of the app's resource types and relations: short, plain, and never `user` or `group` for a type
 * (a relation's subject of those kinds is a user or a group of the directory, not a resource).
 */
export const RESOURCE_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;
export const RESOURCE_NAME_RULE = 'a letter, then up to 63 letters, digits, _ . : or -';
/** The relation whose subject is the resource's parent: relations held on the parent hold on the child. */
export const PARENT_RELATION = 'parent';
/** What a relation's subject is: a user or a group of the directory, or another resource of the app. */
export const RELATION_SUBJECT_KINDS = ['user', 'group', 'resource'] as const;
export type RelationSubjectKind = (typeof RELATION_SUBJECT_KINDS)[number];

const resourceName = (): z.ZodString =>
  z
    .string({ error: `must be ${RESOURCE_NAME_RULE}` })
    .regex(RESOURCE_NAME_PATTERN, { error: `must be ${RESOURCE_NAME_RULE}` });

const resourceRef = z.object({
  type: resourceName().describe("the app's resource type (record, document, folder, ...)"),
  id: id(),
});

/**
 * One relation tuple: `resource -relation-> subject`. Its whole state is the tuple itself, so a
 * `relation.add` and a `relation.remove` on its subject are the whole entity and its tombstone.
 */
const relationData = z
  .object({
    resource_type: resourceName(),
    resource_id: id(),
    relation: resourceName().describe(`owner, viewer, ${PARENT_RELATION}, ...`),
    subject_kind: z.enum(RELATION_SUBJECT_KINDS, { error: `must be one of ${RELATION_SUBJECT_KINDS.join(', ')}` }),
    subject_type: orNull(resourceName()).describe('the resource type of a resource subject; null for a user or group'),
    subject_id: id(),
  })
  .check((ctx) => {
    const { subject_kind: kind, subject_type: type, relation } = ctx.value;
    if ((kind === 'resource') !== (type !== null)) {
      ctx.issues.push({
        code: 'custom',
        message: 'must be set for a resource subject and null for a user or group',
        path: ['subject_type'],
        input: type,
      });
    }
    if (relation === PARENT_RELATION && kind !== 'resource') {
      ctx.issues.push({
        code: 'custom',
        message: `must be resource for the ${PARENT_RELATION} relation`,
        path: ['subject_kind'],
        input: kind,
      });
    }
  });

const userRef = z.object({ user_id: id() });
const membership = z.object({ group_id: id(), user_id: id() });

/**
 * Each change kind and the schema of its `data`: the registry the decoder,
 * the `Change` type, `CHANGE_KINDS` and the published JSON Schema derive from.
 */
export const CHANGE_DATA = {
  'tenant.upsert': z.object({ display_name: text() }),
  'tenant.delete': z.object({}),
  'user.upsert': userData,
  'user.deactivate': userData
    .extend({ active: z.literal(false, { error: 'must be false for user.deactivate' }) })
    .describe('a user.upsert whose active is false, named for what happened'),
  'user.delete': z.object({ id: id() }),
  'user.reauthenticate': userRef
    .extend({ after: seconds() })
    .describe('IPSIE SL2: sessions need an auth_time after `after`'),
  'user.sessions_revoke': userRef
    .extend({ before: seconds(), reason: text() })
    .describe('every session of the user created at or before `before` is revoked'),
  'binding.upsert': z.object({ issuer: text(), subject: id(), user_id: id() }),
  'binding.delete': z.object({ issuer: text(), subject: id() }),
  'group.upsert': groupData,
  'group.delete': z.object({ id: id() }),
  'member.add': membership,
  'member.remove': membership,
  'session.start': sessionData,
  'session.revoke': sessionData
    .extend({ revoked_at: seconds().meta({ description: 'required for session.revoke' }) })
    .describe("the session's whole state with revoked_at set"),
  'token.revoke': z.object({
    jti: id(),
    user_id: orNull(id()),
    revoked_at: seconds(),
    expires_at: orNull(seconds()).describe('the token is invalid after this anyway'),
  }),
  'sid.revoke': sidRevocationData.describe(
    'the IdP ended one of its sessions: every stored session and token carrying the sid is revoked; kept until expires_at',
  ),
  'sessions.purge': z
    .object({
      expired_before: seconds().describe(
        'every session of the tenant whose expires_at is before this goes, revoked or not; later purges never lower it',
      ),
    })
    .describe(
      "the gateway's periodic purge of ended sessions: applied by every sidecar alike, so replay and digests agree",
    ),
  'posture.set': z.object({
    kind: postureKind,
    subject_id: id(),
    state: object(),
    sealed: sealedText()
      .optional()
      .describe("the tenant's customer-managed key seals the state here; state is then {} (docs/keys.md)"),
  }),
  'posture.clear': z.object({ kind: postureKind, subject_id: id() }),
  'resource.upsert': resourceRef
    .extend({
      attributes: object().describe(
        'what the app says about the resource (title, department, ...): the policy sees it',
      ),
    })
    .describe("one of the app's resources, whole"),
  'resource.delete': resourceRef.describe('the resource is gone; its relations have tombstones of their own'),
  'relation.add': relationData.describe('resource -relation-> user | group | resource'),
  'relation.remove': relationData.describe('the tombstone of one relation tuple'),
} as const satisfies Record<string, z.ZodObject>;

export type ChangeKind = keyof typeof CHANGE_DATA;

export const CHANGE_KINDS = Object.keys(CHANGE_DATA) as readonly ChangeKind[];

/** Read-only all the way down: a decoded change is never edited in place. */
type Frozen<T> = T extends readonly (infer E)[]
  ? readonly Frozen<E>[]
  : T extends object
    ? { readonly [K in keyof T]: Frozen<T[K]> }
    : T;

/** Fields a newer producer added; kept, not interpreted, written back by `encodeChange`. */
interface Extra {
  readonly extra?: Readonly<Record<string, unknown>>;
}

/** The `data` of one kind, as decoded. */
export type DataOf<K extends ChangeKind> = Frozen<z.output<(typeof CHANGE_DATA)[K]>> & Extra;

export type UserData = DataOf<'user.upsert'>;
export type GroupData = DataOf<'group.upsert'>;
export type SessionData = DataOf<'session.start'>;
export type SidRevocationData = DataOf<'sid.revoke'>;
export type ResourceData = DataOf<'resource.upsert'>;
export type RelationData = DataOf<'relation.add'>;

/** Fields every change carries. Unknown top-level fields are kept as they are. */
export interface ChangeEnvelope extends Extra {
  readonly v: typeof CHANGE_VERSION;
  /** Unique id of this change; the stream's `Nats-Msg-Id`, so a retried publish is stored once. */
  readonly id: string;
  readonly tenant: string;
  /** When the change was accepted, Unix milliseconds. */
  readonly at: number;
}

export type Change = {
  [K in ChangeKind]: ChangeEnvelope & { readonly kind: K; readonly data: DataOf<K> };
}[ChangeKind];

/** A change of one kind. */
export type ChangeOf<K extends ChangeKind> = Extract<Change, { kind: K }>;

/** The envelope's fields other than `v` and `kind`, which the decoder checks first for their own codes. */
export const changeEnvelopeSchema = z.object({
  id: text(MAX_ID).describe('unique id of this change; the Nats-Msg-Id, so a retried publish is stored once'),
  tenant: z
    .string({ error: `must be ${TENANT_KEY_RULE}` })
    .regex(TENANT_KEY_PATTERN, { error: `must be ${TENANT_KEY_RULE}` })
    .refine(isTenantKey, { error: `must be ${TENANT_KEY_RULE}` }),
  at: millis().describe('when the change was accepted, Unix ms'),
  data: object(),
});

/** The JSON Schema of one change message (docs/schemas/change.schema.json). */
export function changeJsonSchema(): Record<string, unknown> {
  const variants = CHANGE_KINDS.map((kind) =>
    changeEnvelopeSchema.extend({ v: z.literal(CHANGE_VERSION), kind: z.literal(kind), data: CHANGE_DATA[kind] }),
  );
  const schema = z
    .discriminatedUnion('kind', variants as unknown as [(typeof variants)[number], ...(typeof variants)[number][]])
    .meta({
      title: 'IPSIE_STATE change',
      description:
        'One message of the IPSIE_STATE stream (version 1). Unknown fields, at the top and in data, are kept by consumers (extra) and written back.',
    });
  return z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' });
}

/**
 * How long the stream keeps a change, in s: its message carries this TTL
 * and JetStream replaces it with a delete marker when it runs out, which
 * every consumer applies as the record's deletion. `undefined`: kept until a
 * later message of the same entity replaces it.
 */
export function retentionOf(change: Change): number | undefined {
  if (change.kind !== 'sid.revoke') return undefined;
  return Math.max(1, change.data.expires_at - Math.floor(change.at / 1000));
}

/**
 * userNames of users a sidecar provisions at first sign-in without a verified
 * e-mail (`jit:<user id>`): reserved, so that no IdP can provision one over
 * SCIM and no sign-in can take one an IdP provisioned.
 */
export const JIT_USER_NAME_PREFIX = 'jit:';
