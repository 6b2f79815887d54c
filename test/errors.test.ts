/**
 * The one error table (src/errors.ts): every code is registered, owned by
 * one concept, documented, and mapped by every surface. The mappings'
 * completeness is a compile-time fact; the `@ts-expect-error` lines below
 * fail `tsc` if a missing code or kind were ever accepted.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ERROR_CODES, reasonOf, SidecarError } from '../src/errors.js';
import type { ErrorCode, ErrorKind, KindTable } from '../src/errors.js';
import { GRPC_STATUS } from '../src/check/status.js';
import { HTTP_STATUS, httpFailureOf } from '../src/http/index.js';
import { SCIM_TYPE } from '../src/scim/index.js';
import { PROJECT_ROOT } from './harness/opa.js';

const SRC = join(PROJECT_ROOT, 'src');
const CODES = Object.keys(ERROR_CODES) as ErrorCode[];

function sourceFiles(): string[] {
  return readdirSync(SRC, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !relative(SRC, f).startsWith(join('check', 'gen')));
}

describe('the error table', () => {
  it('does not compile an error whose code is not in the table', () => {
    class Unregistered extends SidecarError {
      // @ts-expect-error a code must be registered in src/errors.ts
      readonly code = 'ERR_NOT_REGISTERED';
    }
    expect(new Unregistered('x').name).toBe('Unregistered');
  });

  it('does not compile a surface table that leaves a kind out', () => {
    // @ts-expect-error every kind must be mapped
    const partial: KindTable<number> = { invalid_request: 400 };
    expect(Object.keys(partial)).toHaveLength(1);
  });

  it('gives each prefix to one concept folder, whose errors.ts defines all its error classes', () => {
    const owners = new Map<string, Set<string>>();
    const errorClasses = new Set(['SidecarError']);
    const files = sourceFiles().map((file) => ({ path: relative(SRC, file), text: readFileSync(file, 'utf8') }));
    for (const { path, text } of files.filter((f) => f.path.endsWith('errors.ts') && f.path.includes('/'))) {
      const folder = path.split('/')[0] ?? '';
      for (const [, name] of text.matchAll(/class (\w+) extends/g)) errorClasses.add(name ?? '');
      for (const [, prefix] of text.matchAll(/['`]ERR_([A-Z]+)_/g)) {
        owners.set(prefix ?? '', (owners.get(prefix ?? '') ?? new Set()).add(folder));
      }
    }
    const classesOutsideErrorsFiles = files
      .filter((f) => !f.path.endsWith('errors.ts'))
      .flatMap(({ path, text }) =>
        [...text.matchAll(/class (\w+) extends (\w+)/g)]
          .filter(([, , base]) => errorClasses.has(base ?? ''))
          .map(([, name]) => `${path}: ${name ?? ''}`),
      );
    expect(classesOutsideErrorsFiles).toEqual([]);
    const shared = [...owners].filter(([, folders]) => folders.size > 1).map(([p, f]) => `${p}: ${[...f].join(', ')}`);
    expect(shared).toEqual([]);
    const unowned = CODES.filter((code) => !owners.has(code.split('_')[1] ?? ''));
    expect(unowned).toEqual([]);
  });

  it('gives every code a reason no other code has', () => {
    const reasons = CODES.map(reasonOf);
    expect(new Set(reasons).size).toBe(reasons.length);
  });

  it('lists every code in docs/error-codes.md', () => {
    const docs = readFileSync(join(PROJECT_ROOT, 'docs', 'error-codes.md'), 'utf8');
    expect(CODES.filter((code) => !docs.includes(`\`${code}\``))).toEqual([]);
  });

  it('keeps the gRPC statuses clients already switch on', () => {
    const grpcOf = (code: ErrorCode): GrpcStatus => GRPC_STATUS[ERROR_CODES[code].kind];
    expect(grpcOf('ERR_CHECK_TENANT_MISSING')).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(grpcOf('ERR_CHECK_SEQUENCE_NOT_REACHED')).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(grpcOf('ERR_CHECK_SUBJECT_UNSUPPORTED')).toBe(GrpcStatus.UNIMPLEMENTED);
    expect(grpcOf('ERR_CHECK_WATCHER_TOO_SLOW')).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(grpcOf('ERR_STORE_TENANT_UNKNOWN')).toBe(GrpcStatus.NOT_FOUND);
    expect(grpcOf('ERR_SIGNIN_NOT_PROVISIONED')).toBe(GrpcStatus.PERMISSION_DENIED);
    expect(grpcOf('ERR_TOKEN_EXPIRED')).toBe(GrpcStatus.UNAUTHENTICATED);
    expect(grpcOf('ERR_POLICY_EVALUATION_FAILED')).toBe(GrpcStatus.INTERNAL);
    expect(reasonOf('ERR_SIGNIN_NOT_PROVISIONED')).toBe('USER_NOT_PROVISIONED');
    expect(reasonOf('ERR_TOKEN_EXPIRED')).toBe('TOKEN_EXPIRED');
  });

  it('answers an error without a code as 500 and withholds its message', () => {
    expect(httpFailureOf(new Error('secret path /var/lib'))).toEqual({
      status: 500,
      code: 'ERR_INTERNAL',
      message: 'internal error',
      retryAfterS: undefined,
      ours: true,
    });
  });

  it('maps every kind to an HTTP error status and a gRPC error status', () => {
    const kinds = Object.keys(HTTP_STATUS) as ErrorKind[];
    expect(kinds.every((k) => HTTP_STATUS[k] >= 400)).toBe(true);
    expect(kinds.every((k) => GRPC_STATUS[k] !== GrpcStatus.OK)).toBe(true);
  });

  it('gives SCIM codes of RFC 7644 §3.12 a scimType only with status 400 or 409', () => {
    for (const [code, scimType] of Object.entries(SCIM_TYPE)) {
      if (scimType === undefined) continue;
      expect([400, 409]).toContain(HTTP_STATUS[ERROR_CODES[code as ErrorCode].kind]);
    }
  });
});
