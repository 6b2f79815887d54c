import { createHash, randomUUID } from 'node:crypto';
import { JIT_USER_NAME_PREFIX } from '../changes/index.js';
import type { Change, ChangeKind, ChangeOf } from '../changes/index.js';
import type { TenantSettings } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import { userDataOf } from '../store/index.js';
import type { DirectoryReader, EntitlementReader } from '../store/index.js';
import { SequenceConflictError } from '../stream/index.js';
import type { ChangeSink } from '../stream/index.js';
import { SamlNotConfiguredError } from '../saml/index.js';
import { TokenRejectedError } from '../tokens/index.js';
import type { TokenVerifier } from '../tokens/index.js';
import type { AuthnRequestOptions, IssuedAuthnRequest, SamlVerifier } from '../saml/index.js';
import { sessionFromAssertion } from './asserted_session.js';
import type { SignInAssertion } from './asserted_session.js';
import { signInFromSaml } from './saml_sign_in.js';
import { SignInRefusedError } from './errors.js';

/** A token presented to Check, resolved to whom it names and the session it asserts. */
export interface TokenIdentity {
  readonly issuer: string;
  readonly subject: string;
  /** The token's `jti`, which a revocation names. */
  readonly jti: string | undefined;
  /** The session the token asserts; `id` is the IdP's `sid` when it has one. */
  readonly session: {
    readonly id: string;
    readonly acr: string | undefined;
    readonly amr: readonly string[];
    readonly authTime: number | undefined;
    readonly expiresAt: number;
    /** When the authentication happened (auth_time, else iat): what a sign-out before it revokes. */
    readonly createdAt: number;
  };
}

export interface SignInContext {
  readonly ip: string | undefined;
  readonly deviceId: string | undefined;
}

export interface StartedSession {
  readonly sessionId: string;
  readonly userId: string;
  /** Unix s. */
  readonly expiresAt: number;
  /** The stream sequence holding the session: a Check `min_sequence` that sees it. */
  readonly sequence: number;
  /** How the IdP identity found its user: already bound, linked now by the configured claim, or created (JIT). */
  readonly binding: 'existing' | 'linked' | 'provisioned';
}

/**
 * Where sign-in assertions are claimed, once for every sidecar replica (a
 * create-only record on the stream, as SET `jti`s are claimed).
 */
export interface AssertionClaims {
  /**
   * Claims the assertion `assertionId` of `issuer` in the tenant, recording `signIn`.
   *
   * @returns false when it was claimed before, by this replica or another
   */
  claim(
    tenantId: string,
    issuer: string,
    assertionId: string,
    signIn: Readonly<Record<string, unknown>>,
  ): Promise<boolean>;
}

/** How current the store is (the sidecar's stream ingestor). */
export interface StateReplica {
  /**
   * True while the store may be behind the stream by more than the staleness bound: cut off from it, frozen,
   * catching up since start, or rebuilding.
   */
  isStale(): boolean;
  /** Resolves true once `sequence` is applied, false if `timeoutMs` passes first (read-your-writes). */
  waitForSequence(sequence: number, timeoutMs: number): Promise<boolean>;
}

export interface SessionAuthorityOptions {
  readonly tenants: readonly TenantSettings[];
  readonly verifier: TokenVerifier;
  /** Verifies SAML Responses and issues AuthnRequests; without it, SAML sign-in is refused as not configured. */
  readonly saml?: SamlVerifier | undefined;
  readonly reader: EntitlementReader &
    Pick<DirectoryReader, 'user' | 'userIdsByUserName' | 'userIdsByExternalId' | 'userIdsByEmail' | 'bindingsOfUser'>;
  readonly logger: Logger;
  /** Publishes sign-ins to the state stream; without it sign-in is unavailable (standalone sidecar). */
  readonly changes?: ChangeSink | undefined;
  /** Claims each sign-in assertion once across replicas; without it, only this replica remembers them. */
  readonly assertions?: AssertionClaims | undefined;
  /**
   * This sidecar's replica of the state stream, which sign-in reads users, bindings and revocations from.
   * Without it the store is taken as current (a standalone sidecar has no sign-in anyway).
   */
  readonly replica?: StateReplica | undefined;
  /** Unix s. @defaultValue the system clock */
  readonly clock?: () => number;
}

/**
 * Session lifecycle on the RP side (IPSIE SL1/SL2): resolves tokens
 * presented to Check, and turns a verified sign-in into a session bound to
 * the internal user. An IdP identity `(tenant, iss, sub)` only ever resolves
 * to the user it is bound to: a token of another IdP or tenant cannot.
 */
export class SessionAuthority {
  readonly #tenants: ReadonlyMap<string, TenantSettings>;
  readonly #verifier: TokenVerifier;
  readonly #saml: SamlVerifier | undefined;
  readonly #reader: SessionAuthorityOptions['reader'];
  readonly #logger: Logger;
  readonly #changes: ChangeSink | undefined;
  readonly #assertions: AssertionClaims | undefined;
  readonly #replica: SessionAuthorityOptions['replica'];
  readonly #clock: () => number;

  constructor(options: SessionAuthorityOptions) {
    this.#tenants = new Map(options.tenants.map((t) => [t.id, t]));
    this.#verifier = options.verifier;
    this.#saml = options.saml;
    this.#reader = options.reader;
    this.#logger = options.logger;
    this.#changes = options.changes;
    this.#assertions = options.assertions;
    this.#replica = options.replica;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * Verifies a token presented with a Check. Bearer tokens are reused by
   * design until they expire, so there is no single-use check here.
   *
   * @throws {TokenRejectedError} naming what is wrong with the token
   * @throws {IdentityProviderUnavailableError}
   */
  async identify(tenantId: string, token: string): Promise<TokenIdentity> {
    const verified = await this.#verifier.verify(tenantId, token);
    const asserted = sessionFromAssertion(verified);
    const jti = verified.claims.jti;
    return {
      issuer: verified.issuer,
      subject: verified.subject,
      jti: typeof jti === 'string' ? jti : undefined,
      session: {
        id: asserted.idpSessionId ?? (typeof jti === 'string' ? `jti:${jti}` : `token:${digest(token)}`),
        acr: asserted.acr,
        amr: asserted.amr,
        authTime: asserted.authTime,
        expiresAt: asserted.expiresAt,
        createdAt: asserted.authTime ?? verified.issuedAt,
      },
    };
  }

  /**
   * The sign-in: verifies the ID token once (nonce, single use), finds or
   * provisions the user, and records a session in the state stream whose
   * lifetime the assertion sets (IPSIE SL1).
   *
   * @throws {TokenRejectedError} / {IdentityProviderUnavailableError} for the token (`ERR_TOKEN_REPLAYED`:
   *   presented before, here or on another replica)
   * @throws {SignInRefusedError} `ERR_SIGNIN_NOT_PROVISIONED`, `ERR_SIGNIN_ACCOUNT_INACTIVE`,
   *   `ERR_SIGNIN_UNAVAILABLE`, `ERR_SIGNIN_SESSION_EXPIRED`, `ERR_SIGNIN_SESSION_REVOKED`
   */
  async startSession(
    tenantId: string,
    idToken: string,
    nonce: string | undefined,
    context: SignInContext,
  ): Promise<StartedSession> {
    const changes = this.#requireStream();
    this.#requireCurrent();
    const verified = await this.#verifier.verify(tenantId, idToken, { kind: 'sign-in', nonce });
    return await this.#start(verified, context, changes);
  }

  /**
   * The SAML sign-in: verifies the Response the app received at its ACS (signature, Issuer, Audience,
   * Destination, Recipient, times, `InResponseTo` naming an AuthnRequest we issued), then the same session
   * lifecycle as {@link startSession}: the assertion ID claimed once across replicas, the NameID (or the linking
   * attribute) bound or provisioned, and a session whose lifetime `SessionNotOnOrAfter` caps.
   *
   * @throws {SamlRejectedError} `ERR_SAML_*` naming what is wrong with the response
   * @throws {SamlNotConfiguredError} / {SamlMetadataUnavailableError}
   * @throws {TokenRejectedError} `ERR_TOKEN_REPLAYED`: the assertion was presented before, here or on another replica
   * @throws {SignInRefusedError} as {@link startSession}
   */
  async startSamlSession(tenantId: string, samlResponse: string, context: SignInContext): Promise<StartedSession> {
    const changes = this.#requireStream();
    this.#requireCurrent();
    const saml = this.#samlVerifier(tenantId);
    const verified = signInFromSaml(await saml.verify(tenantId, samlResponse));
    return await this.#start(verified, context, changes);
  }

  /**
   * A new SAML AuthnRequest for the tenant's IdP (HTTP-Redirect), whose id every replica accepts as the
   * `InResponseTo` of its Response; at step-up with RequestedAuthnContext and ForceAuthn.
   *
   * @throws {SamlNotConfiguredError} / {SamlMetadataUnavailableError}
   */
  async samlAuthnRequest(tenantId: string, options: AuthnRequestOptions): Promise<IssuedAuthnRequest> {
    return await this.#samlVerifier(tenantId).authnRequest(tenantId, options);
  }

  /** Whether the tenant signs in with SAML. */
  hasSaml(tenantId: string): boolean {
    return this.#saml?.hasSaml(tenantId) === true;
  }

  #samlVerifier(tenantId: string): SamlVerifier {
    if (this.#saml?.hasSaml(tenantId) !== true) {
      throw new SamlNotConfiguredError(`tenant ${tenantId} has no SAML sign-in`);
    }
    return this.#saml;
  }

  #requireStream(): ChangeSink {
    const changes = this.#changes;
    if (changes === undefined) {
      throw new SignInRefusedError(
        'ERR_SIGNIN_UNAVAILABLE',
        'this sidecar runs without a state stream: sign-in needs one',
      );
    }
    return changes;
  }

  /** Everything after verification, shared by OIDC and SAML: one session lifecycle. */
  async #start(verified: SignInAssertion, context: SignInContext, changes: ChangeSink): Promise<StartedSession> {
    const { tenantId } = verified;
    const asserted = sessionFromAssertion(verified);
    const now = this.#clock();
    if (asserted.expiresAt <= now) {
      // IPSIE SL1-RP-11: past session_expiry the user authenticates again; a session born expired is refused.
      throw new SignInRefusedError('ERR_SIGNIN_SESSION_EXPIRED', 'the session this assertion allows has already ended');
    }
    // Verifying may have taken a key-set fetch: still current before the store is read.
    this.#requireCurrent();
    const sid = asserted.idpSessionId;
    if (sid !== undefined && this.#reader.isIdpSessionRevoked(tenantId, verified.issuer, sid)) {
      // The IdP ended this session (back-channel logout, CAEP): its assertions start nothing, bound user or not.
      throw new SignInRefusedError('ERR_SIGNIN_SESSION_REVOKED', 'the identity provider ended this session (sid)');
    }
    await this.#claim(verified);
    // And after the claim's round trip to the stream, before users are looked up, linked or provisioned.
    this.#requireCurrent();
    const { userId, binding, sequence: resolved } = await this.#resolveUser(tenantId, verified, changes);
    // The sync below reads the user back: a user linked or provisioned a moment ago must be in the store first.
    if (resolved > 0 && this.#replica !== undefined && !(await this.#replica.waitForSequence(resolved, 5_000))) {
      throw new SignInRefusedError(
        'ERR_SIGNIN_UNAVAILABLE',
        "this sidecar did not apply the sign-in's own changes in time; retry",
      );
    }
    const synced = await this.#syncFromToken(tenantId, userId, verified, changes);
    const bound = Math.max(resolved, synced);
    const sessionId = randomUUID();
    const published = await changes.publish(
      this.#change(tenantId, 'session.start', {
        id: sessionId,
        user_id: userId,
        issuer: verified.issuer,
        acr: asserted.acr ?? null,
        amr: [...asserted.amr],
        auth_time: asserted.authTime ?? null,
        expires_at: asserted.expiresAt,
        created_at: now,
        revoked_at: null,
        revoke_reason: null,
        ip: context.ip ?? null,
        device_id: context.deviceId ?? null,
        ...(asserted.idpSessionId === undefined ? {} : { idp_session_id: asserted.idpSessionId }),
      }),
    );
    const sequence = Math.max(published.sequence, bound);
    await this.#replica?.waitForSequence(sequence, 5_000);
    this.#logger.info(
      {
        tenant: tenantId,
        user_id: userId,
        session_id: sessionId,
        issuer: verified.issuer,
        binding,
        expires_at: asserted.expiresAt,
      },
      'session started',
    );
    return { sessionId, userId, expiresAt: asserted.expiresAt, sequence, binding };
  }

  /**
   * A sign-in reads the store to find, link or provision the user and to see revocations: on a store behind
   * the stream (catching up, rebuilding, cut off) it would link or JIT-provision against partial data, or
   * start a session for a user deactivated since. Refused as unavailable: the app retries.
   *
   * @throws {SignInRefusedError} `ERR_SIGNIN_UNAVAILABLE`
   */
  #requireCurrent(): void {
    if (this.#replica?.isStale() === true) {
      throw new SignInRefusedError(
        'ERR_SIGNIN_UNAVAILABLE',
        'this sidecar is not current with the state stream (catching up, rebuilding or cut off); retry',
      );
    }
  }

  /**
   * NIST 800-63C §4.11.2: an assertion is accepted once - on any replica. Claimed before anything is
   * published for it, and never released: a sign-in that fails after this starts again at the IdP.
   *
   * @throws {TokenRejectedError} `ERR_TOKEN_REPLAYED`
   */
  async #claim(verified: SignInAssertion): Promise<void> {
    if (this.#assertions === undefined) return;
    const { tenantId, issuer, subject, assertionId, issuedAt, expiresAt } = verified;
    const claimed = await this.#assertions.claim(tenantId, issuer, assertionId, {
      iss: issuer,
      sub: subject,
      jti: verified.claims['jti'] ?? null,
      iat: issuedAt,
      exp: expiresAt,
    });
    if (!claimed) {
      throw new TokenRejectedError('ERR_TOKEN_REPLAYED', 'this assertion was already presented to another sidecar');
    }
  }

  async #resolveUser(
    tenantId: string,
    verified: SignInAssertion,
    changes: ChangeSink,
  ): Promise<{ userId: string; binding: StartedSession['binding']; sequence: number }> {
    const { issuer, subject } = verified;
    const bound = this.#reader.readSubject(tenantId, { kind: 'identity', issuer, subject }).slice;
    if (bound !== undefined) {
      if (!bound.user.active) throw new SignInRefusedError('ERR_SIGNIN_ACCOUNT_INACTIVE', 'the account is deactivated');
      return { userId: bound.user.id, binding: 'existing', sequence: 0 };
    }
    const tenant = this.#tenants.get(tenantId);
    const link = verified.idp.link;
    if (link !== undefined) {
      const value = verified.claims[link.claim];
      // nOAuth: an e-mail address the IdP has not verified is whatever the user typed in; it never links.
      const unverifiedEmail = link.claim === 'email' && verified.claims['email_verified'] !== true;
      const candidates =
        typeof value !== 'string' || unverifiedEmail
          ? []
          : link.field === 'externalId'
            ? this.#reader.userIdsByExternalId(tenantId, value)
            : this.#reader.userIdsByUserName(tenantId, value);
      const [userId, ...more] = candidates;
      // Link only an unambiguous user not yet bound to another identity of this IdP.
      if (
        userId !== undefined &&
        more.length === 0 &&
        !this.#reader.bindingsOfUser(tenantId, userId).some((b) => b.issuer === issuer)
      ) {
        const user = this.#reader.readSubject(tenantId, { kind: 'user', userId }).slice;
        if (user?.user.active === false)
          throw new SignInRefusedError('ERR_SIGNIN_ACCOUNT_INACTIVE', 'the account is deactivated');
        const published = await changes.publish(
          this.#change(tenantId, 'binding.upsert', { issuer, subject, user_id: userId }),
        );
        return { userId, binding: 'linked', sequence: published.sequence };
      }
    }
    if (tenant?.jitProvisioning !== true) {
      throw new SignInRefusedError(
        'ERR_SIGNIN_NOT_PROVISIONED',
        'no provisioned user matches this identity, and the tenant does not provision at sign-in',
      );
    }
    return await this.#provision(tenantId, verified, changes);
  }

  /**
   * IPSIE P1: JIT provisioning, under a deterministic id (and name) so that racing sidecars create one user.
   *
   * The userName is the e-mail address only when the IdP verified it (`email_verified: true`), and only if no
   * user has that address as userName or e-mail yet; otherwise {@link jitUserName}. `preferred_username` and an
   * unverified address are whatever the user typed into their IdP profile (OIDC Core §5.7: only `iss` and `sub`
   * identify them): taken as the name, they would squat the userName the IdP provisions the real owner under
   * over SCIM (a 409 for it), and as an e-mail make RISC/CAEP events about that address ambiguous.
   */
  async #provision(
    tenantId: string,
    verified: SignInAssertion,
    changes: ChangeSink,
  ): Promise<{ userId: string; binding: 'provisioned'; sequence: number }> {
    const { issuer, subject, claims } = verified;
    const userId = jitUserId(tenantId, issuer, subject);
    const str = (name: string): string | undefined => (typeof claims[name] === 'string' ? claims[name] : undefined);
    const email = claims['email_verified'] === true ? str('email') : undefined;
    const userName = email ?? jitUserName(userId);
    const others = (ids: readonly string[]): boolean => ids.some((id) => id !== userId);
    if (
      others(this.#reader.userIdsByUserName(tenantId, userName)) ||
      (email !== undefined && others(this.#reader.userIdsByEmail(tenantId, email)))
    ) {
      throw new SignInRefusedError(
        'ERR_SIGNIN_NOT_PROVISIONED',
        `a provisioned user already has the name or address ${userName}: configure linking for this IdP instead of JIT`,
      );
    }
    const attributes = profileFromClaims(claims);
    let sequence = 0;
    try {
      sequence = (
        await changes.publish(
          this.#change(tenantId, 'user.upsert', {
            id: userId,
            user_name: userName,
            external_id: null,
            active: true,
            attributes,
            roles:
              verified.idp.roles === undefined
                ? []
                : rolesFromClaim(claims[verified.idp.roles.claim], verified.idp.roles.map),
            created_at: Date.now(),
          }),
          { expectedLastSubjectSequence: 0 },
        )
      ).sequence;
    } catch (error) {
      // Another sidecar provisioned the same identity a moment ago: same id, nothing to do.
      if (!(error instanceof SequenceConflictError)) throw error;
    }
    const binding = await changes.publish(
      this.#change(tenantId, 'binding.upsert', { issuer, subject, user_id: userId }),
    );
    return { userId, binding: 'provisioned', sequence: Math.max(sequence, binding.sequence) };
  }

  /**
   * What the IdP owns of the user, taken from its token at every sign-in: the roles its group claim maps to
   * (IPSIE AL2, `roles` of the IdP's settings) and, for a user this sidecar provisioned from that IdP (JIT),
   * the profile (IPSIE IL1: the IdP's attributes, not a snapshot of the first sign-in). A user provisioned
   * over SCIM keeps the profile SCIM gives it. Published only when something differs, as the whole user
   * with the stream sequence it was read at: a concurrent write wins, and the next sign-in tries again.
   *
   * @returns the sequence of the change, or 0 when nothing changed
   */
  async #syncFromToken(
    tenantId: string,
    userId: string,
    verified: SignInAssertion,
    changes: ChangeSink,
  ): Promise<number> {
    const current = this.#reader.user(tenantId, userId);
    if (current === undefined) return 0;
    const { idp, claims, issuer, subject } = verified;
    let next = userDataOf(current);
    if (idp.roles !== undefined) {
      next = { ...next, roles: rolesFromClaim(claims[idp.roles.claim], idp.roles.map) };
    }
    if (userId === jitUserId(tenantId, issuer, subject)) {
      next = { ...next, attributes: { ...next.attributes, ...profileFromClaims(claims) } };
    }
    const before = userDataOf(current);
    if (
      JSON.stringify(next.roles) === JSON.stringify(before.roles) &&
      JSON.stringify(next.attributes) === JSON.stringify(before.attributes)
    ) {
      return 0;
    }
    try {
      const published = await changes.publish(this.#change(tenantId, 'user.upsert', next), {
        expectedLastSubjectSequence: current.version?.sequence ?? 0,
      });
      this.#logger.info({ tenant: tenantId, user_id: userId, issuer }, 'user updated from the identity provider');
      return published.sequence;
    } catch (error) {
      if (!(error instanceof SequenceConflictError)) throw error;
      return 0;
    }
  }

  #change<K extends ChangeKind>(tenant: string, kind: K, data: ChangeOf<K>['data']): Change {
    return { v: 1, id: randomUUID(), tenant, at: Date.now(), kind, data } as unknown as Change;
  }
}

/**
 * The userName of a JIT user without a verified e-mail address: `jit:` and its id. Derived from the IdP
 * identity only (never from claims the user can edit), and in a namespace no IdP provisions over SCIM (UPNs,
 * e-mail addresses, logins).
 */
export function jitUserName(userId: string): string {
  return `${JIT_USER_NAME_PREFIX}${userId}`;
}

/**
 * The profile an IdP asserts (OIDC Core §5.1), as the user's SCIM-shaped attributes: `displayName`, `name`,
 * and the e-mail only when the IdP verified it (an unverified one is whatever the user typed in).
 */
function profileFromClaims(claims: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const str = (name: string): string | undefined => (typeof claims[name] === 'string' ? claims[name] : undefined);
  const attributes: Record<string, unknown> = {};
  if (str('name') !== undefined) attributes['displayName'] = str('name');
  if (str('given_name') !== undefined || str('family_name') !== undefined) {
    attributes['name'] = { givenName: str('given_name'), familyName: str('family_name') };
  }
  const email = claims['email_verified'] === true ? str('email') : undefined;
  if (email !== undefined) attributes['emails'] = [{ value: email, type: 'work', primary: true }];
  return attributes;
}

/**
 * IPSIE AL2: the roles a group claim maps to. A claim holds a list of values (Entra: group object ids, Okta:
 * group names) or one value; with a `map`, only mapped values give roles (an unmapped group grants nothing),
 * without one each value is a role. Sorted and without duplicates, so the same claim gives the same roles.
 */
export function rolesFromClaim(value: unknown, map: Readonly<Record<string, string>> | undefined): string[] {
  const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && v !== '');
  const roles = map === undefined ? values : values.flatMap((v) => (Object.hasOwn(map, v) ? [map[v] ?? ''] : []));
  return [...new Set(roles.filter((r) => r !== ''))].sort();
}

/** A UUID-shaped id derived from the IdP identity: every sidecar computes the same. */
export function jitUserId(tenantId: string, issuer: string, subject: string): string {
  const hex = createHash('sha256').update(`${tenantId}\0${issuer}\0${subject}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 22);
}
