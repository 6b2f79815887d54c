/**
 * The JSON Schemas of the project's contracts, generated from their
 * definitions in code. `npm run schemas` writes them into docs/schemas/;
 * test/schemas.test.ts fails when a published file is not current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tenantRulesJsonSchema } from '../src/policy/index.js';

/** Path under the project root -> the schema it must hold. */
export function publishedSchemas(): Map<string, Record<string, unknown>> {
  return new Map([['docs/schemas/tenant-rules.schema.json', tenantRulesJsonSchema()]]);
}

export function schemaFileText(schema: Record<string, unknown>): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [path, schema] of publishedSchemas()) {
    writeFileSync(new URL(`../${path}`, import.meta.url), schemaFileText(schema));
    process.stdout.write(`wrote ${path}\n`);
  }
}
