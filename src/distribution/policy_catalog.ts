import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '../stream/index.js';
import { PolicyCatalogConflictError, PolicyVersionNotFoundError } from './errors.js';
import { decodeBundle, encodeBundle } from './policy_bundle.js';
import type { PolicyBundle } from './policy_bundle.js';

/** Object store of every uploaded version's bundle, `<tenant>/<version>`. */
export const POLICY_BUNDLES_BUCKET = 'ipsie_policy_bundles';
/** KV of each tenant's active version (key = tenant id), with its history. */
export const POLICY_ACTIVE_BUCKET = 'ipsie_policy_active';

/** What the active pointer of a tenant holds. */
export interface ActivePolicy {
  readonly tenant: string;
  readonly version: string;
  /** The version active before this one (what rollback returns to). */
  readonly previous: string | null;
  /** Unix ms. */
  readonly activatedAt: number;
  /** The KV revision: orders activations across the cluster. */
  readonly revision: number;
}

export interface PolicyVersionInfo {
  readonly version: string;
  readonly createdAt: number;
  readonly size: number;
  readonly active: boolean;
}

/**
 * The policy catalog on JetStream: bundles in an object store, each tenant's
 * active version in a KV bucket. Activation is a compare-and-set on the
 * tenant's key, so two administrators activating at once cannot both win
 * silently; every sidecar watches the bucket.
 */
export class PolicyCatalog {
  readonly #bundles: ObjectStore;
  readonly #active: KV;

  private constructor(bundles: ObjectStore, active: KV) {
    this.#bundles = bundles;
    this.#active = active;
  }

  /** Creates the buckets if missing (the gateway's job). */
  static async create(nc: NatsConnection, options: { replicas?: number } = {}): Promise<PolicyCatalog> {
    const replicas = options.replicas ?? 1;
    const bundles = await new Objm(nc).create(POLICY_BUNDLES_BUCKET, {
      replicas,
      description: 'tenant policy bundles',
    });
    const active = await new Kvm(nc).create(POLICY_ACTIVE_BUCKET, {
      replicas,
      history: 16,
      description: 'active policy version per tenant',
    });
    return new PolicyCatalog(bundles, active);
  }

  /** Opens existing buckets (a sidecar's view); rejects while they do not exist. */
  static async open(nc: NatsConnection): Promise<PolicyCatalog> {
    const bundles = await new Objm(nc).open(POLICY_BUNDLES_BUCKET);
    const active = await new Kvm(nc).open(POLICY_ACTIVE_BUCKET);
    await active.status();
    return new PolicyCatalog(bundles, active);
  }

  get activeBucket(): KV {
    return this.#active;
  }

  /** Stores a version (idempotent: the same sources give the same version). */
  async put(bundle: PolicyBundle): Promise<void> {
    await this.#bundles.putBlob(
      {
        name: objectName(bundle.tenant, bundle.version),
        metadata: { tenant: bundle.tenant, version: bundle.version, created_at: String(bundle.createdAt) },
      },
      encodeBundle(bundle),
    );
  }

  /** @throws {PolicyVersionNotFoundError} */
  async get(tenant: string, version: string): Promise<PolicyBundle> {
    const bytes = (await this.#exists(tenant, version))
      ? await this.#bundles.getBlob(objectName(tenant, version))
      : null;
    if (bytes === null) throw new PolicyVersionNotFoundError(`tenant ${tenant} has no policy version ${version}`);
    return decodeBundle(bytes);
  }

  async list(tenant: string): Promise<PolicyVersionInfo[]> {
    const active = (await this.active(tenant))?.version;
    const prefix = `${tenant}/`;
    return (await this.#bundles.list())
      .filter((info) => info.name.startsWith(prefix) && isLive(info))
      .map((info) => {
        const version = info.name.slice(prefix.length);
        return {
          version,
          createdAt: Number(info.metadata?.['created_at'] ?? 0),
          size: info.size,
          active: version === active,
        };
      })
      .sort((a, b) => b.createdAt - a.createdAt);
  }

  async active(tenant: string): Promise<ActivePolicy | undefined> {
    const entry = await this.#active.get(tenant);
    if (entry?.operation !== 'PUT') return undefined;
    return parseActive(tenant, entry.json(), entry.revision);
  }

  /**
   * Makes `version` the tenant's active one.
   *
   * @throws {PolicyVersionNotFoundError} no such version
   * @throws {PolicyCatalogConflictError} another activation happened since `expectedRevision`
   */
  async activate(tenant: string, version: string, expectedRevision?: number): Promise<ActivePolicy> {
    if (!(await this.#exists(tenant, version))) {
      throw new PolicyVersionNotFoundError(`tenant ${tenant} has no policy version ${version}`);
    }
    const current = await this.active(tenant);
    if (expectedRevision !== undefined && (current?.revision ?? 0) !== expectedRevision) {
      throw new PolicyCatalogConflictError(`the active policy of ${tenant} changed since revision ${expectedRevision}`);
    }
    if (current?.version === version) return current;
    const value = JSON.stringify({
      version,
      previous: current?.version ?? null,
      activated_at: Date.now(),
    });
    let revision: number;
    try {
      revision =
        current === undefined
          ? await this.#active.create(tenant, value)
          : await this.#active.update(tenant, value, current.revision);
    } catch (cause) {
      throw new PolicyCatalogConflictError(`the active policy of ${tenant} changed meanwhile; retry`, { cause });
    }
    return parseActive(tenant, JSON.parse(value), revision);
  }

  /**
   * Activates the version that was active before the current one.
   *
   * @throws {PolicyCatalogConflictError} nothing to roll back to
   */
  async rollback(tenant: string): Promise<ActivePolicy> {
    const current = await this.active(tenant);
    if (current?.previous == null) {
      throw new PolicyCatalogConflictError(`tenant ${tenant} has no previous policy version to roll back to`);
    }
    return await this.activate(tenant, current.previous, current.revision);
  }

  async #exists(tenant: string, version: string): Promise<boolean> {
    return isLive(await this.#bundles.info(objectName(tenant, version)));
  }

  /** @throws {PolicyCatalogConflictError} the version is active; {PolicyVersionNotFoundError} */
  async delete(tenant: string, version: string): Promise<void> {
    if ((await this.active(tenant))?.version === version) {
      throw new PolicyCatalogConflictError(`${version} is the active policy of ${tenant}: activate another first`);
    }
    if (!(await this.#exists(tenant, version))) {
      throw new PolicyVersionNotFoundError(`tenant ${tenant} has no policy version ${version}`);
    }
    await this.#bundles.delete(objectName(tenant, version));
  }
}

/** A deleted object keeps an info record marked deleted. */
function isLive(info: { deleted?: boolean } | null): boolean {
  return info !== null && info.deleted !== true;
}

function objectName(tenant: string, version: string): string {
  return `${tenant}/${version}`;
}

export function parseActive(tenant: string, value: unknown, revision: number): ActivePolicy {
  const v = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  return {
    tenant,
    version: typeof v['version'] === 'string' ? v['version'] : '',
    previous: typeof v['previous'] === 'string' ? v['previous'] : null,
    activatedAt: typeof v['activated_at'] === 'number' ? v['activated_at'] : 0,
    revision,
  };
}
