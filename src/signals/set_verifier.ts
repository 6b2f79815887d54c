import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { JWTPayload, ProtectedHeaderParameters } from 'jose';
import type { TransmitterSettings } from '../config/index.js';
import { SetRefusedError, TransmitterUnavailableError } from './errors.js';
import { parseEvents } from './security_event.js';
import type { SecurityEvent } from './security_event.js';
import { parseSubjectIdentifier } from './subject_identifier.js';
import type { SubjectIdentifier } from './subject_identifier.js';
import type { TransmitterDirectory } from './transmitter_directory.js';

/** A SET whose signature, issuer, audience, age and shape were checked. */
export interface VerifiedSet {
  readonly tenantId: string;
  readonly transmitter: TransmitterSettings;
  readonly jti: string;
  /** Unix s. */
  readonly issuedAt: number;
  readonly txn: string | undefined;
  /** The event type URI as sent. */
  readonly uri: string;
  readonly event: SecurityEvent;
  readonly subject: SubjectIdentifier;
  /**
   * The legacy `subject` inside the event (SSF §3.1.1) when `sub_id` is there
   * too and it reads as an identifier: both must name one principal.
   */
  readonly eventSubject: SubjectIdentifier | undefined;
  readonly kid: string | undefined;
  /** The signature algorithm that verified. */
  readonly alg: string;
}

export interface SetVerifierOptions {
  readonly transmitters: TransmitterDirectory;
  /** Tolerated clock difference with transmitters, in s. @defaultValue 60 */
  readonly clockToleranceS?: number;
  /** Unix s. */
  readonly clock?: () => number;
}

/**
 * Verifies Security Event Tokens (RFC 8417 as profiled by SSF §4) from a
 * tenant's configured transmitters. Every refusal is a `SetRefusedError`
 * carrying its RFC 8935 error code.
 */
export class SetVerifier {
  readonly #transmitters: TransmitterDirectory;
  readonly #tolerance: number;
  readonly #clock: () => number;

  constructor(options: SetVerifierOptions) {
    this.#transmitters = options.transmitters;
    this.#tolerance = options.clockToleranceS ?? 60;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
  }

  /**
   * The SET's issuer, read before verification: which transmitter claims to
   * have sent it.
   *
   * @throws {SetRefusedError} `invalid_request` when it is not a JWS compact SET
   */
  claimedIssuer(compact: string): string {
    return this.#decode(compact).issuer;
  }

  /**
   * @throws {SetRefusedError}
   * @throws {TransmitterUnavailableError} the transmitter's keys could not be fetched
   */
  async verify(tenantId: string, compact: string): Promise<VerifiedSet> {
    const { header, issuer } = this.#decode(compact);
    const transmitter = this.#transmitters.get(tenantId, issuer);
    if (transmitter === undefined) {
      throw new SetRefusedError('invalid_issuer', `${issuer} is not a transmitter of this stream`);
    }
    const alg = header.alg;
    if (alg === undefined || !transmitter.algorithms.includes(alg)) {
      throw new SetRefusedError(
        'invalid_key',
        `alg ${String(alg)} is not accepted from this transmitter (accepted: ${transmitter.algorithms.join(', ')})`,
      );
    }
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(compact, await this.#transmitters.keys(tenantId, issuer), {
        issuer,
        algorithms: [...transmitter.algorithms],
        clockTolerance: this.#tolerance,
        currentDate: new Date(this.#clock() * 1000),
      }));
    } catch (error) {
      throw refusal(error);
    }
    // SSF §4.1.2, §4.1.7: a JWT with a subject or an expiry is some other kind of token, never a SET.
    if (claims.sub !== undefined) {
      throw new SetRefusedError('invalid_request', 'a SET must not carry "sub" (SSF §4.1.2): its subject is "sub_id"');
    }
    if (claims.exp !== undefined)
      throw new SetRefusedError('invalid_request', 'a SET must not carry "exp" (SSF §4.1.7)');
    const audience = claims.aud;
    const audiences = typeof audience === 'string' ? [audience] : Array.isArray(audience) ? audience : [];
    if (!audiences.includes(transmitter.audience)) {
      throw new SetRefusedError('invalid_audience', `the SET is not addressed to ${transmitter.audience}`);
    }
    const iat = claims.iat;
    if (typeof iat !== 'number') throw new SetRefusedError('invalid_request', 'the SET has no "iat"');
    const now = this.#clock();
    if (iat > now + this.#tolerance) throw new SetRefusedError('invalid_request', 'the SET is issued in the future');
    if (now - iat > transmitter.maxSetAgeS + this.#tolerance) {
      throw new SetRefusedError(
        'invalid_request',
        `the SET was issued ${now - iat} s ago; this receiver accepts SETs up to ${transmitter.maxSetAgeS} s old`,
      );
    }
    const jti = claims.jti;
    if (typeof jti !== 'string' || jti === '') throw new SetRefusedError('invalid_request', 'the SET has no "jti"');
    const { uri, event } = parseEvents(claims['events']);
    return {
      tenantId,
      transmitter,
      jti,
      issuedAt: iat,
      txn: typeof claims['txn'] === 'string' ? claims['txn'] : undefined,
      uri,
      event,
      ...subjectsOf(claims, uri),
      kid: header.kid,
      alg,
    };
  }

  #decode(compact: string): { header: ProtectedHeaderParameters; payload: JWTPayload; issuer: string } {
    let header: ProtectedHeaderParameters;
    let payload: JWTPayload;
    try {
      header = decodeProtectedHeader(compact);
      payload = decodeJwt(compact);
    } catch (cause) {
      throw new SetRefusedError('invalid_request', 'the body is not a JWS compact serialized SET', { cause });
    }
    // Explicit typing (SSF §4.1.1): a SET must never pass for another kind of JWT, or the reverse.
    const typ = header.typ?.toLowerCase().replace(/^application\//, '');
    if (typ !== 'secevent+jwt') {
      throw new SetRefusedError('invalid_request', `the JWT "typ" is ${String(header.typ)}, not secevent+jwt`);
    }
    if (typeof payload.iss !== 'string' || payload.iss === '') {
      throw new SetRefusedError('invalid_request', 'the SET has no "iss"');
    }
    return { header, payload, issuer: payload.iss };
  }
}

/**
 * `sub_id` (SSF §3.1); legacy transmitters put `subject` in the event itself
 * (SSF §3.1.1), alone (Google's RISC) or besides `sub_id`.
 */
function subjectsOf(
  claims: JWTPayload,
  uri: string,
): { subject: SubjectIdentifier; eventSubject: SubjectIdentifier | undefined } {
  const events = claims['events'] as Record<string, Record<string, unknown>>;
  const legacy = events[uri]?.['subject'];
  if (claims['sub_id'] === undefined) {
    if (legacy === undefined) throw new SetRefusedError('invalid_request', 'the SET has no "sub_id"');
    return { subject: parseSubjectIdentifier(legacy, 'events.subject'), eventSubject: undefined };
  }
  const subject = parseSubjectIdentifier(claims['sub_id']);
  if (legacy === undefined) return { subject, eventSubject: undefined };
  try {
    return { subject, eventSubject: parseSubjectIdentifier(legacy, 'events.subject') };
  } catch (error) {
    // `sub_id` governs; a legacy subject this receiver cannot read contradicts nothing it knows.
    if (error instanceof SetRefusedError) return { subject, eventSubject: undefined };
    throw error;
  }
}

function refusal(error: unknown): Error {
  if (error instanceof joseErrors.JWKSNoMatchingKey) {
    return new SetRefusedError('invalid_key', 'no key of the transmitter matches the SET', { cause: error });
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return new SetRefusedError('authentication_failed', 'the SET signature does not verify', { cause: error });
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed || error instanceof joseErrors.JOSENotSupported) {
    return new SetRefusedError('invalid_key', 'the SET key or algorithm is not accepted', { cause: error });
  }
  if (error instanceof joseErrors.JWTExpired) {
    return new SetRefusedError('invalid_request', 'a SET must not carry "exp" (SSF §4.1.7), and this one has expired', {
      cause: error,
    });
  }
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    return new SetRefusedError('invalid_request', `SET claim "${error.claim}" is invalid`, { cause: error });
  }
  if (error instanceof joseErrors.JWSInvalid || error instanceof joseErrors.JWTInvalid) {
    return new SetRefusedError('invalid_request', 'the SET is not a valid JWS', { cause: error });
  }
  if (error instanceof SetRefusedError || error instanceof TransmitterUnavailableError) return error;
  return new TransmitterUnavailableError('the transmitter keys could not be fetched', { cause: error });
}
