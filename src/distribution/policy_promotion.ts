import { createHash } from 'node:crypto';
import Router from '@koa/router';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { AttributeCatalog } from '../attribute_catalog.js';
import type { Logger } from '../logging/index.js';
import type { CompiledPolicy, TenantPolicySource } from '../policy/index.js';
import type { NatsConnection } from '../stream/index.js';
import { tenantKeyOf, tenantNameOf } from '../tenant_id.js';
import {
  PolicyCatalogConflictError,
  PromotionInvalidError,
  PromotionNoSandboxError,
  PromotionReviewUnknownError,
  PromotionSourceForbiddenError,
  PromotionStaleError,
} from './errors.js';
import { evaluating, jsonBody, parseRecorded } from './policy_admin_routes.js';
import { compiledOf } from './policy_bundle.js';
import type { PolicyBundle } from './policy_bundle.js';
import type { PolicyCatalog } from './policy_catalog.js';
import { diffModules } from './source_diff.js';
import type { ModuleDiff } from './source_diff.js';

/** Reviews of promotions, `<tenant>.<review digest>`, shared by every gateway replica. */
export const POLICY_PROMOTIONS_BUCKET = 'ipsie_policy_promotions';
/** A review can be promoted on for this long, in ms: what it showed goes out of date. */
export const PROMOTION_REVIEW_TTL_MS = 3_600_000;
/** Changed decisions a review shows as examples. */
const REVIEW_EXAMPLES = 10;

/** What a promotion would do, as shown to the administrator: the promotion carries its digest. */
export interface PromotionReview {
  /** The production tenant's key. */
  readonly tenant: string;
  /** The sandbox's name. */
  readonly from: string;
  /** The sandbox's version to promote. */
  readonly version: string;
  /** Production's active version and its revision when the review was made (0: none active yet). */
  readonly production: { readonly version: string | null; readonly revision: number };
  readonly diff: { readonly modules: readonly ModuleDiff[]; readonly dataChanged: boolean };
  /**
   * How the sandbox's attribute catalog differs from production's, by attribute name: configuration is not
   * promoted (it is the tenants file's), but a policy tested against other attributes is worth a look.
   */
  readonly attributeCatalog: AttributeCatalogDiff;
  readonly dryRun: {
    readonly source: 'recorded';
    /** Unix ms: decisions recorded since then, at most `limit`. */
    readonly since: number;
    readonly limit: number;
    readonly decisions: number;
    readonly changed: number;
    readonly skipped: number;
    /** Up to ten of the decisions that would change. */
    readonly examples: readonly unknown[];
  };
  /** Unix ms. */
  readonly createdAt: number;
  readonly expiresAt: number;
}

/** Attribute names added, removed or changed (type, values, source, ...) in the sandbox against production. */
export interface AttributeCatalogDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

/** The sandbox's catalog against production's, by attribute name. */
export function attributeCatalogDiff(
  production: AttributeCatalog | undefined,
  sandbox: AttributeCatalog | undefined,
): AttributeCatalogDiff {
  const before = new Map((production?.attributes ?? []).map((a) => [a.name, JSON.stringify(a)]));
  const after = new Map((sandbox?.attributes ?? []).map((a) => [a.name, JSON.stringify(a)]));
  return {
    added: [...after.keys()].filter((name) => !before.has(name)).sort(),
    removed: [...before.keys()].filter((name) => !after.has(name)).sort(),
    changed: [...after]
      .filter(([name, a]) => before.has(name) && before.get(name) !== a)
      .map(([n]) => n)
      .sort(),
  };
}

/** Reviews kept in a JetStream KV bucket with a TTL: any replica can promote on a review another made. */
export class PromotionReviews {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  static async create(nc: NatsConnection, options: { replicas?: number } = {}): Promise<PromotionReviews> {
    const kv = await new Kvm(nc).create(POLICY_PROMOTIONS_BUCKET, {
      replicas: options.replicas ?? 1,
      history: 1,
      ttl: PROMOTION_REVIEW_TTL_MS,
      description: 'reviews of policy promotions from sandboxes',
    });
    return new PromotionReviews(kv);
  }

  /** Keeps `review`; returns its digest (hex), which names it. */
  async put(review: PromotionReview): Promise<string> {
    const digest = createHash('sha256').update(JSON.stringify(review)).digest('hex').slice(0, 32);
    await this.#kv.put(`${review.tenant}.${digest}`, JSON.stringify(review));
    return digest;
  }

  /** The tenant's review of that digest, if kept and not expired. */
  async get(tenant: string, digest: string, now: number): Promise<PromotionReview | undefined> {
    if (!/^[0-9a-f]{32}$/.test(digest)) return undefined;
    const entry = await this.#kv.get(`${tenant}.${digest}`);
    if (entry?.operation !== 'PUT') return undefined;
    const review = entry.json<PromotionReview>();
    // The key names the tenant, but a review is only ever taken for the tenant it was made for.
    return review.tenant === tenant && review.expiresAt > now ? review : undefined;
  }

  /** A review is used once. */
  async delete(tenant: string, digest: string): Promise<void> {
    await this.#kv.delete(`${tenant}.${digest}`);
  }
}

export interface PromotionRoutesOptions {
  readonly catalog: PolicyCatalog;
  readonly reviews: PromotionReviews;
  /** Production tenant key -> its sandbox's key, as the tenants file declares them. */
  readonly sandboxes: ReadonlyMap<string, string>;
  /** Each tenant's attribute catalog (by key), for the review's configuration diff. */
  readonly attributeCatalogs?: ReadonlyMap<string, AttributeCatalog>;
  /** Decides production's recorded decisions (since Unix ms, at most `limit`) under the candidate. */
  readonly dryRunRecorded: (
    tenant: string,
    candidate: CompiledPolicy,
    since: number,
    limit: number,
  ) => Promise<{ readonly outcomes: readonly { readonly changed: boolean }[]; readonly skipped: number }>;
  /** Checks a version against production before it becomes active there (its attribute catalog). */
  readonly checkActivation?: (source: TenantPolicySource) => Promise<void>;
  /** Records the promotion in production's and the sandbox's audit trails. */
  readonly audit?: (tenant: string, change: Record<string, unknown>) => Promise<void>;
  readonly logger: Logger;
  /** Unix ms. @defaultValue Date.now */
  readonly clock?: () => number;
}

/**
 * `/promotions` under a production tenant's admin API: a policy version tested in the tenant's sandbox
 * becomes production's, never blind. Only production's administrators promote (a sandbox's credentials
 * open the sandbox), and only from the tenant's own sandbox.
 *
 * - `GET /promotions/<version>/diff`: the Rego sources of the sandbox's version against production's active one
 * - `POST /promotions/<version>/review` `{"recorded"?: {"since_s", "limit"}}`: the diff and a dry-run of
 *   production's recorded decisions under the sandbox's version, kept for an hour as `review` (its digest)
 * - `POST /promotions` `{"review": "<digest>", "version"?}`: copies the version into production's catalog (with where it
 *   came from) and activates it, if production's active version is still the one the review saw
 */
export function createPromotionRoutes(options: PromotionRoutesOptions): Router<{ tenant: string }> {
  const { catalog, reviews, logger } = options;
  const clock = options.clock ?? Date.now;
  const audit = options.audit ?? (() => Promise.resolve());
  const router = new Router<{ tenant: string }>({ prefix: '/promotions' });

  /** The tenant's own sandbox; a `from` naming any other tenant is refused. */
  const sandboxOf = (tenant: string, from: unknown): string => {
    const sandbox = options.sandboxes.get(tenant);
    if (sandbox === undefined) {
      throw new PromotionNoSandboxError(`${tenantNameOf(tenant)} has no sandbox to promote from`);
    }
    if (from !== undefined && (typeof from !== 'string' || tenantKeyOf(from) !== sandbox)) {
      throw new PromotionSourceForbiddenError(
        `${tenantNameOf(tenant)} promotes from its own sandbox, ${tenantNameOf(sandbox)}, only`,
      );
    }
    return sandbox;
  };

  const diffOf = async (
    tenant: string,
    candidate: PolicyBundle,
  ): Promise<{ production: PromotionReview['production']; diff: PromotionReview['diff'] }> => {
    const active = await catalog.active(tenant);
    const current = active === undefined ? undefined : await catalog.get(tenant, active.version);
    return {
      production: { version: active?.version ?? null, revision: active?.revision ?? 0 },
      diff: {
        modules: diffModules(current?.modules ?? {}, candidate.modules),
        dataChanged: JSON.stringify(current?.data ?? {}) !== JSON.stringify(candidate.data),
      },
    };
  };

  router.get('/:version/diff', async (ctx) => {
    const tenant = ctx.state.tenant;
    const sandbox = sandboxOf(tenant, ctx.query['from']);
    const candidate = await catalog.get(sandbox, ctx.params['version'] ?? '');
    const { production, diff } = await diffOf(tenant, candidate);
    ctx.body = { tenant, from: tenantNameOf(sandbox), version: candidate.version, production, ...diffBody(diff) };
  });

  router.post('/:version/review', async (ctx) => {
    const tenant = ctx.state.tenant;
    const body = await jsonBody(ctx);
    const sandbox = sandboxOf(tenant, body['from']);
    const { since, limit } = parseRecorded(body['recorded'] ?? {});
    const bundle = await catalog.get(sandbox, ctx.params['version'] ?? '');
    const { production, diff } = await diffOf(tenant, bundle);
    if (production.version === bundle.version) {
      throw new PolicyCatalogConflictError(`${bundle.version} is production's active version already`);
    }
    // Refused now rather than at promotion: the version must fit production's attribute catalog too.
    await options.checkActivation?.({
      tenantId: tenant,
      modules: new Map(Object.entries(bundle.modules)),
      data: bundle.data,
    });
    // Production's own traffic, decided by the sandbox's version (evaluated as production's policy).
    const candidate = { ...compiledOf(bundle), tenantId: tenant };
    const { outcomes, skipped } = await evaluating(
      candidate.version,
      async () => await options.dryRunRecorded(tenant, candidate, since, limit),
    );
    const changed = outcomes.filter((o) => o.changed);
    const now = clock();
    const review: PromotionReview = {
      tenant,
      from: tenantNameOf(sandbox),
      version: bundle.version,
      production,
      diff,
      attributeCatalog: attributeCatalogDiff(
        options.attributeCatalogs?.get(tenant),
        options.attributeCatalogs?.get(sandbox),
      ),
      dryRun: {
        source: 'recorded',
        since,
        limit,
        decisions: outcomes.length,
        changed: changed.length,
        skipped,
        examples: changed.slice(0, REVIEW_EXAMPLES),
      },
      createdAt: now,
      expiresAt: now + PROMOTION_REVIEW_TTL_MS,
    };
    const digest = await reviews.put(review);
    logger.info(
      { tenant, from: review.from, policy_version: bundle.version, review: digest, changed: changed.length },
      'policy promotion reviewed',
    );
    ctx.status = 201;
    ctx.body = reviewBody(digest, review);
  });

  router.post('/', async (ctx) => {
    const tenant = ctx.state.tenant;
    const body = await jsonBody(ctx);
    const sandbox = sandboxOf(tenant, body['from']);
    const digest = body['review'];
    if (typeof digest !== 'string' || digest === '') {
      throw new PromotionInvalidError(
        '"review" is required: the digest of the review (diff and dry-run) this promotion was shown',
      );
    }
    const review = await reviews.get(tenant, digest, clock());
    const version = body['version'];
    if (version !== undefined && review !== undefined && version !== review.version) {
      throw new PromotionInvalidError(
        `review ${digest} is of version ${review.version}, not ${JSON.stringify(version)}`,
      );
    }
    if (review === undefined) {
      throw new PromotionReviewUnknownError(
        `${tenantNameOf(tenant)} has no review ${digest.slice(0, 64)} to promote on`,
      );
    }
    const stale = (now: { version: string | null; revision: number }): PromotionStaleError =>
      new PromotionStaleError(
        `production's active version changed since review ${digest} (${review.production.version ?? 'none'} at revision ` +
          `${String(review.production.revision)}, now ${now.version ?? 'none'} at ${String(now.revision)}): review again`,
      );
    const active = await catalog.active(tenant);
    const now = { version: active?.version ?? null, revision: active?.revision ?? 0 };
    if (now.revision !== review.production.revision) throw stale(now);
    const bundle = await catalog.get(sandbox, review.version);
    // Production's attribute catalog may type what the sandbox's did not.
    await options.checkActivation?.({
      tenantId: tenant,
      modules: new Map(Object.entries(bundle.modules)),
      data: bundle.data,
    });
    const at = clock();
    const promotedFrom = { tenant: review.from, version: bundle.version, review: digest, at };
    await catalog.put({ ...bundle, tenant, createdAt: at, promotedFrom });
    let activated;
    try {
      // Compare-and-set on the revision the review saw: a concurrent activation or promotion wins once.
      activated = await catalog.activate(tenant, bundle.version, review.production.revision);
    } catch (error) {
      if (!(error instanceof PolicyCatalogConflictError)) throw error;
      const later = await catalog.active(tenant);
      throw stale({ version: later?.version ?? null, revision: later?.revision ?? 0 });
    }
    await reviews.delete(tenant, digest);
    logger.info(
      { tenant, from: review.from, policy_version: activated.version, revision: activated.revision, review: digest },
      'policy version promoted from the sandbox',
    );
    await audit(tenant, {
      action: 'promote',
      version: activated.version,
      previous: activated.previous,
      from: review.from,
      review: digest,
      dry_run_changed: review.dryRun.changed,
    });
    await audit(sandbox, { action: 'promoted', version: activated.version, to: tenantNameOf(tenant), review: digest });
    ctx.body = {
      version: activated.version,
      previous: activated.previous,
      activated_at: activated.activatedAt,
      revision: activated.revision,
      promoted_from: promotedFrom,
    };
  });

  return router;
}

function diffBody(diff: PromotionReview['diff']): Record<string, unknown> {
  return { modules: diff.modules, data_changed: diff.dataChanged };
}

function reviewBody(digest: string, review: PromotionReview): Record<string, unknown> {
  return {
    review: digest,
    tenant: review.tenant,
    from: review.from,
    version: review.version,
    production: review.production,
    ...diffBody(review.diff),
    attribute_catalog: review.attributeCatalog,
    dry_run: review.dryRun,
    created_at: review.createdAt,
    expires_at: review.expiresAt,
  };
}
