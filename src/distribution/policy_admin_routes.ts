import Router from '@koa/router';
import type { Context } from 'koa';
import { readJsonObject } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { PolicyEvaluationError } from '../policy/index.js';
import type { CompiledPolicy, TenantPolicySource } from '../policy/index.js';
import { PolicyDryRunFailedError, PolicyUploadInvalidError } from './errors.js';
import { bundleOf, compiledOf } from './policy_bundle.js';
import type { PolicyCatalog } from './policy_catalog.js';

/** Upload limits: a tenant's policy is rules, not a database. */
export const UPLOAD_LIMITS = {
  maxModules: 64,
  maxModuleBytes: 256 * 1024,
  maxTotalBytes: 1024 * 1024,
  maxDataBytes: 256 * 1024,
  maxBodyBytes: 2 * 1024 * 1024,
} as const;

export interface PolicyAdminOptions {
  readonly catalog: PolicyCatalog;
  /** Validates, compiles and tests a candidate (the real `opa`). */
  readonly compile: (source: TenantPolicySource) => Promise<CompiledPolicy>;
  /** Decides `requests` under the active version and the candidate. */
  readonly dryRun: (
    tenant: string,
    candidate: CompiledPolicy,
    current: CompiledPolicy | undefined,
    requests: readonly unknown[],
  ) => Promise<unknown[]>;
  /**
   * Decides the inputs of the tenant's decisions recorded since `since` (Unix ms, at most `limit`)
   * under the candidate; absent when decisions are not recorded here.
   */
  readonly dryRunRecorded?: (
    tenant: string,
    candidate: CompiledPolicy,
    since: number,
    limit: number,
  ) => Promise<{ readonly outcomes: readonly { readonly changed: boolean }[]; readonly skipped: number }>;
  readonly logger: Logger;
  /**
   * Checks a stored version before it becomes active (activation, rollback): the tenant's attribute catalog
   * may have changed since it was uploaded (docs/attributes.md).
   *
   * @throws {PolicyCompileError} `ERR_POLICY_COMPILE_FAILED` with every problem located
   */
  readonly checkActivation?: (source: TenantPolicySource) => Promise<void>;
  /** Records each change (upload, activation, rollback, deletion) in the tenant's audit trail. */
  readonly audit?: (tenant: string, change: Record<string, unknown>) => Promise<void>;
}

/**
 * `/policies` under a tenant's admin API: the tenant's own Rego, through
 * its whole life. Upload compiles it with the platform rules and runs its
 * tests (nothing is stored unless both pass); a stored version is activated
 * for every sidecar at once, rolled back, dry-run against real subjects, or
 * deleted. `ctx.state.tenant` (set by the admin authentication) scopes all.
 *
 * - `POST /policies` `{"modules": {"authz.rego": "…"}, "data": {…}}` → 201 (200 if already stored)
 * - `GET /policies`, `GET /policies/<version>`
 * - `POST /policies/<version>/activate` (`{"expected_revision": n}` optional), `POST /policies/rollback`
 * - `POST /policies/<version>/dry-run` `{"requests": [Check-shaped requests]}`, or
 *   `{"recorded": {"since_s"?: 86400, "limit"?: 1000}}`: the inputs of the decisions sidecars recorded
 * - `DELETE /policies/<version>`
 */
export function createPolicyAdminRoutes(options: PolicyAdminOptions): Router<{ tenant: string }> {
  const { catalog, logger } = options;
  const audit = options.audit ?? (() => Promise.resolve());
  const checkActivation = async (tenant: string, version: string): Promise<void> => {
    if (options.checkActivation === undefined) return;
    const bundle = await catalog.get(tenant, version);
    await options.checkActivation({
      tenantId: tenant,
      modules: new Map(Object.entries(bundle.modules)),
      data: bundle.data,
    });
  };
  const router = new Router<{ tenant: string }>({ prefix: '/policies' });

  router.post('/', async (ctx) => {
    const tenant = ctx.state.tenant;
    const upload = parseUpload(await jsonBody(ctx));
    const compiled = await options.compile({ tenantId: tenant, modules: upload.modules, data: upload.data });
    const existing = (await catalog.list(tenant)).find((v) => v.version === compiled.version);
    if (existing === undefined) {
      await catalog.put(bundleOf(compiled, Object.fromEntries(upload.modules), upload.data, Date.now()));
      logger.info({ tenant, policy_version: compiled.version, tests: compiled.tests }, 'policy version uploaded');
      await audit(tenant, { action: 'upload', version: compiled.version, modules: [...upload.modules.keys()] });
    }
    ctx.status = existing === undefined ? 201 : 200;
    ctx.body = {
      tenant,
      version: compiled.version,
      tests: compiled.tests ?? null,
      active: existing?.active ?? false,
      stored: existing === undefined ? 'new' : 'existing',
    };
  });

  router.get('/', async (ctx) => {
    const tenant = ctx.state.tenant;
    const active = await catalog.active(tenant);
    ctx.body = {
      active: active === undefined ? null : activeBody(active),
      versions: (await catalog.list(tenant)).map((v) => ({
        version: v.version,
        created_at: v.createdAt,
        size: v.size,
        active: v.active,
      })),
    };
  });

  router.post('/rollback', async (ctx) => {
    const tenant = ctx.state.tenant;
    const previous = (await catalog.active(tenant))?.previous;
    if (previous != null) await checkActivation(tenant, previous);
    const active = await catalog.rollback(tenant);
    logger.info({ tenant, policy_version: active.version, revision: active.revision }, 'policy rolled back');
    await audit(tenant, { action: 'rollback', version: active.version, previous: active.previous });
    ctx.body = activeBody(active);
  });

  router.get('/:version', async (ctx) => {
    const tenant = ctx.state.tenant;
    const bundle = await catalog.get(tenant, ctx.params['version'] ?? '');
    const active = await catalog.active(tenant);
    ctx.body = {
      version: bundle.version,
      modules: bundle.modules,
      data: bundle.data,
      tests: bundle.tests,
      created_at: bundle.createdAt,
      active: active?.version === bundle.version,
      promoted_from: bundle.promotedFrom ?? null,
    };
  });

  router.post('/:version/activate', async (ctx) => {
    const tenant = ctx.state.tenant;
    const body = await jsonBody(ctx);
    const expected = body['expected_revision'];
    if (expected !== undefined && (typeof expected !== 'number' || !Number.isInteger(expected))) {
      throw new PolicyUploadInvalidError('"expected_revision" must be an integer');
    }
    await checkActivation(tenant, ctx.params['version'] ?? '');
    const active = await catalog.activate(tenant, ctx.params['version'] ?? '', expected);
    logger.info({ tenant, policy_version: active.version, revision: active.revision }, 'policy activated');
    await audit(tenant, { action: 'activate', version: active.version, previous: active.previous });
    ctx.body = activeBody(active);
  });

  router.post('/:version/dry-run', async (ctx) => {
    const tenant = ctx.state.tenant;
    const body = await jsonBody(ctx);
    if (body['recorded'] !== undefined) {
      const { since, limit } = parseRecorded(body['recorded']);
      const recorded = options.dryRunRecorded;
      if (recorded === undefined) {
        throw new PolicyUploadInvalidError('this gateway does not read recorded decisions: send "requests"');
      }
      const candidate = compiledOf(await catalog.get(tenant, ctx.params['version'] ?? ''));
      const { outcomes, skipped } = await evaluating(
        candidate.version,
        async () => await recorded(tenant, candidate, since, limit),
      );
      const changed = outcomes.filter((o) => o.changed).length;
      ctx.body = { candidate: candidate.version, source: 'recorded', changed, skipped, outcomes };
      return;
    }
    if (!Array.isArray(body['requests'])) throw new PolicyUploadInvalidError('"requests" must be an array');
    const candidate = compiledOf(await catalog.get(tenant, ctx.params['version'] ?? ''));
    const active = await catalog.active(tenant);
    const current = active === undefined ? undefined : compiledOf(await catalog.get(tenant, active.version));
    const requests: unknown[] = body['requests'];
    const outcomes = await evaluating(
      candidate.version,
      async () => await options.dryRun(tenant, candidate, current, requests),
    );
    const changed = outcomes.filter((o) => (o as { changed?: boolean }).changed === true).length;
    ctx.body = { candidate: candidate.version, current: current?.version ?? null, changed, outcomes };
  });

  router.delete('/:version', async (ctx) => {
    await catalog.delete(ctx.state.tenant, ctx.params['version'] ?? '');
    await audit(ctx.state.tenant, { action: 'delete', version: ctx.params['version'] ?? '' });
    ctx.status = 204;
  });

  return router;
}

function activeBody(active: {
  version: string;
  previous: string | null;
  activatedAt: number;
  revision: number;
}): Record<string, unknown> {
  return {
    version: active.version,
    previous: active.previous,
    activated_at: active.activatedAt,
    revision: active.revision,
  };
}

interface Upload {
  readonly modules: Map<string, string>;
  readonly data: Record<string, unknown>;
}

/** @throws {PolicyUploadInvalidError} */
function parseUpload(body: Record<string, unknown>): Upload {
  const modules = body['modules'];
  if (typeof modules !== 'object' || modules === null || Array.isArray(modules)) {
    throw new PolicyUploadInvalidError('"modules" must be an object of file name -> Rego source');
  }
  const entries = Object.entries(modules as Record<string, unknown>);
  if (entries.length === 0 || entries.length > UPLOAD_LIMITS.maxModules) {
    throw new PolicyUploadInvalidError(`"modules" must hold 1 to ${UPLOAD_LIMITS.maxModules} files`);
  }
  let total = 0;
  for (const [name, text] of entries) {
    if (typeof text !== 'string') throw new PolicyUploadInvalidError(`modules["${name}"] must be a string`);
    const size = Buffer.byteLength(text);
    if (size > UPLOAD_LIMITS.maxModuleBytes) {
      throw new PolicyUploadInvalidError(`${name} is ${size} bytes; the limit is ${UPLOAD_LIMITS.maxModuleBytes}`);
    }
    total += size;
  }
  if (total > UPLOAD_LIMITS.maxTotalBytes) {
    throw new PolicyUploadInvalidError(`the modules total ${total} bytes; the limit is ${UPLOAD_LIMITS.maxTotalBytes}`);
  }
  const data: unknown = body['data'] ?? {};
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new PolicyUploadInvalidError('"data" must be a JSON object');
  }
  if (Buffer.byteLength(JSON.stringify(data)) > UPLOAD_LIMITS.maxDataBytes) {
    throw new PolicyUploadInvalidError(`"data" is larger than ${UPLOAD_LIMITS.maxDataBytes} bytes`);
  }
  return { modules: new Map(entries as [string, string][]), data: data as Record<string, unknown> };
}

export async function jsonBody(ctx: Context): Promise<Record<string, unknown>> {
  return await readJsonObject(ctx, {
    limit: UPLOAD_LIMITS.maxBodyBytes,
    invalid: (message) => new PolicyUploadInvalidError(message),
    emptyIsObject: true,
  });
}

/** A version whose Wasm traps (out of memory, a crash) is the upload's problem, not the gateway's. */
export async function evaluating<T>(version: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof PolicyEvaluationError) {
      throw new PolicyDryRunFailedError(
        `the dry-run of version ${version} (or of the active one) failed to evaluate: ${error.message}`,
        { cause: error, ...(error.detail === undefined ? {} : { detail: error.detail }) },
      );
    }
    throw error;
  }
}

const RECORDED_DEFAULTS = { sinceS: 86_400, limit: 1_000 } as const;

export function parseRecorded(value: unknown): { since: number; limit: number } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PolicyUploadInvalidError('"recorded" must be an object: {"since_s"?, "limit"?}');
  }
  const { since_s: sinceS = RECORDED_DEFAULTS.sinceS, limit = RECORDED_DEFAULTS.limit } = value as Record<
    string,
    unknown
  >;
  if (typeof sinceS !== 'number' || !Number.isInteger(sinceS) || sinceS < 1) {
    throw new PolicyUploadInvalidError('"recorded.since_s" must be a positive integer (seconds)');
  }
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > RECORDED_DEFAULTS.limit) {
    throw new PolicyUploadInvalidError(`"recorded.limit" must be an integer from 1 to ${RECORDED_DEFAULTS.limit}`);
  }
  return { since: Date.now() - sinceS * 1000, limit };
}
