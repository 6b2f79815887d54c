import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { keyedSubject, subjectsMatch } from '../../src/transmit/subject_match.js';
import { TenantCipher } from '../../src/tenant_keys/index.js';

const acme = new TenantCipher('acme', new Map([['k1', randomBytes(32)]]), 'k1', randomBytes(32));
const ada = { format: 'email', email: 'ada@acme.example' };
const bob = { format: 'email', email: 'bob@acme.example' };
const session = { format: 'opaque', id: 'sid-1' };
const complex = { format: 'complex', user: ada, session };

describe('subjects of a tenant with a customer-managed key', () => {
  it('name nobody once keyed', () => {
    for (const subject of [ada, complex]) {
      expect(JSON.stringify(keyedSubject(subject, acme))).not.toContain('ada@acme.example');
    }
  });

  it('match keyed as they match in clear: simple, complex, and one against the other', () => {
    const pairs: [Record<string, unknown>, Record<string, unknown>][] = [
      [ada, ada],
      [ada, bob],
      [ada, complex],
      [bob, complex],
      [complex, { format: 'complex', user: ada }],
      [complex, { format: 'complex', user: bob }],
      [session, complex],
    ];
    for (const [a, b] of pairs) {
      expect(subjectsMatch(keyedSubject(a, acme), keyedSubject(b, acme))).toBe(subjectsMatch(a, b));
    }
  });

  it('are left as they are for a tenant without a key', () => {
    expect(keyedSubject(complex, undefined)).toBe(complex);
  });
});
