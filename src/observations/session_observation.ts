import { createHash } from 'node:crypto';
import type { DataSealer, SealerOf } from '../changes/index.js';
import type { PresentedSession } from '../check/index.js';

export const OBSERVATIONS_STREAM = 'IPSIE_OBSERVATIONS';
export const OBSERVATIONS_SUBJECT_PREFIX = 'ipsie.observe';

/**
 * A sidecar saw a live session presented from another IP address or device
 * than it was established on (IPSIE SL3: the app tells the IdP). Sidecars
 * publish these; the gateway transmits them to the tenant's SSF receiver.
 */
export interface SessionObservation {
  readonly v: 1;
  readonly tenant: string;
  /** Our session id. */
  readonly session_id: string;
  readonly user_id: string;
  /** The IdP that asserted the session, and its `sid` for it. */
  readonly issuer: string;
  readonly idp_session_id: string | null;
  readonly ip: string | null;
  readonly previous_ip: string | null;
  readonly device_id: string | null;
  readonly previous_device_id: string | null;
  readonly user_agent: string | null;
  /** When it was seen, Unix ms. */
  readonly at: number;
  /**
   * A tenant with a customer-managed key (docs/keys.md): `ip`, `previous_ip` and `user_agent`, sealed; those
   * fields are then null.
   */
  readonly sealed?: string;
}

/** The fields of an observation its tenant's key seals. */
interface SealedObservation {
  readonly ip: string | null;
  readonly previous_ip: string | null;
  readonly user_agent: string | null;
}

/** The observation as the stream carries it for a tenant with `sealer` (as it is for one without). */
export function sealObservation(o: SessionObservation, sealer: DataSealer | undefined): SessionObservation {
  if (sealer === undefined || o.sealed !== undefined) return o;
  const personal: SealedObservation = { ip: o.ip, previous_ip: o.previous_ip, user_agent: o.user_agent };
  const sealed = sealer.seal(JSON.stringify(personal), observationContext(o));
  return { ...o, ip: null, previous_ip: null, user_agent: null, sealed };
}

/**
 * The observation as it was seen.
 *
 * @throws whatever the tenant's key throws when it cannot open it (revoked, not loaded, not its value)
 */
export function openObservation(o: SessionObservation, sealerOf: SealerOf): SessionObservation {
  if (o.sealed === undefined) return o;
  const sealer = sealerOf(o.tenant);
  if (sealer === undefined) throw new TypeError(`a session change of ${o.tenant} is sealed and the tenant has no key`);
  const personal = JSON.parse(sealer.open(o.sealed, observationContext(o))) as SealedObservation;
  const { sealed: _sealed, ...clear } = o;
  return { ...clear, ...personal };
}

// Bound to the session and the moment: a sealed value moved to another observation does not open.
const observationContext = (o: SessionObservation): string => `observation:${o.tenant}:${o.session_id}:${o.at}`;

/** What a sidecar publishes of a presented session, seen at `at` (Unix ms). */
export function observationOf({ session, context }: PresentedSession, at: number): SessionObservation {
  return {
    v: 1,
    tenant: session.tenantId,
    session_id: session.id,
    user_id: session.userId,
    issuer: session.issuer,
    idp_session_id: session.idpSessionId ?? null,
    ip: context.ip ?? null,
    previous_ip: session.ip ?? null,
    device_id: context.deviceId ?? null,
    previous_device_id: session.deviceId ?? null,
    user_agent: context.userAgent ?? null,
    at,
  };
}

export function observationSubject(tenant: string): string {
  return `${OBSERVATIONS_SUBJECT_PREFIX}.${tenant}.session`;
}

/**
 * One id per (session, where it was seen): sidecars that see the same change publish it once. Keyed by the
 * tenant's lookup key when it has one: a plain hash of an address is as good as the address.
 */
export function observationId(o: SessionObservation, sealer?: DataSealer): string {
  const seen = [o.tenant, o.session_id, o.ip ?? '', o.device_id ?? ''].join('\0');
  if (sealer !== undefined) return sealer.lookup(`observation:${seen}`);
  return createHash('sha256').update(seen).digest('base64url');
}

/** Reads an observation off the wire; undefined when it is not one (it is then dropped and logged). */
export function parseObservation(bytes: Uint8Array): SessionObservation | undefined {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const o = value as Record<string, unknown>;
  const text = (k: string): boolean => typeof o[k] === 'string' && o[k] !== '';
  const nullable = (k: string): boolean => o[k] === null || typeof o[k] === 'string';
  const ok =
    o['v'] === 1 &&
    ['tenant', 'session_id', 'user_id', 'issuer'].every(text) &&
    ['idp_session_id', 'ip', 'previous_ip', 'device_id', 'previous_device_id', 'user_agent'].every(nullable) &&
    (o['sealed'] === undefined || text('sealed')) &&
    typeof o['at'] === 'number';
  return ok ? (o as unknown as SessionObservation) : undefined;
}
