import Router from '@koa/router';
import type { AuditRecord } from './audit_record.js';
import { AuditRequestError } from './errors.js';

export interface AuditPullOptions {
  readonly log: {
    read(
      tenant: string,
      after: number,
      limit: number,
    ): Promise<{ records: { seq: number; record: AuditRecord }[]; cursor: number }>;
  };
  /** @defaultValue 1000 */
  readonly maxLimit?: number;
}

/**
 * `GET /audit?after=<cursor>&limit=<n>` under a tenant's admin API: the
 * tenant's audit trail for its SIEM, as NDJSON (one record per line with its
 * `seq`), oldest first. `X-Ipsie-Cursor` is where to resume; an empty body
 * means nothing newer yet. Only the tenant's own subjects are read.
 */
export function createAuditPullRoutes(options: AuditPullOptions): Router<{ tenant: string }> {
  const maxLimit = options.maxLimit ?? 1_000;
  const router = new Router<{ tenant: string }>({ prefix: '/audit' });
  router.get('/', async (ctx) => {
    const after = integer(ctx.query['after'], 'after', 0);
    const limit = integer(ctx.query['limit'], 'limit', 100);
    if (limit < 1 || limit > maxLimit) throw new AuditRequestError(`"limit" must be 1 to ${maxLimit}`);
    const { records, cursor } = await options.log.read(ctx.state.tenant, after, limit);
    ctx.set('X-Ipsie-Cursor', String(cursor));
    ctx.type = 'application/x-ndjson';
    ctx.body = records.map(({ seq, record }) => `${JSON.stringify({ seq, ...pulled(record) })}\n`).join('');
  });
  return router;
}

function integer(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !/^\d{1,15}$/.test(value)) {
    throw new AuditRequestError(`"${name}" must be a non-negative integer`);
  }
  return Number(value);
}

/**
 * A record as the SIEM pull gives it: a sampled decision without the policy input it recorded (the
 * person's attributes, session and request, kept for explanations), which is read, redacted, through
 * `GET /decisions/<id>/explanation` instead.
 */
function pulled(record: AuditRecord): AuditRecord {
  if (record.kind !== 'decision' || !('input' in record.data)) return record;
  const { input: _input, ...data } = record.data;
  return { ...record, data: { ...data, input_recorded: _input !== null } };
}
