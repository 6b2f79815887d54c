/**
 * What an application must react to at once: the end of a user's session,
 * or of the user. Derived from applied changes and streamed to apps by
 * `WatchSessions`, so they can drop their own sessions.
 */
export type SessionEventKind =
  'session_revoked' | 'user_sessions_revoked' | 'user_deactivated' | 'user_deleted' | 'reauthentication_required';

export interface SessionEvent {
  readonly kind: SessionEventKind;
  readonly tenantId: string;
  readonly userId: string;
  /** Set for `session_revoked`. */
  readonly sessionId: string | undefined;
  readonly reason: string;
  /** The stream sequence of the change that caused it. */
  readonly sequence: number;
  /** When the change was accepted, Unix ms. */
  readonly at: number;
}
