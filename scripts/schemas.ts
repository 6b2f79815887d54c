/**
 * The files of docs/ generated from their definitions in code: the JSON
 * Schemas of the project's contracts (docs/schemas/) and the table of every
 * error code (docs/error-codes.md). `npm run schemas` writes them;
 * test/schemas.test.ts fails when a published file is not current.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { GRPC_STATUS } from '../src/check/status.js';
import { changeJsonSchema } from '../src/changes/index.js';
import { tenantsJsonSchema } from '../src/config/index.js';
import { ERROR_CODES, reasonOf } from '../src/errors.js';
import type { ErrorCode } from '../src/errors.js';
import { HTTP_STATUS } from '../src/http/index.js';
import { tenantRulesJsonSchema } from '../src/policy/index.js';

/** Path under the project root -> the schema it must hold. */
export function publishedSchemas(): Map<string, Record<string, unknown>> {
  return new Map([
    ['docs/schemas/tenant-rules.schema.json', tenantRulesJsonSchema()],
    ['docs/schemas/change.schema.json', changeJsonSchema()],
    ['docs/schemas/tenants.schema.json', tenantsJsonSchema()],
  ]);
}

export function schemaFileText(schema: Record<string, unknown>): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}

/** docs/error-codes.md: each code of src/errors.ts with its kind and what the gRPC and HTTP surfaces answer. */
export function errorCodesText(): string {
  const rows = (Object.keys(ERROR_CODES) as ErrorCode[]).map((code) => {
    const { kind } = ERROR_CODES[code];
    return [`\`${code}\``, kind, String(HTTP_STATUS[kind]), GrpcStatus[GRPC_STATUS[kind]], `\`${reasonOf(code)}\``];
  });
  const header = ['Code', 'Kind', 'HTTP', 'gRPC', 'gRPC reason'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/errors.ts by `npm run schemas`; test/schemas.test.ts checks it is current. -->',
    '',
    'Every code the sidecar raises, its kind, and the status each surface answers for that kind: HTTP at the',
    'admin, SCIM, AuthZEN and SSF stream management APIs; gRPC (with the reason in `google.rpc.ErrorInfo`) at',
    'the Authorization service. Protocol endpoints with their own error format (RFC 8935 push, back-channel',
    'logout, SCIM `scimType`) are described in [errors.md](errors.md).',
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
  ].join('\n');
}

/** Generated documents: path under the project root -> its text. */
export function publishedDocuments(): Map<string, string> {
  return new Map([
    ...[...publishedSchemas()].map(([path, schema]): [string, string] => [path, schemaFileText(schema)]),
    ['docs/error-codes.md', errorCodesText()],
  ]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [path, text] of publishedDocuments()) {
    writeFileSync(new URL(`../${path}`, import.meta.url), text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
