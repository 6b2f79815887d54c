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
import { settingsReference, tenantsJsonSchema } from '../src/config/index.js';
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

/** A markdown table, its columns padded as prettier leaves them. */
function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

/** docs/configuration.md: every process setting of src/config/process_settings.ts. */
export function configurationText(): string {
  const rows = settingsReference().map((s) => [
    `\`${s.variable}\``,
    s.type,
    s.default,
    s.roles.join(', '),
    s.description,
  ]);
  return [
    '# Configuration',
    '',
    '<!-- Generated from src/config/process_settings.ts by `npm run schemas`; test/schemas.test.ts checks it is current. -->',
    '',
    'Each role (`ipsie-sidecar sidecar`, `ipsie-sidecar gateway`) reads these settings once at start, from the',
    'environment and from `IPSIE_CONFIG_FILE` (a JSON object of them by name; the environment overrides it). A bad',
    'value stops the process with exit status 2 and a message naming the variable. An empty value takes the default,',
    'or turns off a setting that can be off (`IPSIE_GRPC_SOCKET=` disables the socket). Tenants (their IdPs, SCIM,',
    'admin, AuthZEN and SSF settings) are in the tenants file, `IPSIE_TENANTS_FILE`, whose every key is in',
    '[schemas/tenants.schema.json](schemas/tenants.schema.json).',
    '',
    ...markdownTable(['Variable', 'Type', 'Default', 'Roles', 'Meaning'], rows),
    '',
    'Refused at start, naming the variables:',
    '',
    '- neither `IPSIE_GRPC_SOCKET` nor `IPSIE_GRPC_ADDRESS`: the sidecar needs a listener;',
    '- `IPSIE_GRPC_ADDRESS` without caller authentication (mutual TLS, `IPSIE_GRPC_TLS_CLIENT_CA_FILE`, or',
    '  `IPSIE_GRPC_CALLER_TOKEN_SHA256`), or with caller tokens but no TLS on an address other than loopback;',
    '- one of `IPSIE_GRPC_TLS_CERT_FILE` and `IPSIE_GRPC_TLS_KEY_FILE` without the other, a client CA without them, or',
    '  TLS without `IPSIE_GRPC_ADDRESS`;',
    '- `IPSIE_STREAM_PROBE_MS` not below `IPSIE_STALE_AFTER_MS`: the store could never be proven current.',
    '',
  ].join('\n');
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
    ['docs/configuration.md', configurationText()],
  ]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [path, text] of publishedDocuments()) {
    writeFileSync(new URL(`../${path}`, import.meta.url), text);
    process.stdout.write(`wrote ${path}\n`);
  }
}
