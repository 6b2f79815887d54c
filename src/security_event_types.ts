/**
 * The Security Event Token event types of CAEP 1.0, RISC 1.0 and SSF 1.0
 * that this project reads or sends: one table, from which the receiver's
 * parsers, the events a stream asks for, and the transmitter's event URIs
 * all derive. A type added here without a parser does not compile.
 */

/** The URI prefixes of each specification's event types. */
export const CAEP_EVENT = 'https://schemas.openid.net/secevent/caep/event-type/';
export const RISC_EVENT = 'https://schemas.openid.net/secevent/risc/event-type/';
export const SSF_EVENT = 'https://schemas.openid.net/secevent/ssf/event-type/';

/** What the receiver does with an event of the type. */
type Receipt =
  /** Changes state: asked for by default when this receiver registers a stream. */
  | 'acted-on'
  /** Archived only; its existence is information the app does not act on. */
  | 'recorded'
  /** SSF stream control, handled by the stream client. */
  | 'stream-control';

interface EventTypeInfo {
  readonly uri: string;
  readonly receipt: Receipt;
  /** Sent by this project's transmitter (IPSIE SL3). */
  readonly transmitted?: true;
  /** Read when sent, never asked for: its specification replaced it. */
  readonly deprecated?: true;
}

export const SECURITY_EVENT_TYPES = {
  'session-revoked': { uri: `${CAEP_EVENT}session-revoked`, receipt: 'acted-on' },
  'token-claims-change': { uri: `${CAEP_EVENT}token-claims-change`, receipt: 'acted-on' },
  'credential-change': { uri: `${CAEP_EVENT}credential-change`, receipt: 'acted-on' },
  'assurance-level-change': { uri: `${CAEP_EVENT}assurance-level-change`, receipt: 'acted-on' },
  'device-compliance-change': { uri: `${CAEP_EVENT}device-compliance-change`, receipt: 'acted-on' },
  'risk-level-change': { uri: `${CAEP_EVENT}risk-level-change`, receipt: 'acted-on' },
  'session-established': { uri: `${CAEP_EVENT}session-established`, receipt: 'recorded', transmitted: true },
  'session-presented': { uri: `${CAEP_EVENT}session-presented`, receipt: 'recorded', transmitted: true },
  'account-disabled': { uri: `${RISC_EVENT}account-disabled`, receipt: 'acted-on' },
  'account-enabled': { uri: `${RISC_EVENT}account-enabled`, receipt: 'acted-on' },
  'account-purged': { uri: `${RISC_EVENT}account-purged`, receipt: 'acted-on' },
  'account-credential-change-required': { uri: `${RISC_EVENT}account-credential-change-required`, receipt: 'acted-on' },
  // Deprecated by RISC 1.0 in favour of CAEP session-revoked.
  'sessions-revoked': { uri: `${RISC_EVENT}sessions-revoked`, receipt: 'acted-on', deprecated: true },
  'credential-compromise': { uri: `${RISC_EVENT}credential-compromise`, receipt: 'acted-on' },
  'identifier-changed': { uri: `${RISC_EVENT}identifier-changed`, receipt: 'acted-on' },
  'identifier-recycled': { uri: `${RISC_EVENT}identifier-recycled`, receipt: 'acted-on' },
  verification: { uri: `${SSF_EVENT}verification`, receipt: 'stream-control' },
  'stream-updated': { uri: `${SSF_EVENT}stream-updated`, receipt: 'stream-control' },
} as const satisfies Record<string, EventTypeInfo>;

export type SecurityEventName = keyof typeof SECURITY_EVENT_TYPES;

/** The session-change events our transmitter can send. */
export type TransmittedEventName = {
  [K in SecurityEventName]: (typeof SECURITY_EVENT_TYPES)[K] extends { transmitted: true } ? K : never;
}[SecurityEventName];

const NAMES = Object.keys(SECURITY_EVENT_TYPES) as SecurityEventName[];
const BY_URI: ReadonlyMap<string, SecurityEventName> = new Map(
  NAMES.map((name) => [SECURITY_EVENT_TYPES[name].uri, name]),
);

/** The event type an `events` member's URI names, if it is one we know. */
export function securityEventNameOf(uri: string): SecurityEventName | undefined {
  return BY_URI.get(uri);
}

export function securityEventUri(name: SecurityEventName): string {
  return SECURITY_EVENT_TYPES[name].uri;
}

/**
 * The URIs of the events this receiver acts on, less deprecated ones: what
 * a stream asks for unless an administrator says otherwise.
 */
export const EVENTS_ACTED_ON: readonly string[] = NAMES.filter((name) => {
  const info: EventTypeInfo = SECURITY_EVENT_TYPES[name];
  return info.receipt === 'acted-on' && info.deprecated !== true;
}).map(securityEventUri);
