import Router from '@koa/router';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import { attributesJsonSchema, breakingChanges, catalogDocument } from '../attribute_catalog.js';
import type { AttributeCatalog, AttributeType } from '../attribute_catalog.js';
import type { Logger } from '../logging/index.js';
import { PolicyCompileError, policyInputJsonSchema } from '../policy/index.js';
import type { TenantPolicySource } from '../policy/index.js';
import type { NatsConnection } from '../stream/index.js';
import { AttributeCatalogBreakingError, PolicyVersionNotFoundError } from './errors.js';
import type { PolicyCatalog } from './policy_catalog.js';

/** Every tenant's attribute catalog versions: `<tenant>.latest` and `<tenant>.v<n>`. */
export const ATTRIBUTE_CATALOGS_BUCKET = 'ipsie_attribute_catalogs';

/** One kept version of a tenant's catalog: the catalog as served, numbered from 1. */
export interface CatalogVersion {
  readonly version: number;
  readonly digest: string;
  readonly recordedAt: number;
  /** The catalog as served (attribute_catalog.ts catalogDocument). */
  readonly document: Record<string, unknown>;
}

/** What a tenant's policy input is typed with: undefined when its tenants file declares no catalog. */
export function inputSchemaOf(catalog: AttributeCatalog): Record<string, unknown> | undefined {
  return catalog.declared ? policyInputJsonSchema(attributesJsonSchema(catalog)) : undefined;
}

/**
 * The versions of each tenant's attribute catalog, on a JetStream KV bucket shared by every gateway replica:
 * a catalog whose digest differs from the latest kept one becomes the next version; an equal one keeps it.
 */
export class AttributeCatalogVersions {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  static async create(nc: NatsConnection, options: { replicas?: number } = {}): Promise<AttributeCatalogVersions> {
    const kv = await new Kvm(nc).create(ATTRIBUTE_CATALOGS_BUCKET, {
      replicas: options.replicas ?? 1,
      description: 'attribute catalog versions per tenant',
    });
    return new AttributeCatalogVersions(kv);
  }

  async latest(tenant: string): Promise<CatalogVersion | undefined> {
    return (await this.#latestEntry(tenant))?.value;
  }

  /** @throws {PolicyVersionNotFoundError} no such catalog version */
  async get(tenant: string, version: number): Promise<CatalogVersion> {
    const entry = await this.#kv.get(`${tenant}.v${String(version)}`);
    if (entry?.operation !== 'PUT') {
      throw new PolicyVersionNotFoundError(`tenant ${tenant} has no attribute catalog version ${String(version)}`);
    }
    return entry.json<CatalogVersion>();
  }

  /** Every kept version, newest first. */
  async list(tenant: string): Promise<CatalogVersion[]> {
    const latest = await this.latest(tenant);
    const versions: CatalogVersion[] = [];
    for (let n = latest?.version ?? 0; n >= 1; n--) versions.push(await this.get(tenant, n));
    return versions;
  }

  /** Keeps `catalog` as the tenant's latest version: the next number when it changed, the same when not. */
  async record(tenant: string, catalog: AttributeCatalog, now = Date.now()): Promise<CatalogVersion> {
    for (let attempt = 1; ; attempt++) {
      const latest = await this.#latestEntry(tenant);
      if (latest?.value.digest === catalog.digest) return latest.value;
      const version = (latest?.value.version ?? 0) + 1;
      const next: CatalogVersion = {
        version,
        digest: catalog.digest,
        recordedAt: now,
        document: withAttributeVersions(catalogDocument(catalog), latest?.value.document, version),
      };
      const json = JSON.stringify(next);
      try {
        if (latest === undefined) await this.#kv.create(`${tenant}.latest`, json);
        else await this.#kv.update(`${tenant}.latest`, json, latest.revision);
      } catch (error) {
        // Another replica recorded a version meanwhile: read it again.
        if (attempt >= 5) throw error;
        continue;
      }
      await this.#kv.put(`${tenant}.v${String(next.version)}`, json);
      return next;
    }
  }

  async #latestEntry(tenant: string): Promise<{ value: CatalogVersion; revision: number } | undefined> {
    const entry = await this.#kv.get(`${tenant}.latest`);
    if (entry?.operation !== 'PUT') return undefined;
    return { value: entry.json<CatalogVersion>(), revision: entry.revision };
  }
}

export interface CatalogChangeOptions {
  readonly tenant: string;
  readonly catalog: AttributeCatalog;
  readonly versions: AttributeCatalogVersions;
  readonly policies: PolicyCatalog;
  /** `opa check --schema` over stored sources (PolicyCompiler.typeCheck). */
  readonly typeCheck: (source: TenantPolicySource, inputSchema: Record<string, unknown>) => Promise<void>;
  readonly logger: Logger;
}

/**
 * A tenant's catalog as the tenants file now gives it, checked against the tenant's active policy and kept
 * as a new version when it changed (docs/attributes.md). A changed, declared catalog that the active policy
 * does not type-check against is refused, naming the attributes it removed or retyped and the active version.
 *
 * @throws {AttributeCatalogBreakingError} `ERR_CATALOG_ATTRIBUTES_BREAKING`
 */
export async function adoptCatalog(options: CatalogChangeOptions): Promise<CatalogVersion> {
  const { tenant, catalog, versions, policies, logger } = options;
  const latest = await versions.latest(tenant);
  if (latest?.digest === catalog.digest) return latest;
  const schema = inputSchemaOf(catalog);
  const active = await policies.active(tenant);
  if (schema === undefined || active === undefined) return await record(options, latest);
  const bundle = await policies.get(tenant, active.version);
  const source = { tenantId: tenant, modules: new Map(Object.entries(bundle.modules)), data: bundle.data };
  const before = ((latest?.document['attributes'] ?? []) as { name: string; type: AttributeType }[]).map(
    ({ name, type }) => ({ name, type }),
  );
  const breaking = breakingChanges(before, catalog.attributes);
  // Comparisons (`>=`) accept any type, so a retyped attribute is left out of a first check: any reference
  // to it is then an undefined ref, as one to a removed attribute is. The second check types the rest.
  const retyped = new Set(breaking.filter((b) => b.change === 'type changed').map((b) => b.name));
  const schemas =
    retyped.size === 0
      ? [schema]
      : [
          policyInputJsonSchema(
            attributesJsonSchema({ ...catalog, attributes: catalog.attributes.filter((a) => !retyped.has(a.name)) }),
          ),
          schema,
        ];
  for (const inputSchema of schemas) {
    try {
      await options.typeCheck(source, inputSchema);
    } catch (error) {
      if (!(error instanceof PolicyCompileError)) throw error;
      const where = error.problems.map((p) => `${p.file ?? '?'}:${String(p.row ?? '?')}: ${p.message}`).join('; ');
      const refusal = new AttributeCatalogBreakingError(
        `the attribute catalog of tenant ${tenant} breaks its active policy ${active.version}` +
          (breaking.length > 0 ? ` (${breaking.map((b) => b.detail).join(', ')})` : '') +
          `: ${where}`,
        { cause: error, detail: { breaking, problems: error.problems } },
      );
      logger.error(
        { tenant, policy_version: active.version, breaking, problems: error.problems, err: refusal },
        'attribute catalog refused: the active policy depends on what it changes',
      );
      throw refusal;
    }
  }
  return await record(options, latest);
}

async function record(options: CatalogChangeOptions, latest: CatalogVersion | undefined): Promise<CatalogVersion> {
  const { tenant, catalog, versions, logger } = options;
  const recorded = await versions.record(tenant, catalog);
  logger.info(
    { tenant, catalog_version: recorded.version, digest: recorded.digest, previous: latest?.version ?? null },
    'attribute catalog version recorded',
  );
  return recorded;
}

export interface AttributeRoutesOptions {
  readonly catalogs: ReadonlyMap<string, AttributeCatalog>;
  readonly versions: AttributeCatalogVersions;
}

/**
 * `/attributes` under a tenant's admin API: the tenant's attribute catalog as JSON, with its version.
 *
 * - `GET /attributes` the current catalog; `GET /attributes/versions` every kept version, newest first
 * - `GET /attributes/versions/<n>` one kept version
 */
export function createAttributeRoutes(options: AttributeRoutesOptions): Router<{ tenant: string }> {
  const router = new Router<{ tenant: string }>({ prefix: '/attributes' });
  router.get('/', async (ctx) => {
    const tenant = ctx.state.tenant;
    const latest = await options.versions.latest(tenant);
    const catalog = options.catalogs.get(tenant);
    if (catalog === undefined) throw new PolicyVersionNotFoundError(`tenant ${tenant} has no attribute catalog`);
    const recorded = latest?.digest === catalog.digest ? latest : undefined;
    ctx.body = { tenant, version: recorded?.version ?? null, ...(recorded?.document ?? catalogDocument(catalog)) };
  });
  router.get('/versions', async (ctx) => {
    ctx.body = { versions: (await options.versions.list(ctx.state.tenant)).map(versionBody) };
  });
  router.get('/versions/:n', async (ctx) => {
    const n = Number(ctx.params['n']);
    if (!Number.isInteger(n) || n < 1) {
      throw new PolicyVersionNotFoundError(`"${ctx.params['n'] ?? ''}" is not a catalog version`);
    }
    ctx.body = versionBody(await options.versions.get(ctx.state.tenant, n));
  });
  return router;
}

/**
 * Each attribute of a new catalog version with the version its definition dates from: the previous one's when
 * unchanged (the same type, values, description, data use and source), this one's otherwise.
 */
function withAttributeVersions(
  document: Record<string, unknown>,
  previous: Record<string, unknown> | undefined,
  version: number,
): Record<string, unknown> {
  const definition = ({ version: _version, origin: _origin, ...rest }: Record<string, unknown>): string =>
    JSON.stringify(rest);
  const before = new Map(
    ((previous?.['attributes'] ?? []) as Record<string, unknown>[]).map((a) => [definition(a), a['version']]),
  );
  const attributes = (document['attributes'] as Record<string, unknown>[]).map((a) => ({
    ...a,
    version: typeof before.get(definition(a)) === 'number' ? before.get(definition(a)) : version,
  }));
  return { ...document, attributes };
}

function versionBody(v: CatalogVersion): Record<string, unknown> {
  return { version: v.version, recorded_at: v.recordedAt, ...v.document };
}
