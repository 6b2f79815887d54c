import { ScimError } from './errors.js';
import { etagOf } from './resource.js';
import type { Json, Representation } from './resource.js';
import type { ResourceKind } from './schema.js';

/** Query parameters of a list or get (RFC 7644 §3.4.2). */
export interface ListQuery {
  readonly filter?: string | undefined;
  readonly startIndex?: string | number | undefined;
  readonly count?: string | number | undefined;
  readonly attributes?: string | undefined;
  readonly excludedAttributes?: string | undefined;
}

export interface ScimResult {
  readonly status: 200 | 201 | 204;
  readonly body: Json | undefined;
  readonly etag: string | undefined;
  readonly location: string | undefined;
  /** For writes: the stream sequence that holds the change (a Check `min_sequence` that sees it). */
  readonly sequence?: number;
}

/** Where a request came in: the tenant and the base URL of its SCIM endpoint. */
export interface ScimContext extends Representation {
  readonly tenantId: string;
}

/** The replica's position relative to the stream. */
export interface ReplicaSync {
  waitForSequence(sequence: number, timeoutMs: number): Promise<boolean>;
}

export function ok(body: Json, etag?: string): ScimResult {
  return { status: 200, body, etag, location: undefined };
}

export function noContent(sequence: number): ScimResult {
  return { status: 204, body: undefined, etag: undefined, location: undefined, sequence };
}

export function notFound(kind: ResourceKind, id: string): ScimError {
  return new ScimError('ERR_SCIM_NOT_FOUND', `${kind} ${id} not found`);
}

export function preconditionFailed(id: string): ScimError {
  return new ScimError('ERR_SCIM_PRECONDITION_FAILED', `resource ${id} changed since the version given in If-Match`);
}

/** `If-Match: W/"42"` (or `*`) against the entity's current sequence. */
export function checkIfMatch(ifMatch: string | undefined, sequence: number): void {
  if (ifMatch === undefined) return;
  const tags = ifMatch.split(',').map((t) => t.trim());
  if (tags.includes('*')) return;
  const current = etagOf(sequence);
  const strong = current.slice(2);
  if (!tags.some((t) => t === current || t === strong)) {
    throw new ScimError(
      'ERR_SCIM_PRECONDITION_FAILED',
      `If-Match ${ifMatch} does not match the current version ${current}`,
    );
  }
}

/** The writes of one resource type (RFC 7644 §3.3, §3.5, §3.6). */
export interface ResourceWrites {
  create(context: ScimContext, body: unknown): Promise<ScimResult>;
  replace(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult>;
  patch(context: ScimContext, id: string, body: unknown, ifMatch: string | undefined): Promise<ScimResult>;
  delete(context: ScimContext, id: string, ifMatch: string | undefined): Promise<ScimResult>;
}

/** Attempts of a read-modify-write that lost a race to another writer (without If-Match). */
export const WRITE_ATTEMPTS = 3;
