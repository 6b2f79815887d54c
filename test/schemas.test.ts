import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishedDocuments } from '../scripts/schemas.js';
import { PROJECT_ROOT } from './harness/opa.js';

describe('generated documents', () => {
  it.each([...publishedDocuments()])('%s is current with its definition in code (npm run schemas)', (path, text) => {
    expect(readFileSync(join(PROJECT_ROOT, path), 'utf8')).toBe(text);
  });
});
