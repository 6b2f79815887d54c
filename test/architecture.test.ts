/**
 * Import boundaries (STYLE.md b.8, c): a folder under src/ is one concept;
 * others reach it only through its index.ts, and only in the allowed
 * direction, so data flows ingest -> store -> check.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from './harness/opa.js';

const SRC = join(PROJECT_ROOT, 'src');

/** concept -> concepts it may import. Shared root files (errors.ts) are open to all. */
const ALLOWED: Readonly<Record<string, readonly string[]>> = {
  config: [],
  logging: ['config'],
  changes: [],
  store: ['changes'],
  policy: [],
  stream: ['changes', 'logging'],
  ingest: ['changes', 'logging', 'store', 'stream'],
  tokens: ['config'],
  saml: ['config', 'http', 'logging', 'stream'],
  session: ['changes', 'config', 'logging', 'saml', 'store', 'stream', 'tokens'],
  check: ['changes', 'config', 'identifiers', 'logging', 'policy', 'session', 'store', 'tokens', 'txn_tokens'],
  txn_tokens: ['stream', 'tokens'],
  tenant_keys: ['changes', 'config', 'http', 'logging', 'stream'],
  identifiers: ['config', 'store'],
  scim: ['changes', 'http', 'logging', 'store', 'stream'],
  audit: ['stream'],
  signals: ['audit', 'changes', 'config', 'http', 'identifiers', 'logging', 'store', 'stream'],
  http: ['audit', 'logging'],
  admin: ['changes', 'http', 'logging', 'store', 'stream'],
  resources: ['changes', 'check', 'http', 'logging', 'store', 'stream'],
  observations: ['changes', 'check', 'logging', 'stream'],
  distribution: ['http', 'logging', 'policy', 'stream'],
  cli: ['config', 'explain', 'policy'],
  explain: ['audit', 'check', 'http', 'policy'],
  authzen: ['check', 'http', 'identifiers', 'logging', 'session', 'store'],
  ext_authz: ['check', 'logging', 'session'],
  observability: [],
  transmit: ['audit', 'changes', 'config', 'http', 'logging', 'observations', 'store', 'stream'],
  roles: [
    'admin',
    'authzen',
    'audit',
    'changes',
    'check',
    'config',
    'distribution',
    'explain',
    'ext_authz',
    'http',
    'identifiers',
    'ingest',
    'logging',
    'observability',
    'observations',
    'policy',
    'saml',
    'resources',
    'scim',
    'session',
    'signals',
    'store',
    'stream',
    'tenant_keys',
    'tokens',
    'transmit',
    'txn_tokens',
  ],
};

const ROOT_FILES = new Set([
  'attribute_catalog.ts',
  'bearer_token.ts',
  'errors.ts',
  'security_event_types.ts',
  'tenant_id.ts',
]);

interface ImportEdge {
  readonly file: string;
  readonly target: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !relative(SRC, f).startsWith(join('check', 'gen')));
}

function importsOf(file: string): ImportEdge[] {
  const text = readFileSync(file, 'utf8');
  const edges: ImportEdge[] = [];
  for (const match of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"](\.[^'"]+)['"]/g)) {
    edges.push({ file: relative(SRC, file), target: relative(SRC, resolve(dirname(file), match[1] ?? '')) });
  }
  return edges;
}

const conceptOf = (path: string): string => path.split('/')[0] ?? '';

describe('architecture', () => {
  const edges = sourceFiles(SRC).flatMap(importsOf);

  it('every folder under src/ is a known concept with an index.ts', () => {
    const folders = readdirSync(SRC, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
    expect(folders.sort()).toEqual(Object.keys(ALLOWED).sort());
    for (const folder of folders)
      expect(sourceFiles(join(SRC, folder)).map((f) => relative(SRC, f))).toContain(`${folder}/index.ts`);
  });

  it('cross-concept imports go through index.ts and follow the allowed direction', () => {
    const violations: string[] = [];
    for (const { file, target } of edges) {
      const from = conceptOf(file);
      const to = conceptOf(target);
      if (!target.includes('/')) {
        if (!ROOT_FILES.has(target.replace(/\.js$/, '.ts')) && from !== 'main.ts')
          violations.push(`${file} -> ${target}`);
        continue;
      }
      if (from === to) continue;
      if (target !== `${to}/index.js`) violations.push(`${file} -> ${target} (not through ${to}/index.ts)`);
      const allowed = file === 'main.ts' ? ['cli', 'config', 'logging', 'roles'] : (ALLOWED[from] ?? []);
      if (!allowed.includes(to)) violations.push(`${file} -> ${to} (${from} may not depend on ${to})`);
    }
    expect(violations).toEqual([]);
  });

  it('generated protobuf code is imported only inside src/check', () => {
    const outside = edges.filter((e) => e.target.startsWith('check/gen/') && conceptOf(e.file) !== 'check');
    expect(outside).toEqual([]);
  });
});
