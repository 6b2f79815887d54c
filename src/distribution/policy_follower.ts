import type { Logger } from '../logging/index.js';
import type { CompiledPolicy } from '../policy/index.js';
import type { NatsConnection } from '../stream/index.js';
import { compiledOf } from './policy_bundle.js';
import { parseActive, PolicyCatalog } from './policy_catalog.js';

export interface PolicyFollowerOptions {
  readonly nc: NatsConnection;
  /** Swaps the tenant's active policy (the registry's atomic install). */
  readonly install: (compiled: CompiledPolicy) => Promise<void>;
  readonly logger: Logger;
  /** Pause before looking for the catalog again while it does not exist, in ms. @defaultValue 2000 */
  readonly retryMs?: number;
}

/**
 * A sidecar's side of policy distribution: loads every tenant's active
 * version from the catalog, then follows activations as they happen. The
 * Wasm is the one the gateway compiled; installing it swaps atomically, so
 * in-flight Checks finish on the version they started with.
 */
export class PolicyFollower {
  readonly #options: PolicyFollowerOptions;
  readonly #logger: Logger;
  #stopped = false;
  #markReady: () => void = () => undefined;
  readonly #ready: Promise<void>;
  #loop: Promise<void> | undefined;
  #stopWatch: (() => void) | undefined;
  #wake: (() => void) | undefined;
  /** tenant -> version installed from the catalog. */
  readonly #installed = new Map<string, string>();

  constructor(options: PolicyFollowerOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: 'policy-follower' });
    this.#ready = new Promise((resolve) => {
      this.#markReady = resolve;
    });
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Resolves true once every tenant's active version (as of start-up) is installed, or false after `timeoutMs`. */
  async ready(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
    });
    const result = await Promise.race([this.#ready.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }

  /** The catalog version installed for each tenant. */
  installed(): ReadonlyMap<string, string> {
    return this.#installed;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopWatch?.();
    this.#wake?.();
    await this.#loop;
  }

  #isStopped(): boolean {
    return this.#stopped;
  }

  async #run(): Promise<void> {
    while (!this.#isStopped()) {
      let catalog: PolicyCatalog;
      try {
        catalog = await PolicyCatalog.open(this.#options.nc);
      } catch {
        // No catalog yet: nothing was ever uploaded, so nothing to wait for.
        this.#markReady();
        await this.#pause();
        continue;
      }
      try {
        await this.#follow(catalog);
      } catch (error) {
        if (this.#isStopped()) break;
        this.#logger.warn({ err: error }, 'policy catalog watch stopped; restarting');
        await this.#pause();
      }
    }
  }

  async #follow(catalog: PolicyCatalog): Promise<void> {
    const bucket = catalog.activeBucket;
    const pending = new Set<string>();
    for await (const key of await bucket.keys()) pending.add(key);
    const watch = await bucket.watch({ key: '>' });
    this.#stopWatch = () => {
      watch.stop();
    };
    // Stopped while the watch was being set up: nothing else would end it.
    if (this.#isStopped()) watch.stop();
    if (pending.size === 0) this.#markReady();
    for await (const entry of watch) {
      if (entry.operation === 'PUT') {
        const active = parseActive(entry.key, entry.json(), entry.revision);
        await this.#install(catalog, active.tenant, active.version);
      }
      pending.delete(entry.key);
      if (pending.size === 0) this.#markReady();
    }
  }

  async #install(catalog: PolicyCatalog, tenant: string, version: string): Promise<void> {
    if (this.#installed.get(tenant) === version) return;
    const started = performance.now();
    try {
      const bundle = await catalog.get(tenant, version);
      await this.#options.install(compiledOf(bundle));
      this.#installed.set(tenant, version);
      this.#logger.info(
        { tenant, policy_version: version, ms: Math.round(performance.now() - started) },
        'policy version activated',
      );
    } catch (error) {
      // The version in use keeps serving: a bad bundle must not take the tenant down.
      this.#logger.error({ err: error, tenant, policy_version: version }, 'policy version not installed');
    }
  }

  /** Waits before looking again; `stop` cuts it short. */
  async #pause(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#options.retryMs ?? 2_000);
      this.#wake = done;
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
    });
    this.#wake = undefined;
  }
}
