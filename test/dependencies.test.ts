/**
 * The dependency list stays short and honest (STYLE.md b.13): every package
 * imported by src/ is a runtime dependency, every runtime dependency is used,
 * and dev-only packages never reach src/.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './harness/opa.js';

const pkg = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Packages a runtime dependency needs us to pin but that src/ does not import by name. */
const INDIRECT: ReadonlySet<string> = new Set([
  // Read for its Envoy ext_authz .proto files (src/ext_authz), not imported as a module.
  '@grpc/grpc-js-xds',
]);

function packagesImportedBy(dir: string): Set<string> {
  const found = new Set<string>();
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const text = readFileSync(join(entry.parentPath, entry.name), 'utf8');
    const specifiers = [
      ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/g),
      ...text.matchAll(/(?:import\(|require\()\s*['"]([^'"]+)['"]/g),
    ].map((m) => m[1] ?? '');
    for (const specifier of specifiers) {
      if (specifier.startsWith('.') || specifier.startsWith('node:') || builtinModules.includes(specifier)) continue;
      const parts = specifier.split('/');
      found.add(specifier.startsWith('@') ? `${parts[0] ?? ''}/${parts[1] ?? ''}` : (parts[0] ?? ''));
    }
  }
  return found;
}

describe('dependencies', () => {
  const runtime = Object.keys(pkg.dependencies);
  const used = packagesImportedBy(join(PROJECT_ROOT, 'src'));

  it('src/ imports only declared runtime dependencies', () => {
    expect([...used].filter((p) => !runtime.includes(p)).sort()).toEqual([]);
  });

  it('every runtime dependency is used by src/', () => {
    expect(runtime.filter((p) => !used.has(p) && !INDIRECT.has(p)).sort()).toEqual([]);
  });

  it('tests, benches and the demo use only declared packages', () => {
    const declared = [...runtime, ...Object.keys(pkg.devDependencies)];
    const outside = ['test', 'bench', 'demo'].flatMap((d) => {
      try {
        return [...packagesImportedBy(join(PROJECT_ROOT, d))];
      } catch {
        return [];
      }
    });
    expect(outside.filter((p) => !declared.includes(p)).sort()).toEqual([]);
  });
});
