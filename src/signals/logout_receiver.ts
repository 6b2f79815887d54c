import { randomUUID } from 'node:crypto';
import { acceptedSetSubject, AuditRecordExistsError } from '../audit/index.js';
import type { AuditRecord } from '../audit/index.js';
import type { Change } from '../changes/index.js';
import type { TenantSettings } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { DirectoryReader, EntitlementReader } from '../store/index.js';
import type { ChangeSink } from '../stream/index.js';
import { publishClaimed } from './claimed_publish.js';
import type { SetArchive } from './claimed_publish.js';
import { LogoutTokenRefusedError, LogoutUnavailableError, SetRefusedError } from './errors.js';
import { BACKCHANNEL_LOGOUT_EVENT } from './logout_token_verifier.js';
import type { LogoutTokenVerifier, VerifiedLogoutToken } from './logout_token_verifier.js';
import {
  applicable,
  changeMaker,
  revokedSessions,
  sidRevocation,
  sidRevocationLifetimeS,
  signedOut,
} from './signal_effects.js';

/** What a logout needs to read: the sessions of a sid, the user an IdP identity is bound to. */
export type LogoutDirectory = Pick<DirectoryReader, 'sessionsByIdpSessionId'> & Pick<EntitlementReader, 'readSubject'>;

export interface AcceptedLogout {
  readonly jti: string;
  readonly issuer: string;
  /** How many changes it caused. */
  readonly changes: number;
  /** The stream sequence of its last change; 0 when it changed nothing. */
  readonly sequence: number;
}

export interface LogoutReceiverOptions {
  readonly tenants: readonly TenantSettings[];
  readonly verifier: LogoutTokenVerifier;
  readonly directory: LogoutDirectory;
  readonly changes: ChangeSink;
  readonly archive: SetArchive;
  readonly logger: Logger;
  /**
   * Resolves once `directory` holds everything the state stream held when it
   * was called, so a session that began a moment ago on another replica is found.
   *
   * @throws {Error} the replica could not catch up in time
   */
  readonly readBarrier?: () => Promise<void>;
  /** Told of every logout's outcome: `accepted`, `invalid_request` or `unavailable` (metrics). */
  readonly onOutcome?: (tenant: string, result: string) => void;
  /** Tolerated clock difference with IdPs, in s. @defaultValue 60 */
  readonly clockToleranceS?: number;
  /** Unix s. */
  readonly clock?: () => number;
}

const REASON = 'logged out at the identity provider (back-channel logout)';
const SAML_REASON = 'logged out at the identity provider (SAML Single Logout)';

/**
 * A logout another protocol's verifier accepted (a signed SAML LogoutRequest): the same effects as a logout
 * token - the sessions of its IdP sessions revoked (and those ids remembered), else every session of the subject.
 */
export interface IdpLogout {
  readonly tenantId: string;
  readonly issuer: string;
  /** The IdP's longest session: how long a revoked IdP session id is remembered. */
  readonly maxSessionLifetimeS: number;
  /** The logout message's id: accepted once across replicas. */
  readonly id: string;
  /** Unix s. */
  readonly issuedAt: number;
  /** The IdP sessions logged out (SessionIndex); empty: every session of `subject`. */
  readonly sessionIds: readonly string[];
  /** The IdP's subject (NameID). */
  readonly subject: string;
}

/**
 * The OpenID Connect Back-Channel Logout 1.0 receiver (the RP side, §2.6-2.8):
 * verifies the logout token, revokes the stored sessions of its `sid` (of
 * that IdP) and records the sid's revocation so tokens carrying it are
 * denied, or, with a `sub` alone, signs that user out of every session; the
 * changes are stored on the stream before it answers, and `WatchSessions`
 * fires on every sidecar. A logout token is accepted once per `(iss, jti)`
 * on any gateway replica (its audit record claims that, as for SETs).
 */
export class LogoutReceiver {
  readonly #verifier: LogoutTokenVerifier;
  readonly #directory: LogoutDirectory;
  readonly #changes: ChangeSink;
  readonly #archive: SetArchive;
  readonly #logger: Logger;
  readonly #readBarrier: () => Promise<void>;
  readonly #onOutcome: (tenant: string, result: string) => void;
  readonly #tolerance: number;
  readonly #clock: () => number;

  constructor(options: LogoutReceiverOptions) {
    this.#verifier = options.verifier;
    this.#directory = options.directory;
    this.#changes = options.changes;
    this.#archive = options.archive;
    this.#logger = options.logger;
    this.#readBarrier = options.readBarrier ?? (() => Promise.resolve());
    this.#onOutcome = options.onOutcome ?? (() => undefined);
    this.#tolerance = options.clockToleranceS ?? 60;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * @throws {LogoutTokenRefusedError} nothing was stored
   * @throws {LogoutUnavailableError} not stored now (keys, stream or replica unreachable): send it again
   */
  async receive(tenantId: string, token: string): Promise<AcceptedLogout> {
    try {
      const accepted = await this.#receive(tenantId, token);
      this.#onOutcome(tenantId, 'accepted');
      return accepted;
    } catch (error) {
      const refused = error instanceof LogoutTokenRefusedError;
      this.#onOutcome(tenantId, refused ? 'invalid_request' : 'unavailable');
      if (refused) this.#logger.warn({ tenant: tenantId, reason: error.message }, 'logout token refused');
      throw refused || error instanceof LogoutUnavailableError
        ? error
        : new LogoutUnavailableError('the logout could not be stored now', { cause: error });
    }
  }

  /**
   * A SAML Single Logout the gateway verified: the sessions it names end, as for a logout token.
   *
   * @throws {LogoutTokenRefusedError} received before (its ID), or naming sessions of different users
   * @throws {LogoutUnavailableError} not stored now
   */
  async receiveIdpLogout(logout: IdpLogout, raw: string): Promise<AcceptedLogout> {
    const { tenantId, issuer } = logout;
    try {
      await this.#readBarrier();
      const changes = this.#effectsOf(
        tenantId,
        { issuer, maxSessionLifetimeS: logout.maxSessionLifetimeS },
        logout.sessionIds,
        logout.subject,
        SAML_REASON,
      );
      const record: AuditRecord = {
        v: 1,
        id: randomUUID(),
        tenant: tenantId,
        kind: 'set.accepted',
        at: Date.now(),
        data: {
          iss: issuer,
          jti: logout.id,
          event_type: 'urn:oasis:names:tc:SAML:2.0:protocol:LogoutRequest',
          verification: { signed: 'LogoutRequest', iat: logout.issuedAt },
          delivery: 'saml_slo',
          sid: logout.sessionIds[0] ?? null,
          sub: logout.subject,
          changes: changes.map((c) => ({ id: c.id, kind: c.kind })),
          set: raw,
        },
      };
      let sequence: number;
      try {
        sequence = await publishClaimed(
          this.#archive,
          this.#changes,
          this.#logger,
          { subject: acceptedSetSubject(tenantId, issuer, logout.id), record },
          changes,
        );
      } catch (error) {
        if (error instanceof AuditRecordExistsError) {
          throw new LogoutTokenRefusedError(`the logout request ${logout.id} was already received`);
        }
        throw error;
      }
      this.#onOutcome(tenantId, 'accepted');
      this.#logger.info(
        {
          tenant: tenantId,
          iss: issuer,
          id: logout.id,
          sessions: logout.sessionIds.length,
          changes: changes.length,
          sequence,
        },
        'SAML single logout accepted',
      );
      return { jti: logout.id, issuer, changes: changes.length, sequence };
    } catch (error) {
      const refused = error instanceof LogoutTokenRefusedError;
      this.#onOutcome(tenantId, refused ? 'invalid_request' : 'unavailable');
      throw refused || error instanceof LogoutUnavailableError
        ? error
        : new LogoutUnavailableError('the logout could not be stored now', { cause: error });
    }
  }

  async #receive(tenantId: string, token: string): Promise<AcceptedLogout> {
    const verified = await this.#verifier.verify(tenantId, token);
    await this.#readBarrier();
    const changes = this.#effectsOf(
      tenantId,
      verified.idp,
      verified.sid === undefined ? [] : [verified.sid],
      verified.sub,
      REASON,
    );
    const { issuer } = verified.idp;
    const subject = acceptedSetSubject(tenantId, issuer, verified.jti);
    let sequence: number;
    try {
      sequence = await publishClaimed(
        this.#archive,
        this.#changes,
        this.#logger,
        { subject, record: this.#record(verified, changes, token) },
        changes,
      );
    } catch (error) {
      // §2.6: the jti is used once; a replica that received it first claimed it.
      if (error instanceof AuditRecordExistsError) {
        throw new LogoutTokenRefusedError(`the logout token with jti ${verified.jti} was already received`);
      }
      throw error;
    }
    this.#logger.info(
      {
        tenant: tenantId,
        iss: issuer,
        jti: verified.jti,
        sid: verified.sid,
        sub: verified.sub,
        changes: changes.length,
        sequence,
      },
      'back-channel logout accepted',
    );
    return { jti: verified.jti, issuer, changes: changes.length, sequence };
  }

  /**
   * §2.7: a `sid` ends that IdP session (its stored sessions, and tokens
   * carrying it, through the sid's revocation); a `sub` alone ends every
   * session of the user it is bound to.
   */
  #effectsOf(
    tenantId: string,
    idp: { readonly issuer: string; readonly maxSessionLifetimeS: number },
    sids: readonly string[],
    sub: string | undefined,
    reason: string,
  ): Change[] {
    const now = this.#clock();
    const change = changeMaker(tenantId, now);
    const userId =
      sub === undefined
        ? undefined
        : this.#directory.readSubject(tenantId, { kind: 'identity', issuer: idp.issuer, subject: sub }).slice?.user.id;
    let changes: Change[];
    if (sids.length === 0) {
      // Nobody here signed in as this subject: nothing to end.
      changes = userId === undefined ? [] : [signedOut(this.#directory, tenantId, userId, now, reason, change)];
    } else {
      changes = [];
      for (const sid of sids) {
        // A sid is the IdP's: only sessions this IdP asserted carry it.
        const sessions = this.#directory.sessionsByIdpSessionId(tenantId, sid).filter((s) => s.issuer === idp.issuer);
        if (userId !== undefined && sessions.some((s) => s.userId !== userId)) {
          throw new LogoutTokenRefusedError('"sid" and "sub" name sessions of different users');
        }
        const lifetimeS = sidRevocationLifetimeS([idp], this.#tolerance);
        changes.push(
          ...revokedSessions(sessions, now, reason, change),
          change('sid.revoke', sidRevocation(idp.issuer, sid, now, lifetimeS, reason)),
        );
      }
    }
    try {
      return applicable(changes);
    } catch (error) {
      if (error instanceof SetRefusedError) throw new LogoutTokenRefusedError(error.message, { cause: error });
      throw error;
    }
  }

  #record(verified: VerifiedLogoutToken, changes: readonly Change[], token: string): AuditRecord {
    return {
      v: 1,
      id: randomUUID(),
      tenant: verified.tenantId,
      kind: 'set.accepted',
      at: Date.now(),
      data: {
        iss: verified.idp.issuer,
        jti: verified.jti,
        event_type: BACKCHANNEL_LOGOUT_EVENT,
        verification: {
          alg: verified.alg,
          kid: verified.kid ?? null,
          jwks_uri: verified.idp.jwksUri ?? 'discovery',
          audience: verified.idp.clientId,
          iat: verified.issuedAt,
        },
        delivery: 'backchannel_logout',
        sid: verified.sid ?? null,
        sub: verified.sub ?? null,
        changes: changes.map((c) => ({ id: c.id, kind: c.kind })),
        set: token,
      },
    };
  }
}
