import { describe, expect, it } from 'vitest';
import {
  acceptedSetSubject,
  acceptedSetSubjects,
  AUDIT_SUBJECT_PREFIX,
  auditSubject,
  signInAssertionSubject,
  tenantAuditSubjects,
  verificationRequestSubject,
} from '../../src/audit/audit_record.js';
import type { AuditKind, AuditRecord } from '../../src/audit/audit_record.js';

/** Every audit kind; `satisfies` makes a kind added to the union without a line here a type error. */
const KINDS = {
  'set.accepted': true,
  'signin.assertion': true,
  'set.refused': true,
  'set.transmitted': true,
  'ssf.verification_requested': true,
  'scim.write': true,
  'resource.write': true,
  'policy.change': true,
  'admin.action': true,
  decision: true,
  'auth.refused': true,
  'idp.change': true,
  'tenant_key.created': true,
  'tenant_key.rotated': true,
  'tenant_key.revoked': true,
} as const satisfies Record<AuditKind, true>;

const record = (kind: AuditKind, tenant = 'acme'): AuditRecord => ({ v: 1, id: 'r-1', tenant, kind, at: 0, data: {} });

/** What a NATS subject token may hold: no separators, wildcards or whitespace. */
const SUBJECT_TOKEN = /^[^.*>\s]+$/;

describe('audit subjects', () => {
  it("put each kind of record on one token of its tenant's trail", () => {
    const subjects = (Object.keys(KINDS) as AuditKind[]).map((kind) => auditSubject(record(kind)));
    for (const subject of subjects) {
      const [root, audit, tenant, kind, ...rest] = subject.split('.');
      expect([root, audit, tenant, rest]).toEqual([...AUDIT_SUBJECT_PREFIX.split('.'), 'acme', []]);
      expect(kind).toMatch(SUBJECT_TOKEN);
    }
    expect(new Set(subjects).size).toBe(subjects.length);
    expect(auditSubject(record('ssf.verification_requested'))).toBe('ipsie.audit.acme.ssf_verification_requested');
  });

  it("keep each tenant's records under its own prefix", () => {
    expect(auditSubject(record('decision', 'acme'))).toMatch(/^ipsie\.audit\.acme\./);
    expect(tenantAuditSubjects('acme')).toBe('ipsie.audit.acme.>');
    expect(auditSubject(record('decision', 'globex')).startsWith('ipsie.audit.acme.')).toBe(false);
  });

  it('give an accepted SET one subject per (issuer, jti), so a replay lands on a subject already taken', () => {
    const subject = acceptedSetSubject('acme', 'https://idp.example/', 'jti-1');
    expect(acceptedSetSubject('acme', 'https://idp.example/', 'jti-1')).toBe(subject);
    expect(acceptedSetSubject('acme', 'https://idp.example/', 'jti-2')).not.toBe(subject);
    expect(acceptedSetSubject('acme', 'https://other.example/', 'jti-1')).not.toBe(subject);
    expect(acceptedSetSubject('globex', 'https://idp.example/', 'jti-1')).not.toBe(subject);
    expect(subject).toMatch(/^ipsie\.audit\.acme\.set\.[A-Za-z0-9_-]{43}$/);
  });

  it('keep issuer and jti apart: moving characters from one to the other is another SET', () => {
    expect(acceptedSetSubject('acme', 'https://idp.example/a', 'b')).not.toBe(
      acceptedSetSubject('acme', 'https://idp.example/', 'ab'),
    );
  });

  it('hash a jti of any size or content into one subject token (dots, wildcards, unicode)', () => {
    for (const jti of ['a.b', '*', '>', 'sp ace', 'ünï©ødé', 'x'.repeat(100_000)]) {
      const subject = acceptedSetSubject('acme', 'https://idp.example/', jti);
      expect(subject.split('.')).toHaveLength(5);
      expect(subject.split('.')[4]).toMatch(SUBJECT_TOKEN);
    }
  });

  it("match every accepted SET's subject of the tenant with acceptedSetSubjects, and none of another tenant", () => {
    const pattern = acceptedSetSubjects('acme');
    expect(pattern).toBe('ipsie.audit.acme.set.*');
    const subject = acceptedSetSubject('acme', 'https://idp.example/', 'jti-1');
    expect(subject.startsWith(pattern.slice(0, -1))).toBe(true);
    expect(acceptedSetSubject('globex', 'https://idp.example/', 'jti-1').startsWith(pattern.slice(0, -1))).toBe(false);
  });

  it('give a sign-in assertion a subject of its own, apart from a SET with the same issuer and id', () => {
    const signIn = signInAssertionSubject('acme', 'https://idp.example/', 'a-1');
    expect(signIn).toMatch(/^ipsie\.audit\.acme\.signin\.[A-Za-z0-9_-]{43}$/);
    expect(signInAssertionSubject('acme', 'https://idp.example/', 'a-1')).toBe(signIn);
    expect(signInAssertionSubject('acme', 'https://idp.example/', 'a-2')).not.toBe(signIn);
    expect(signIn).not.toBe(acceptedSetSubject('acme', 'https://idp.example/', 'a-1'));
  });

  it('give a verification request one subject per state, whatever the state holds', () => {
    const state = 'VGhpcyBpcyBhbiBleGFtcGxlIHN0YXRlIHZhbHVlLgo=';
    const subject = verificationRequestSubject('acme', state);
    expect(subject).toMatch(/^ipsie\.audit\.acme\.verify\.[A-Za-z0-9_-]{43}$/);
    expect(verificationRequestSubject('acme', state)).toBe(subject);
    expect(verificationRequestSubject('acme', `${state}x`)).not.toBe(subject);
    expect(verificationRequestSubject('acme', 'a.b.>')).toMatch(/^ipsie\.audit\.acme\.verify\.[A-Za-z0-9_-]{43}$/);
  });
});
