/**
 * The one table of Security Event Token types: what a stream asks for and
 * what the transmitter sends derive from it.
 */
import { describe, expect, it } from 'vitest';
import {
  CAEP_EVENT,
  EVENTS_ACTED_ON,
  RISC_EVENT,
  SECURITY_EVENT_TYPES,
  securityEventNameOf,
} from '../src/security_event_types.js';
import type { SecurityEventName } from '../src/security_event_types.js';

describe('SECURITY_EVENT_TYPES', () => {
  it('names every type by one URI, and each URI back by its type', () => {
    const names = Object.keys(SECURITY_EVENT_TYPES) as SecurityEventName[];
    const uris = names.map((name) => SECURITY_EVENT_TYPES[name].uri);
    expect(new Set(uris).size).toBe(names.length);
    for (const name of names) expect(securityEventNameOf(SECURITY_EVENT_TYPES[name].uri)).toBe(name);
  });

  it('knows no URI outside the table, however close', () => {
    expect(securityEventNameOf(`${CAEP_EVENT}session-revoked/`)).toBeUndefined();
    expect(securityEventNameOf(`${CAEP_EVENT}Session-Revoked`)).toBeUndefined();
    expect(securityEventNameOf(`${RISC_EVENT}session-revoked`)).toBeUndefined();
    expect(securityEventNameOf('constructor')).toBeUndefined();
  });

  it('has a stream ask for the events the receiver acts on, not for deprecated RISC sessions-revoked', () => {
    expect(EVENTS_ACTED_ON).toEqual([
      ...[
        'session-revoked',
        'token-claims-change',
        'credential-change',
        'assurance-level-change',
        'device-compliance-change',
        'risk-level-change',
      ].map((e) => CAEP_EVENT + e),
      ...[
        'account-disabled',
        'account-enabled',
        'account-purged',
        'account-credential-change-required',
        'credential-compromise',
        'identifier-changed',
        'identifier-recycled',
      ].map((e) => RISC_EVENT + e),
    ]);
  });

  it('lists the two CAEP session events as the ones the transmitter sends', () => {
    const names = Object.keys(SECURITY_EVENT_TYPES) as SecurityEventName[];
    const transmitted = names.filter((name) => 'transmitted' in SECURITY_EVENT_TYPES[name]);
    expect(transmitted).toEqual(['session-established', 'session-presented']);
  });
});
