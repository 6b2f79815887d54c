import { SetRefusedError } from './errors.js';

export const CAEP_EVENT = 'https://schemas.openid.net/secevent/caep/event-type/';
export const RISC_EVENT = 'https://schemas.openid.net/secevent/risc/event-type/';
export const SSF_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/';

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

/** One security event, its required fields checked (CAEP 1.0, RISC 1.0, SSF 1.0). */
export type SecurityEvent = EventCommon &
  (
    | { readonly type: 'session-revoked' }
    | { readonly type: 'token-claims-change'; readonly claims: Readonly<Record<string, unknown>> }
    | {
        readonly type: 'credential-change';
        readonly credentialType: string;
        readonly changeType: (typeof CREDENTIAL_CHANGE_TYPES)[number];
      }
    | {
        readonly type: 'assurance-level-change';
        readonly namespace: string;
        readonly currentLevel: string;
        readonly previousLevel: string | undefined;
        readonly changeDirection: 'increase' | 'decrease' | undefined;
      }
    | {
        readonly type: 'device-compliance-change';
        readonly previousStatus: (typeof COMPLIANCE)[number];
        readonly currentStatus: (typeof COMPLIANCE)[number];
      }
    | {
        readonly type: 'risk-level-change';
        readonly principal: string;
        readonly currentLevel: (typeof RISK_LEVELS)[number];
        readonly previousLevel: (typeof RISK_LEVELS)[number] | undefined;
        readonly riskReason: string | undefined;
      }
    | { readonly type: 'session-established' | 'session-presented' }
    | { readonly type: 'account-disabled'; readonly reason: string | undefined }
    | {
        readonly type: 'account-enabled' | 'account-purged' | 'account-credential-change-required' | 'sessions-revoked';
      }
    | { readonly type: 'credential-compromise'; readonly credentialType: string }
    | { readonly type: 'identifier-changed'; readonly newValue: string | undefined }
    /** RISC: the subject's identifier (e-mail address) now belongs to someone else. */
    | { readonly type: 'identifier-recycled' }
    | { readonly type: 'verification'; readonly state: string | undefined }
    | { readonly type: 'stream-updated'; readonly status: string; readonly reason: string | undefined }
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
  const name = uri.startsWith(CAEP_EVENT)
    ? `caep:${uri.slice(CAEP_EVENT.length)}`
    : uri.startsWith(RISC_EVENT)
      ? `risc:${uri.slice(RISC_EVENT.length)}`
      : uri.startsWith(SSF_EVENT)
        ? `ssf:${uri.slice(SSF_EVENT.length)}`
        : uri;
  switch (name) {
    case 'caep:session-revoked':
      return { ...common, type: 'session-revoked' };
    case 'caep:token-claims-change':
      return { ...common, type: 'token-claims-change', claims: f.object('claims') };
    case 'caep:credential-change':
      return {
        ...common,
        type: 'credential-change',
        credentialType: f.string('credential_type'),
        changeType: f.oneOf('change_type', CREDENTIAL_CHANGE_TYPES),
      };
    case 'caep:assurance-level-change': {
      const direction = f.optionalString('change_direction');
      if (direction !== undefined && direction !== 'increase' && direction !== 'decrease') {
        throw f.invalid('change_direction', 'must be "increase" or "decrease"');
      }
      return {
        ...common,
        type: 'assurance-level-change',
        namespace: f.string('namespace'),
        currentLevel: f.string('current_level'),
        previousLevel: f.optionalString('previous_level'),
        changeDirection: direction,
      };
    }
    case 'caep:device-compliance-change':
      return {
        ...common,
        type: 'device-compliance-change',
        previousStatus: f.oneOf('previous_status', COMPLIANCE),
        currentStatus: f.oneOf('current_status', COMPLIANCE),
      };
    case 'caep:risk-level-change': {
      const previous = f.optionalString('previous_level');
      return {
        ...common,
        type: 'risk-level-change',
        principal: f.string('principal').toUpperCase(),
        currentLevel: f.oneOf('current_level', RISK_LEVELS, true),
        previousLevel: previous === undefined ? undefined : f.oneOf('previous_level', RISK_LEVELS, true),
        riskReason: f.optionalString('risk_reason'),
      };
    }
    case 'caep:session-established':
      return { ...common, type: 'session-established' };
    case 'caep:session-presented':
      return { ...common, type: 'session-presented' };
    case 'risc:account-disabled':
      return { ...common, type: 'account-disabled', reason: f.optionalString('reason') };
    case 'risc:account-enabled':
      return { ...common, type: 'account-enabled' };
    case 'risc:account-purged':
      return { ...common, type: 'account-purged' };
    case 'risc:account-credential-change-required':
      return { ...common, type: 'account-credential-change-required' };
    case 'risc:sessions-revoked':
      return { ...common, type: 'sessions-revoked' };
    case 'risc:credential-compromise':
      return { ...common, type: 'credential-compromise', credentialType: f.string('credential_type') };
    case 'risc:identifier-changed':
      return { ...common, type: 'identifier-changed', newValue: f.optionalString('new-value') };
    case 'risc:identifier-recycled':
      return { ...common, type: 'identifier-recycled' };
    case 'ssf:verification':
      return { ...common, type: 'verification', state: f.optionalString('state') };
    case 'ssf:stream-updated':
      return { ...common, type: 'stream-updated', status: f.string('status'), reason: f.optionalString('reason') };
    default:
      return { ...common, type: 'unsupported', uri };
  }
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
    const raw = this.string(name);
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
