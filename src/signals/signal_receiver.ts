import { randomUUID } from 'node:crypto';
import { acceptedSetSubject, AuditRecordExistsError, verificationRequestSubject } from '../audit/index.js';
import type { AuditRecord } from '../audit/index.js';
import type { Change } from '../changes/index.js';
import type { TenantSettings, TransmitterSettings } from '../config/index.js';
import type { Logger } from '../logging/index.js';
import type { ChangeSink } from '../stream/index.js';
import { SetAlreadyAcceptedError, SetRefusedError } from './errors.js';
import type { SetVerifier, VerifiedSet } from './set_verifier.js';
import { applicable, sidRevocationLifetimeS, signalEffects } from './signal_effects.js';
import type { EffectsDirectory } from './signal_effects.js';
import { publishClaimed } from './claimed_publish.js';
import type { SetArchive } from './claimed_publish.js';
import type { SubjectIdentifier } from './subject_identifier.js';
import { SubjectResolver } from './subject_resolver.js';
import type { SubjectDirectory } from './subject_resolver.js';
import type { TransmitterDirectory } from './transmitter_directory.js';
import { TokenDigests, bearerToken } from '../bearer_token.js';

/** How a SET arrived: pushed to us (RFC 8935, with the request's Authorization) or fetched by our poll (RFC 8936). */
export type Delivery =
  | { readonly method: 'push'; readonly authorization: string | undefined }
  | { readonly method: 'poll'; readonly issuer: string };

export interface AcceptedSet {
  readonly jti: string;
  readonly issuer: string;
  readonly uri: string;
  /** How many changes it caused (0 for informational events). */
  readonly changes: number;
  /** The stream sequence of its last change; 0 when it changed nothing. */
  readonly sequence: number;
}

export interface SignalReceiverOptions {
  readonly tenants: readonly TenantSettings[];
  readonly transmitters: TransmitterDirectory;
  readonly verifier: SetVerifier;
  readonly directory: SubjectDirectory & EffectsDirectory;
  readonly changes: ChangeSink;
  readonly archive: SetArchive;
  readonly logger: Logger;
  /**
   * Resolves once `directory` holds everything the state stream held when it
   * was called, so a SET about a session that began a moment ago on another
   * replica still finds it.
   *
   * @throws {TransmitterUnavailableError} the replica could not catch up in time
   */
  readonly readBarrier?: () => Promise<void>;
  /** Told of every SET's outcome: `accepted`, or the RFC 8935 error code (metrics). */
  readonly onOutcome?: (tenant: string, delivery: Delivery['method'], result: string) => void;
  /** Unix s. */
  readonly clock?: () => number;
  /** Tolerated clock difference with IdPs, in s (how far ahead a token's `iat` may be). @defaultValue 60 */
  readonly clockToleranceS?: number;
}

/** An event's changes, and the entity sequences whole-entity rewrites among them were computed from. */
interface Effects {
  readonly changes: readonly Change[];
  readonly basis: ReadonlyMap<string, number>;
}

/**
 * The SSF receiver (IPSIE SL2/SL3): authenticates the transmitter, verifies
 * the SET, maps its subject into the tenant, turns the event into normalized
 * changes and stores them before it answers. A SET is accepted at most once
 * per `(iss, jti)`, on any gateway replica: its audit record claims that.
 */
export class SignalReceiver {
  readonly #transmitters: TransmitterDirectory;
  readonly #verifier: SetVerifier;
  readonly #resolver: SubjectResolver;
  readonly #directory: SubjectDirectory & EffectsDirectory;
  readonly #changes: ChangeSink;
  readonly #archive: SetArchive;
  readonly #logger: Logger;
  readonly #readBarrier: () => Promise<void>;
  readonly #onOutcome: (tenant: string, delivery: Delivery['method'], result: string) => void;
  readonly #clock: () => number;
  readonly #clockToleranceS: number;
  /** Per tenant: how long a token or session carrying a revoked IdP session id may still be presented, in s. */
  readonly #sidRevocationS: ReadonlyMap<string, number>;

  constructor(options: SignalReceiverOptions) {
    this.#transmitters = options.transmitters;
    this.#verifier = options.verifier;
    this.#resolver = new SubjectResolver(options.directory);
    this.#directory = options.directory;
    this.#changes = options.changes;
    this.#archive = options.archive;
    this.#logger = options.logger;
    this.#readBarrier = options.readBarrier ?? (() => Promise.resolve());
    this.#onOutcome = options.onOutcome ?? (() => undefined);
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    this.#clockToleranceS = options.clockToleranceS ?? 60;
    // A transmitter's sid may be any IdP's of the tenant: the longest session any of them allows.
    this.#sidRevocationS = new Map(
      options.tenants.map((t) => [t.id, sidRevocationLifetimeS(t.idps, options.clockToleranceS ?? 60)]),
    );
  }

  /**
   * @throws {SetRefusedError} with its RFC 8935 code; nothing was stored but the refusal
   * @throws {TransmitterUnavailableError} / {ChangePublishError}: not stored, the transmitter should retry
   */
  async receive(tenantId: string, compact: string, delivery: Delivery): Promise<AcceptedSet> {
    try {
      const accepted = await this.#receive(tenantId, compact, delivery);
      this.#onOutcome(tenantId, delivery.method, 'accepted');
      return accepted;
    } catch (error) {
      this.#onOutcome(tenantId, delivery.method, error instanceof SetRefusedError ? error.err : 'unavailable');
      throw error;
    }
  }

  async #receive(tenantId: string, compact: string, delivery: Delivery): Promise<AcceptedSet> {
    const transmitter = this.#authenticate(tenantId, delivery);
    let verified: VerifiedSet;
    let changes: Effects;
    try {
      const claimed = this.#verifier.claimedIssuer(compact);
      if (claimed !== transmitter.issuer) {
        throw this.#transmitters.get(tenantId, claimed) === undefined
          ? new SetRefusedError('invalid_issuer', `${claimed} is not a transmitter of this stream`)
          : new SetRefusedError('access_denied', `this transmitter may not send SETs issued by ${claimed}`);
      }
      verified = await this.#verifier.verify(tenantId, compact);
      await this.#readBarrier();
      changes = await this.#effects(verified);
    } catch (error) {
      if (error instanceof SetRefusedError) await this.#refused(tenantId, transmitter, compact, delivery, error);
      throw error;
    }
    return await this.#store(verified, changes, compact, delivery);
  }

  /** The transmitter the request comes from: the push bearer token, or the stream we polled. */
  #authenticate(tenantId: string, delivery: Delivery): TransmitterSettings {
    if (delivery.method === 'poll') {
      const transmitter = this.#transmitters.get(tenantId, delivery.issuer);
      if (transmitter === undefined) throw new TypeError(`tenant ${tenantId} does not poll ${delivery.issuer}`);
      return transmitter;
    }
    const token = bearerToken(delivery.authorization);
    for (const transmitter of this.#transmitters.transmitters(tenantId)) {
      if (new TokenDigests(transmitter.push?.bearerTokenSha256 ?? []).accepts(token)) return transmitter;
    }
    throw new SetRefusedError(
      'authentication_failed',
      "a bearer token this tenant's stream accepts is required in the Authorization header",
    );
  }

  async #effects(verified: VerifiedSet): Promise<Effects> {
    const { tenantId, transmitter, event, subject } = verified;
    const critical = transmitter.discovery
      ? (await this.#transmitters.metadata(tenantId, transmitter.issuer)).criticalSubjectMembers
      : [];
    const resolved = this.#resolver.resolve(tenantId, subject, transmitter, critical);
    if (verified.eventSubject !== undefined && resolved.userId !== undefined) {
      const legacy = this.#legacyUser(tenantId, verified.eventSubject, transmitter);
      if (legacy !== undefined && legacy !== resolved.userId) {
        throw new SetRefusedError('invalid_request', 'sub_id and the event\'s "subject" name different users');
      }
    }
    if (event.type === 'verification' || event.type === 'stream-updated') {
      // SSF §8.1.4.1: these name the stream itself.
      const streamId = await this.#transmitters.knownStreamId(tenantId, transmitter.issuer);
      if (streamId !== undefined && resolved.opaqueId !== streamId) {
        throw new SetRefusedError('invalid_request', `the ${event.type} event names another stream than ${streamId}`);
      }
    }
    if (event.type === 'verification' && event.state !== undefined) {
      // SSF §8.1.4.1: a state we never asked for is not an answer to our request (unsolicited events carry none).
      const requested = await this.#archive.last(verificationRequestSubject(tenantId, event.state));
      if (requested === undefined) {
        throw new SetRefusedError('invalid_state', 'this receiver requested no verification with that state');
      }
    }
    const basis = new Map<string, number>();
    const changes = applicable(
      signalEffects(event, resolved, {
        tenantId,
        directory: this.#directory,
        now: this.#clock(),
        issuedAt: verified.issuedAt,
        clockToleranceS: this.#clockToleranceS,
        sidRevocationS: this.#sidRevocationS.get(tenantId) ?? sidRevocationLifetimeS([], 60),
        basis,
      }),
    );
    return { changes, basis };
  }

  /** The user a legacy event `subject` names besides `sub_id`; undefined when it names none this receiver can tell. */
  #legacyUser(tenantId: string, subject: SubjectIdentifier, transmitter: TransmitterSettings): string | undefined {
    try {
      return this.#resolver.resolve(tenantId, subject, transmitter).userId;
    } catch (error) {
      if (error instanceof SetRefusedError) return undefined;
      throw error;
    }
  }

  async #store(verified: VerifiedSet, effects: Effects, compact: string, delivery: Delivery): Promise<AcceptedSet> {
    const { tenantId, transmitter, jti, uri, event } = verified;
    const { changes, basis } = effects;
    const subject = acceptedSetSubject(tenantId, transmitter.issuer, jti);
    let sequence: number;
    try {
      const record = this.#record(tenantId, 'set.accepted', {
        iss: transmitter.issuer,
        jti,
        txn: verified.txn ?? null,
        event_type: uri,
        // The verification result: signed by this key of the transmitter's JWKS, every check passed.
        verification: {
          alg: verified.alg,
          kid: verified.kid ?? null,
          jwks_uri: transmitter.jwksUri ?? 'discovery',
          audience: transmitter.audience,
          iat: verified.issuedAt,
        },
        delivery: delivery.method,
        state: event.type === 'verification' ? (event.state ?? null) : null,
        stream_status: event.type === 'stream-updated' ? event.status : null,
        changes: changes.map((c) => ({ id: c.id, kind: c.kind })),
        set: compact,
      });
      sequence = await publishClaimed(this.#archive, this.#changes, this.#logger, { subject, record }, changes, basis);
    } catch (error) {
      if (!(error instanceof AuditRecordExistsError)) throw error;
      const earlier = await this.#archive.last(subject);
      const refused =
        earlier?.data['set'] === compact
          ? new SetAlreadyAcceptedError(jti)
          : new SetRefusedError('invalid_request', `a different SET with jti ${jti} was already received`);
      await this.#refused(tenantId, transmitter, compact, delivery, refused);
      throw refused;
    }
    this.#logger.info(
      {
        tenant: tenantId,
        iss: transmitter.issuer,
        jti,
        event: event.type,
        delivery: delivery.method,
        changes: changes.length,
        sequence,
      },
      'SET accepted',
    );
    return { jti, issuer: transmitter.issuer, uri, changes: changes.length, sequence };
  }

  async #refused(
    tenantId: string,
    transmitter: TransmitterSettings,
    compact: string,
    delivery: Delivery,
    error: SetRefusedError,
  ): Promise<void> {
    this.#logger.warn(
      { tenant: tenantId, iss: transmitter.issuer, err: error.err, delivery: delivery.method, reason: error.message },
      'SET refused',
    );
    await this.#archive
      .append(
        this.#record(tenantId, 'set.refused', {
          iss: transmitter.issuer,
          err: error.err,
          description: error.message,
          delivery: delivery.method,
          set: compact.length > 16_384 ? `${compact.slice(0, 16_384)}…` : compact,
        }),
      )
      .catch((archiveError: unknown) => {
        this.#logger.error({ err: archiveError, tenant: tenantId }, 'could not archive a refused SET');
      });
  }

  #record(tenant: string, kind: AuditRecord['kind'], data: Record<string, unknown>): AuditRecord {
    return { v: 1, id: randomUUID(), tenant, kind, at: Date.now(), data };
  }
}
