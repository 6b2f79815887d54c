/**
 * sdk/ is published on its own: it must not reach into the sidecar's
 * sources, and every package it imports must be one its package.json names.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../harness/opa.js';

const SDK = join(PROJECT_ROOT, 'sdk');
const manifest = JSON.parse(readFileSync(join(SDK, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  exports: Record<string, Record<string, string>>;
  files: string[];
};

interface Import {
  readonly file: string;
  readonly specifier: string;
  readonly typeOnly: boolean;
}

function importsOf(dir: string): Import[] {
  const found: Import[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^(import|export)(\s+type)?\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) {
      found.push({ file, specifier: m[3]!, typeOnly: m[2] !== undefined });
    }
  }
  return found;
}

const packageOf = (specifier: string): string => {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
};

describe('the SDK package', () => {
  const imports = importsOf(join(SDK, 'src'));

  it('imports nothing outside sdk/src (it builds and ships without the sidecar)', () => {
    const escaping = imports.filter((i) => i.specifier.startsWith('..'));
    expect(escaping).toEqual([]);
  });

  it('imports only node builtins, its dependencies, and its optional peers for types only', () => {
    const external = imports.filter((i) => !i.specifier.startsWith('.') && !i.specifier.startsWith('node:'));
    const undeclared = external.filter(
      (i) =>
        !builtinModules.includes(i.specifier) &&
        !(packageOf(i.specifier) in manifest.dependencies) &&
        !(packageOf(i.specifier) in manifest.peerDependencies),
    );
    expect(undeclared).toEqual([]);
    // A peer (express, koa, fastify) an app may not have installed must not be loaded at run time.
    const peersAtRunTime = external.filter((i) => packageOf(i.specifier) in manifest.peerDependencies && !i.typeOnly);
    expect(peersAtRunTime).toEqual([]);
    for (const peer of Object.keys(manifest.peerDependencies)) {
      expect(manifest.peerDependenciesMeta[peer]?.optional, peer).toBe(true);
    }
  });

  it('has an entry point for the client and each framework, with its source', () => {
    expect(Object.keys(manifest.exports).sort()).toEqual(['.', './express', './fastify', './koa']);
    for (const entry of Object.values(manifest.exports)) {
      expect(existsSync(join(SDK, entry['ipsie-source']!)), entry['ipsie-source']).toBe(true);
      expect(entry['types']).toMatch(/^\.\/dist\/.+\.d\.ts$/);
    }
    expect(manifest.files).toEqual(expect.arrayContaining(['dist/', 'proto/']));
  });
});
