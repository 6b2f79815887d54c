/**
 * The SDK is published on its own and so keeps its own copies of the
 * sidecar's codes and protos; these tests fail when either drifts from the
 * sidecar's.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SIDECAR_REASON_CODES } from '../../src/check/index.js';
import { ERROR_CODES, reasonOf } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { PLATFORM_POLICY_REASON_CODES, POLICY_TIMEOUT } from '../../src/policy/index.js';
import { TOKEN_ERROR_CODES } from '../../src/tokens/index.js';
import { PLATFORM_DECISION_REASONS, SIDECAR_ERROR_REASONS } from '../../sdk/src/index.js';
import { PROJECT_ROOT } from '../harness/opa.js';

const sorted = (values: Iterable<string>): string[] => [...new Set(values)].sort();

/** The reasons in the first column of the gRPC tables of docs/errors.md. */
function documentedGrpcReasons(): string[] {
  const doc = readFileSync(join(PROJECT_ROOT, 'docs/errors.md'), 'utf8');
  const grpc = doc.slice(doc.indexOf('## gRPC'), doc.indexOf('\n## ', doc.indexOf('## gRPC') + 1));
  return [...grpc.matchAll(/^\| `([A-Z_]+)` /gm)].map((m) => m[1]!);
}

function protoFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.proto'))
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

describe('the SDK against the sidecar it talks to', () => {
  it('knows every decision reason the platform gives, and no other', () => {
    const platform = [
      ...PLATFORM_POLICY_REASON_CODES,
      POLICY_TIMEOUT,
      ...SIDECAR_REASON_CODES,
      ...TOKEN_ERROR_CODES.map((code) => reasonOf(code)),
    ];
    expect(sorted(PLATFORM_DECISION_REASONS)).toEqual(sorted(platform));
  });

  it('knows every ErrorInfo reason docs/errors.md lists for gRPC, and no other', () => {
    const documented = documentedGrpcReasons();
    expect(documented.length).toBeGreaterThan(30);
    expect(sorted(SIDECAR_ERROR_REASONS)).toEqual(sorted(documented));
  });

  it('every ErrorInfo reason it knows is one of the error table (src/errors.ts), INTERNAL aside', () => {
    const registered = new Set(Object.keys(ERROR_CODES).map((code) => reasonOf(code as ErrorCode)));
    expect(SIDECAR_ERROR_REASONS.filter((r) => r !== 'INTERNAL' && !registered.has(r))).toEqual([]);
  });

  it('every code the Check service raises has its reason in the SDK', () => {
    // The prefixes whose codes reach gRPC callers (the dry run is the admin API's).
    const grpcCodes = (Object.keys(ERROR_CODES) as ErrorCode[]).filter(
      (code) =>
        /^ERR_(CHECK|SIGNIN|TOKEN|STORE)_/.test(code) ||
        ['ERR_POLICY_NOT_LOADED', 'ERR_POLICY_EVALUATION_FAILED', 'ERR_POLICY_OVERLOADED'].includes(code),
    );
    const known: ReadonlySet<string> = new Set(SIDECAR_ERROR_REASONS);
    expect(grpcCodes.filter((code) => code !== 'ERR_CHECK_DRY_RUN_INVALID' && !known.has(reasonOf(code)))).toEqual([]);
  });

  it('ships the same .proto files as proto/', () => {
    const sdkProto = join(PROJECT_ROOT, 'sdk/proto');
    for (const file of protoFiles(sdkProto)) {
      expect(readFileSync(join(sdkProto, file), 'utf8'), file).toBe(
        readFileSync(join(PROJECT_ROOT, 'proto', file), 'utf8'),
      );
    }
    expect(protoFiles(sdkProto)).toEqual([
      'google/rpc/error_details.proto',
      'google/rpc/status.proto',
      'ipsie/sidecar/v1/authz.proto',
    ]);
  });
});
