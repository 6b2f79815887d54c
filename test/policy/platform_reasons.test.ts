import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reasonLabel, TENANT_DEFINED_REASON } from '../../src/check/index.js';
import { PLATFORM_POLICY_REASON_CODES } from '../../src/policy/index.js';
import { PLATFORM_POLICY_DIR } from '../harness/opa.js';

describe('platform reason codes', () => {
  it('the registry lists exactly the codes the platform rules give', () => {
    const inRego = new Set<string>();
    for (const file of readdirSync(PLATFORM_POLICY_DIR).filter(
      (f) => f.endsWith('.rego') && !f.endsWith('_test.rego'),
    )) {
      for (const match of readFileSync(join(PLATFORM_POLICY_DIR, file), 'utf8').matchAll(/reason\("([A-Z_]+)"/g)) {
        inRego.add(match[1] ?? '');
      }
    }
    expect([...inRego].sort()).toEqual([...PLATFORM_POLICY_REASON_CODES].sort());
  });

  it('labels platform, sidecar and token reasons as themselves and anything else as TENANT_DEFINED', () => {
    expect(reasonLabel('POLICY_DENIED')).toBe('POLICY_DENIED');
    expect(reasonLabel('STALE_DATA')).toBe('STALE_DATA');
    expect(reasonLabel('TOKEN_EXPIRED')).toBe('TOKEN_EXPIRED');
    expect(reasonLabel('ACME_HOLD')).toBe(TENANT_DEFINED_REASON);
    expect(reasonLabel('TOKEN_MADE_UP')).toBe(TENANT_DEFINED_REASON);
    expect(reasonLabel(undefined)).toBe('');
  });
});
