import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { publishedSchemas, schemaFileText } from '../scripts/schemas.js';
import { PROJECT_ROOT } from './harness/opa.js';

describe('published JSON Schemas', () => {
  it.each([...publishedSchemas()])('%s is current with its definition in code (npm run schemas)', (path, schema) => {
    expect(readFileSync(join(PROJECT_ROOT, path), 'utf8')).toBe(schemaFileText(schema));
  });
});
