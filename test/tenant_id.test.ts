import { describe, expect, it } from 'vitest';
import { decisionSubject, tenantAuditSubjects } from '../src/audit/index.js';
import { subjectOf } from '../src/changes/index.js';
import type { Change } from '../src/changes/index.js';
import {
  isTenantId,
  isTenantKey,
  policyTenantOf,
  productionOfSandbox,
  TENANT_KEY_PATTERN,
  tenantKeyOf,
  tenantSubjectToken,
  tenantNameOf,
} from '../src/tenant_id.js';

const REGO_KEYWORDS = [
  'as',
  'contains',
  'data',
  'default',
  'else',
  'every',
  'false',
  'if',
  'import',
  'in',
  'input',
  'not',
  'null',
  'package',
  'some',
  'true',
  'with',
];

describe('isTenantId', () => {
  it.each(['a', 'acme', 'acme_2', 'a0', 'a'.repeat(63), 'ifx', 'data_eu', 'not_a_keyword'])('accepts %j', (id) => {
    expect(isTenantId(id)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['64 characters', 'a'.repeat(64)],
    ['upper case', 'Acme'],
    ['a leading digit', '1acme'],
    ['a leading underscore', '_acme'],
    ['a hyphen', 'ac-me'],
    ['a dot (a NATS subject separator)', 'ac.me'],
    ['a NATS wildcard', 'acme>'],
    ['a NATS wildcard alone', '*'],
    ['a space', 'ac me'],
    ['a trailing newline', 'acme\n'],
    ['a leading newline', '\nacme'],
    ['a NUL byte', 'acme\0'],
    ['a Cyrillic look-alike letter', '\u0430cme'],
    ['a full-width letter', '\uff41cme'],
    ['a combining accent', 'acme\u0301'],
  ])('refuses %s', (_what, id) => {
    expect(isTenantId(id)).toBe(false);
  });

  it.each(REGO_KEYWORDS)('refuses the Rego keyword %j (package tenants.%s would not be a plain path)', (keyword) => {
    expect(isTenantId(keyword)).toBe(false);
  });

  it.each([
    ['a number', 42],
    ['null', null],
    ['undefined', undefined],
    ['an array holding a valid id', ['acme']],
    ['an object that prints as a valid id', { toString: () => 'acme' }],
    ['a String object', new String('acme')],
  ])('refuses %s: only a string is a tenant id', (_what, value) => {
    expect(isTenantId(value)).toBe(false);
  });
});

describe('sandbox names and keys', () => {
  it('names acme.sandbox by the key acme-sandbox inside, and back', () => {
    expect(tenantKeyOf('acme.sandbox')).toBe('acme-sandbox');
    expect(tenantNameOf('acme-sandbox')).toBe('acme.sandbox');
    expect(tenantKeyOf('acme')).toBe('acme');
    expect(tenantNameOf('acme')).toBe('acme');
    expect(productionOfSandbox('acme-sandbox')).toBe('acme');
    expect(policyTenantOf('acme-sandbox')).toBe('acme');
    expect(policyTenantOf('acme')).toBe('acme');
  });

  it('a sandbox key is no production id, and no production id is a sandbox key: none collide', () => {
    expect(isTenantId('acme-sandbox')).toBe(false);
    expect(isTenantKey('acme-sandbox')).toBe(true);
    expect(productionOfSandbox('acme_sandbox')).toBeUndefined();
    expect(tenantKeyOf('acme_sandbox')).toBe('acme_sandbox');
  });

  it.each([
    ['a dot left in (a NATS token separator)', 'acme.sandbox.x'],
    ['a sandbox of a sandbox', 'acme.sandbox.sandbox'],
    ['a sandbox key of a sandbox key', 'acme-sandbox-sandbox'],
    ['a sandbox of nobody', '.sandbox'],
    ['a sandbox key of nobody', '-sandbox'],
    ['another suffix', 'acme.staging'],
    ['a sandbox of a Rego keyword', 'if.sandbox'],
    ['a sandbox of an upper-case id', 'Acme.sandbox'],
    ['a NATS wildcard', 'acme.>'],
  ])('names no tenant with %s', (_what, name) => {
    expect(tenantKeyOf(name)).toBeUndefined();
  });

  it('every key it gives matches the published pattern', () => {
    for (const name of ['acme', 'acme.sandbox', `${'a'.repeat(63)}.sandbox`]) {
      expect(TENANT_KEY_PATTERN.test(tenantKeyOf(name) ?? '')).toBe(true);
    }
  });
});

describe('tenant subject tokens', () => {
  it("never build a subject from a sandbox's name: acme.sandbox would be two tokens, under acme's wildcards", () => {
    expect(tenantSubjectToken('acme-sandbox')).toBe('acme-sandbox');
    expect(() => tenantSubjectToken('acme.sandbox')).toThrow(TypeError);
    expect(() => tenantSubjectToken('acme.>')).toThrow(TypeError);
    expect(() => decisionSubject('acme.sandbox', 'd1')).toThrow(TypeError);
    expect(() => tenantAuditSubjects('*')).toThrow(TypeError);
    const change = {
      v: 1,
      id: 'c1',
      tenant: 'acme.sandbox',
      at: 1,
      kind: 'tenant.upsert',
      data: {},
    } as unknown as Change;
    expect(() => subjectOf(change)).toThrow(TypeError);
    expect(subjectOf({ ...change, tenant: 'acme-sandbox' })).toBe('ipsie.state.acme-sandbox.tenant');
  });
});
