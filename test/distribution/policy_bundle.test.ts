import { describe, expect, it } from 'vitest';
import { bundleOf, compiledOf, decodeBundle, encodeBundle } from '../../src/distribution/policy_bundle.js';
import type { CompiledPolicy } from '../../src/policy/index.js';

/** Every byte value, so no encoding step can drop or rewrite one. */
const WASM = Uint8Array.from({ length: 512 }, (_, i) => i % 256);

const COMPILED: CompiledPolicy = {
  tenantId: 'acme',
  version: 'sha256:0123456789abcdef',
  wasm: WASM,
  data: { acr_rank: { phrh: 40 } },
  tests: { passed: 3, failed: 0 },
};

const MODULES = { 'policy.rego': 'package tenants.acme\n\nallow if input.subject.active\n', 'ünï.rego': '# ☃\n' };
const BUNDLE = bundleOf(COMPILED, MODULES, { extra: [1, 'two'] }, 1_800_000_000_000);

const stored = (fields: Record<string, unknown>): Uint8Array => {
  const raw = JSON.parse(new TextDecoder().decode(encodeBundle(BUNDLE))) as Record<string, unknown>;
  return new TextEncoder().encode(JSON.stringify({ ...raw, ...fields }));
};

function codeOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return (error as { code?: unknown }).code;
  }
  return undefined;
}

describe('policy bundles', () => {
  it('round-trip through their stored form, the Wasm byte for byte', () => {
    const decoded = decodeBundle(encodeBundle(BUNDLE));
    expect(decoded).toEqual(BUNDLE);
    expect(Buffer.from(decoded.wasm).equals(Buffer.from(WASM))).toBe(true);
  });

  it('give a sidecar back the policy that was compiled, for the same tenant and version', () => {
    expect(compiledOf(decodeBundle(encodeBundle(BUNDLE)))).toEqual({
      tenantId: 'acme',
      version: 'sha256:0123456789abcdef',
      wasm: WASM,
      data: { acr_rank: { phrh: 40 } },
    });
  });

  it('store a compile that ran no tests as tests: null', () => {
    const { tests: _tests, ...untested } = COMPILED;
    expect(decodeBundle(encodeBundle(bundleOf(untested, MODULES, {}, 0))).tests).toBeNull();
  });

  it('hand out compiled data a sidecar may change without changing the bundle', () => {
    const compiled = compiledOf(BUNDLE);
    compiled.data['acr_rank'] = {};
    expect(BUNDLE.compiledData).toEqual({ acr_rank: { phrh: 40 } });
  });

  it.each([
    ['not JSON', new TextEncoder().encode('{"v":1,')],
    ['JSON null', new TextEncoder().encode('null')],
    ['a JSON list', new TextEncoder().encode('[]')],
    ['another version', stored({ v: 2 })],
    ['no tenant', stored({ tenant: undefined })],
    ['a tenant that is not a string', stored({ tenant: ['acme'] })],
    ['no version', stored({ version: undefined })],
    ['modules as a list', stored({ modules: ['package x'] })],
    ['no data', stored({ data: undefined })],
    ['compiled data as a string', stored({ compiled_data: '{}' })],
    ['no Wasm', stored({ wasm: undefined })],
    ['Wasm as a byte list', stored({ wasm: [0, 97, 115, 109] })],
    ['a creation time as a string', stored({ created_at: '1800000000000' })],
  ])('are refused when the stored bytes hold %s', (_what, bytes) => {
    expect(codeOf(() => decodeBundle(bytes))).toBe('ERR_CATALOG_BUNDLE_INVALID');
  });

  it('read malformed test results as none', () => {
    expect(decodeBundle(stored({ tests: 'passed' })).tests).toBeNull();
  });
});
