import type { Config } from '../config/index.js';
import { CheckServer, Decider } from '../check/index.js';
import type { BoundAddresses } from '../check/index.js';
import type { Logger } from '../logging/index.js';
import { PolicyCompiler, PolicyRegistry, loadTenantPolicySources } from '../policy/index.js';
import type { CompiledPolicy, TenantPolicySource } from '../policy/index.js';
import { EntitlementStore } from '../store/index.js';

export interface SidecarOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Unix seconds; for tests. @defaultValue the system clock */
  readonly clock?: () => number;
}

/** A running sidecar, as the composition root and tests hold it. */
export interface RunningSidecar {
  readonly addresses: BoundAddresses;
  readonly store: EntitlementStore;
  readonly policies: PolicyRegistry;
  /**
   * Compiles a tenant's Rego and makes it the tenant's active policy. On
   * any failure the previous version keeps serving.
   */
  deployPolicy(source: TenantPolicySource): Promise<CompiledPolicy>;
  /** Stops in reverse start order: gRPC (draining calls), then the store. */
  stop(): Promise<void>;
}

/** Starts the sidecar role: store → policies → gRPC Check service. */
export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const { config, logger } = options;
  const clock = options.clock;
  const store = EntitlementStore.open(config.store.path, {
    subjectCacheSize: config.store.subjectCacheSize,
    ...(clock === undefined ? {} : { clock }),
  });
  const policies = new PolicyRegistry();
  const compiler = new PolicyCompiler({
    opaPath: config.policy.opaPath,
    platformDir: config.policy.platformDir,
    timeoutMs: config.policy.buildTimeoutMs,
  });

  const deployPolicy = async (source: TenantPolicySource): Promise<CompiledPolicy> => {
    const started = performance.now();
    const compiled = await compiler.compile(source);
    await policies.install(compiled);
    logger.info(
      { tenant: source.tenantId, policy_version: compiled.version, ms: Math.round(performance.now() - started) },
      'policy active',
    );
    return compiled;
  };

  try {
    if (config.policy.tenantsDir !== undefined) {
      for (const source of await loadTenantPolicySources(config.policy.tenantsDir)) {
        // One tenant's broken policy must not keep the others from serving.
        await deployPolicy(source).catch((error: unknown) => {
          logger.error(
            { tenant: source.tenantId, err: error },
            'policy not loaded; Checks for this tenant fail closed',
          );
        });
      }
    }
    const decider = new Decider({ reader: store, policies, logger, ...(clock === undefined ? {} : { clock }) });
    const server = new CheckServer({
      decider,
      logger,
      batchMaxItems: config.grpc.batchMaxItems,
      address: config.grpc.address,
      socketPath: config.grpc.socketPath,
    });
    const addresses = await server.start();
    return {
      addresses,
      store,
      policies,
      deployPolicy,
      stop: async () => {
        await server.stop();
        store.close();
      },
    };
  } catch (error) {
    store.close();
    throw error;
  }
}
