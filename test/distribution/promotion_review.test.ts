import { describe, expect, it } from 'vitest';
import { attributeCatalog } from '../../src/attribute_catalog.js';
import type { CatalogAttribute } from '../../src/attribute_catalog.js';
import { attributeCatalogDiff, decodeBundle, diffModules, encodeBundle } from '../../src/distribution/index.js';
import type { PolicyBundle } from '../../src/distribution/index.js';

describe('diffModules (what a promotion review shows of the Rego)', () => {
  it('names each file added, removed, changed or the same, with a unified diff of the changed lines', () => {
    const before = { 'a.rego': 'package tenants.acme\n\nallow if {\n\tinput.x\n}\n', 'gone.rego': 'old\n' };
    const after = { 'a.rego': 'package tenants.acme\n\nallow if {\n\tinput.y\n}\n', 'new.rego': 'fresh\n' };
    const diff = diffModules(before, after);
    expect(diff.map(({ file, change }) => ({ file, change }))).toEqual([
      { file: 'a.rego', change: 'changed' },
      { file: 'gone.rego', change: 'removed' },
      { file: 'new.rego', change: 'added' },
    ]);
    expect(diff[0]?.diff).toBe(
      ['@@ -1,5 +1,5 @@', ' package tenants.acme', ' ', ' allow if {', '-\tinput.x', '+\tinput.y', ' }'].join('\n'),
    );
    expect(diff[1]?.diff).toBe('@@ -1,1 +0,0 @@\n-old');
    expect(diffModules({ 'a.rego': 'x\n' }, { 'a.rego': 'x\n' })).toEqual([{ file: 'a.rego', change: 'same' }]);
  });

  it('keeps far-apart changes in separate hunks with three lines of context', () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line ${String(i)}`);
    const changed = lines.map((l, i) => (i === 2 || i === 30 ? `${l} changed` : l));
    const diff = diffModules({ 'a.rego': lines.join('\n') }, { 'a.rego': changed.join('\n') })[0]?.diff ?? '';
    expect(diff.split('\n').filter((l) => l.startsWith('@@'))).toEqual(['@@ -1,6 +1,6 @@', '@@ -28,7 +28,7 @@']);
  });

  it('shows a module too large to align line by line as removed then added, not by a quadratic table', () => {
    const a = Array.from({ length: 3000 }, (_, i) => `a${String(i)}`).join('\n');
    const b = Array.from({ length: 3000 }, (_, i) => `b${String(i)}`).join('\n');
    const diff = diffModules({ 'big.rego': a }, { 'big.rego': b })[0]?.diff ?? '';
    expect(diff.split('\n').filter((l) => l.startsWith('-')).length).toBe(3000);
    expect(diff.split('\n').filter((l) => l.startsWith('+')).length).toBe(3000);
  });
});

describe('attributeCatalogDiff', () => {
  const clearance: CatalogAttribute = {
    name: 'clearance',
    type: 'integer',
    description: 'clearance level',
    source: { claim: 'clearance' },
    origin: 'tenant',
  };
  it('names the attributes the sandbox adds, removes and changes against production', () => {
    const production = attributeCatalog([clearance]);
    const sandbox = attributeCatalog([
      { ...clearance, type: 'string' },
      { ...clearance, name: 'level' },
    ]);
    expect(attributeCatalogDiff(production, sandbox)).toEqual({
      added: ['level'],
      removed: [],
      changed: ['clearance'],
    });
    expect(attributeCatalogDiff(sandbox, production)).toEqual({
      added: [],
      removed: ['level'],
      changed: ['clearance'],
    });
  });
});

describe('a promoted bundle', () => {
  it('keeps where it came from through the catalog, and a bundle without it stays without', () => {
    const bundle: PolicyBundle = {
      v: 1,
      tenant: 'acme',
      version: 'sha256:0123456789abcdef',
      modules: { 'a.rego': 'package tenants.acme\n' },
      data: {},
      compiledData: {},
      wasm: new Uint8Array([0, 97, 115, 109]),
      tests: null,
      createdAt: 1,
      promotedFrom: { tenant: 'acme.sandbox', version: 'sha256:0123456789abcdef', review: 'f'.repeat(32), at: 2 },
    };
    expect(decodeBundle(encodeBundle(bundle)).promotedFrom).toEqual(bundle.promotedFrom);
    const { promotedFrom: _promotedFrom, ...plain } = bundle;
    expect('promotedFrom' in decodeBundle(encodeBundle(plain))).toBe(false);
  });
});
