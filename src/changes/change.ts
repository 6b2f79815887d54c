/**
 * The normalized change: what every accepted input (SCIM write, SSF event,
 * sign-in) becomes before it is published to the `IPSIE_STATE` stream, and
 * what every sidecar applies to its store. JSON on the wire; see
 * docs/changes.md.
 *
 * Every message on an entity's subject carries that entity's *whole* state,
 * or a tombstone, and touches nothing else. The stream keeps one message per
 * subject, so the view is a function of the latest message of each subject:
 * a sidecar that applied changes live and one that replays the stream end
 * in the same state.
 */

/** The schema version this build writes and reads. */
export const CHANGE_VERSION = 1;

/**
 * What a posture record describes. `device` is keyed by device id, the
 * others by user id. `claims` and `credential` were added with the SSF
 * receiver (CAEP token-claims-change, credential-change).
 */
export type PostureKind = 'account' | 'assurance' | 'claims' | 'credential' | 'device' | 'risk';

/** Fields every change carries. Unknown top-level fields are kept as they are. */
export interface ChangeEnvelope {
  readonly v: typeof CHANGE_VERSION;
  /** Unique id of this change; the stream's `Nats-Msg-Id`, so a retried publish is stored once. */
  readonly id: string;
  readonly tenant: string;
  /** When the change was accepted, Unix milliseconds. */
  readonly at: number;
  /** Fields a newer producer added; kept, not interpreted. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface TenantData {
  readonly display_name: string;
}

export interface UserData {
  readonly id: string;
  readonly user_name: string;
  readonly external_id: string | null;
  readonly active: boolean;
  readonly attributes: Readonly<Record<string, unknown>>;
  readonly roles: readonly string[];
  /** When the user was first created, Unix ms; carried by every later message (absent: the change's `at`). */
  readonly created_at?: number;
  /** Fields of `data` this build does not know; stored with the record. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface GroupData {
  readonly id: string;
  readonly display_name: string;
  readonly external_id: string | null;
  /** When the group was first created, Unix ms (absent: the change's `at`). */
  readonly created_at?: number;
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface SessionData {
  readonly id: string;
  readonly user_id: string;
  readonly issuer: string;
  readonly acr: string | null;
  readonly amr: readonly string[];
  /** Unix seconds. */
  readonly auth_time: number | null;
  /** Unix seconds: the session ends here at the latest. */
  readonly expires_at: number;
  readonly created_at: number;
  readonly revoked_at: number | null;
  readonly revoke_reason: string | null;
  readonly ip: string | null;
  readonly device_id: string | null;
  /** The IdP's own session id (`sid`), which its logout and CAEP events name. */
  readonly idp_session_id?: string;
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface SidRevocationData {
  /** The IdP whose session it is; null: any IdP of the tenant (a CAEP transmitter is not the OpenID Provider). */
  readonly issuer: string | null;
  /** The IdP's session id, as its tokens carry it in `sid`. */
  readonly sid: string;
  /** Unix seconds. */
  readonly revoked_at: number;
  /** Unix seconds: every token and session authenticated before the revocation has expired by then. */
  readonly expires_at: number;
  readonly reason: string;
}

export type Change = ChangeEnvelope &
  (
    | { readonly kind: 'tenant.upsert'; readonly data: TenantData }
    | { readonly kind: 'tenant.delete'; readonly data: Record<string, never> }
    | { readonly kind: 'user.upsert'; readonly data: UserData }
    /** A `user.upsert` whose `active` is false, named for what happened. */
    | { readonly kind: 'user.deactivate'; readonly data: UserData }
    | { readonly kind: 'user.delete'; readonly data: { readonly id: string } }
    /** IPSIE SL2: sessions need an auth_time after `after` (Unix s). */
    | { readonly kind: 'user.reauthenticate'; readonly data: { readonly user_id: string; readonly after: number } }
    /** All of the user's sessions created at or before `before` (Unix s) are revoked. */
    | {
        readonly kind: 'user.sessions_revoke';
        readonly data: { readonly user_id: string; readonly before: number; readonly reason: string };
      }
    | {
        readonly kind: 'binding.upsert';
        readonly data: { readonly issuer: string; readonly subject: string; readonly user_id: string };
      }
    | { readonly kind: 'binding.delete'; readonly data: { readonly issuer: string; readonly subject: string } }
    | { readonly kind: 'group.upsert'; readonly data: GroupData }
    | { readonly kind: 'group.delete'; readonly data: { readonly id: string } }
    | { readonly kind: 'member.add'; readonly data: { readonly group_id: string; readonly user_id: string } }
    | { readonly kind: 'member.remove'; readonly data: { readonly group_id: string; readonly user_id: string } }
    | { readonly kind: 'session.start'; readonly data: SessionData }
    /** The session's whole state with `revoked_at` set. */
    | { readonly kind: 'session.revoke'; readonly data: SessionData }
    | {
        readonly kind: 'token.revoke';
        readonly data: {
          readonly jti: string;
          readonly user_id: string | null;
          readonly revoked_at: number;
          /** Unix seconds after which the token is invalid anyway. */
          readonly expires_at: number | null;
        };
      }
    /**
     * The IdP ended one of its sessions (`sid`): every stored session and
     * every token carrying it is revoked. Kept on the stream until
     * `expires_at` (see {@link retentionOf}), when no token or session
     * carrying the sid can still be valid.
     */
    | { readonly kind: 'sid.revoke'; readonly data: SidRevocationData }
    | {
        readonly kind: 'posture.set';
        readonly data: {
          readonly kind: PostureKind;
          readonly subject_id: string;
          readonly state: Readonly<Record<string, unknown>>;
        };
      }
    | { readonly kind: 'posture.clear'; readonly data: { readonly kind: PostureKind; readonly subject_id: string } }
  );

export type ChangeKind = Change['kind'];

/** A change of one kind. */
export type ChangeOf<K extends ChangeKind> = Extract<Change, { kind: K }>;

export const CHANGE_KINDS: readonly ChangeKind[] = [
  'tenant.upsert',
  'tenant.delete',
  'user.upsert',
  'user.deactivate',
  'user.delete',
  'user.reauthenticate',
  'user.sessions_revoke',
  'binding.upsert',
  'binding.delete',
  'group.upsert',
  'group.delete',
  'member.add',
  'member.remove',
  'session.start',
  'session.revoke',
  'token.revoke',
  'sid.revoke',
  'posture.set',
  'posture.clear',
];

export const POSTURE_KINDS: readonly PostureKind[] = ['account', 'assurance', 'claims', 'credential', 'device', 'risk'];

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
