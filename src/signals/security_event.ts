import { securityEventNameOf } from '../security_event_types.js';
import type { SecurityEventName } from '../security_event_types.js';
import { SetRefusedError } from './errors.js';

export { CAEP_EVENT, RISC_EVENT, SSF_EVENT } from '../security_event_types.js';

/** Fields CAEP allows on every event (CAEP §2). */
export interface EventCommon {
  /** When it happened at the transmitter, Unix s. */
  readonly eventTimestamp: number | undefined;
  readonly initiatingEntity: string | undefined;
  /** `reason_admin`, by language tag. */
  readonly reasonAdmin: Readonly<Record<string, string>>;
}

const CREDENTIAL_CHANGE_TYPES = ['create', 'revoke', 'update', 'delete'] as const;
const COMPLIANCE = ['compliant', 'not-compliant'] as const;
const RISK_LEVELS = ['low', 'medium', 'high'] as const;
const CHANGE_DIRECTIONS = ['increase', 'decrease'] as const;

/**
 * Each registered event type's members, read and checked as its
 * specification requires (CAEP 1.0, RISC 1.0, SSF 1.0). The mapped type
 * makes a type registered in SECURITY_EVENT_TYPES without a reader a
 * compile error.
 */
const EVENT_READERS = {
  'session-revoked': () => ({}),
  'token-claims-change': (f) => ({ claims: f.object('claims') as Readonly<Record<string, unknown>> }),
  'credential-change': (f) => ({
    credentialType: f.string('credential_type'),
    changeType: f.oneOf('change_type', CREDENTIAL_CHANGE_TYPES),
  }),
  'assurance-level-change': (f) => ({
    namespace: f.string('namespace'),
    currentLevel: f.string('current_level'),
    previousLevel: f.optionalString('previous_level'),
    changeDirection: f.optionalOneOf('change_direction', CHANGE_DIRECTIONS),
  }),
  'device-compliance-change': (f) => ({
    previousStatus: f.oneOf('previous_status', COMPLIANCE),
    currentStatus: f.oneOf('current_status', COMPLIANCE),
  }),
  'risk-level-change': (f) => ({
    principal: f.string('principal').toUpperCase(),
    currentLevel: f.oneOf('current_level', RISK_LEVELS, true),
    previousLevel: f.optionalOneOf('previous_level', RISK_LEVELS, true),
    riskReason: f.optionalString('risk_reason'),
  }),
  'session-established': () => ({}),
  'session-presented': () => ({}),
  'account-disabled': (f) => ({ reason: f.optionalString('reason') }),
  'account-enabled': () => ({}),
  'account-purged': () => ({}),
  'account-credential-change-required': () => ({}),
  'sessions-revoked': () => ({}),
  'credential-compromise': (f) => ({ credentialType: f.string('credential_type') }),
  'identifier-changed': (f) => ({ newValue: f.optionalString('new-value') }),
  /** RISC: the subject's identifier (e-mail address) now belongs to someone else. */
  'identifier-recycled': () => ({}),
  verification: (f) => ({ state: f.optionalString('state') }),
  'stream-updated': (f) => ({ status: f.string('status'), reason: f.optionalString('reason') }),
} satisfies Readonly<Record<SecurityEventName, (f: EventFields) => object>>;

type EventMembers = { readonly [K in SecurityEventName]: Readonly<ReturnType<(typeof EVENT_READERS)[K]>> };

/** One security event, its required fields checked. */
export type SecurityEvent = EventCommon &
  (
    | { readonly [K in SecurityEventName]: { readonly type: K } & EventMembers[K] }[SecurityEventName]
    /** A well-formed event of a type this receiver does not act on: stored, not applied. */
    | { readonly type: 'unsupported'; readonly uri: string }
  );

export type SecurityEventType = SecurityEvent['type'];

/**
 * Reads the SET's `events` claim: exactly one event (SSF §4.2.1 and the
 * CAEP interoperability profile), whose fields must be what its
 * specification requires.
 *
 * @throws {SetRefusedError} `invalid_request`
 */
export function parseEvents(events: unknown): { readonly uri: string; readonly event: SecurityEvent } {
  if (typeof events !== 'object' || events === null || Array.isArray(events)) {
    throw new SetRefusedError('invalid_request', 'the SET has no "events" object');
  }
  const entries = Object.entries(events);
  if (entries.length !== 1) {
    throw new SetRefusedError('invalid_request', `a SET must carry exactly one event, this one has ${entries.length}`);
  }
  const [uri, body] = entries[0] as [string, unknown];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new SetRefusedError('invalid_request', `the event ${uri} is not a JSON object`);
  }
  return { uri, event: parseEvent(uri, new EventFields(uri, body as Record<string, unknown>)) };
}

function parseEvent(uri: string, f: EventFields): SecurityEvent {
  const common: EventCommon = {
    eventTimestamp: f.optionalNumber('event_timestamp'),
    initiatingEntity: f.optionalString('initiating_entity'),
    reasonAdmin: f.languageMap('reason_admin'),
  };
  const type = securityEventNameOf(uri);
  if (type === undefined) return { ...common, type: 'unsupported', uri };
  // The reader for `type` yields that type's members: the pairing the table guarantees.
  return { ...common, type, ...EVENT_READERS[type](f) } as SecurityEvent;
}

/** Typed reads of one event's members; every error names the event and the member. */
class EventFields {
  readonly #uri: string;
  readonly #body: Record<string, unknown>;

  constructor(uri: string, body: Record<string, unknown>) {
    this.#uri = uri;
    this.#body = body;
  }

  invalid(name: string, problem: string): SetRefusedError {
    return new SetRefusedError('invalid_request', `${this.#uri}: "${name}" ${problem}`);
  }

  string(name: string): string {
    const value = this.optionalString(name);
    if (value === undefined) throw this.invalid(name, 'is required');
    return value;
  }

  optionalString(name: string): string | undefined {
    const value = this.#body[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') throw this.invalid(name, 'must be a non-empty string');
    return value;
  }

  optionalNumber(name: string): number | undefined {
    const value = this.#body[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw this.invalid(name, 'must be a NumericDate');
    }
    return Math.floor(value);
  }

  object(name: string): Record<string, unknown> {
    const value = this.#body[name];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.invalid(name, 'must be a JSON object');
    }
    return value as Record<string, unknown>;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], anyCase = false): T {
    const value = this.optionalOneOf(name, allowed, anyCase);
    if (value === undefined) throw this.invalid(name, 'is required');
    return value;
  }

  optionalOneOf<T extends string>(name: string, allowed: readonly T[], anyCase = false): T | undefined {
    const raw = this.optionalString(name);
    if (raw === undefined) return undefined;
    const value = anyCase ? raw.toLowerCase() : raw;
    if (!(allowed as readonly string[]).includes(value))
      throw this.invalid(name, `must be one of ${allowed.join(', ')}`);
    return value as T;
  }

  languageMap(name: string): Record<string, string> {
    const value = this.#body[name];
    if (value === undefined) return {};
    if (
      typeof value !== 'object' ||
      value === null ||
      Array.isArray(value) ||
      !Object.values(value).every((v) => typeof v === 'string')
    ) {
      throw this.invalid(name, 'must map language tags to strings');
    }
    return value as Record<string, string>;
  }
}

/** A reason text for logs and revocation records: the admin reason in English, else any. */
export function reasonText(event: SecurityEvent, fallback: string): string {
  const reasons = event.reasonAdmin;
  return reasons['en'] ?? Object.values(reasons)[0] ?? fallback;
}
