import { createHash } from 'node:crypto';
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
}

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

/** One id per (session, where it was seen): sidecars that see the same change publish it once. */
export function observationId(o: SessionObservation): string {
  return createHash('sha256')
    .update([o.tenant, o.session_id, o.ip ?? '', o.device_id ?? ''].join('\0'))
    .digest('base64url');
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
    typeof o['at'] === 'number';
  return ok ? (o as unknown as SessionObservation) : undefined;
}
