import { DEFAULT_STEP_UP_PARAMETERS } from '../config/index.js';
import type { Config } from '../config/index.js';
import { CheckServer, Decider, reasonLabel } from '../check/index.js';
import type { BoundAddresses, PresentedSession } from '../check/index.js';
import { StateIngestor } from '../ingest/index.js';
import type { Logger } from '../logging/index.js';
import { EvaluationPool, PolicyCompiler, PolicyRegistry, loadTenantPolicySources } from '../policy/index.js';
import type { CompiledPolicy, TenantPolicySource } from '../policy/index.js';
import type { AddressInfo } from 'node:net';
import { createAuthzenRouter } from '../authzen/index.js';
import { IdentifierResolver } from '../identifiers/index.js';
import { extAuthzImplementation, extAuthzServiceDefinition } from '../ext_authz/index.js';
import { PolicyFollower } from '../distribution/index.js';
import {
  AUTHZEN_TENANT_PATHS,
  createGatewayApp,
  listen,
  refusedAuthentications,
  tenantNamesInPaths,
} from '../http/index.js';
import type { HttpServer } from '../http/index.js';
import { tenantKeyOf } from '../tenant_id.js';
import { healthReport, metricsRoute, policyReadiness, SidecarMetrics } from '../observability/index.js';
import type { ComponentHealth, TenantReadiness } from '../observability/index.js';
import { SessionObserver } from '../observations/index.js';
import type { EntitlementStore } from '../store/index.js';
import { createHash, randomUUID } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { SessionAuthority } from '../session/index.js';
import type { AssertionClaims } from '../session/index.js';
import { ChangePublisher, connectNats, KvRegister, publishDurably } from '../stream/index.js';
import { TXN_KEYS_BUCKET_OPTIONS, TxnKeyRing, TxnTokenService } from '../txn_tokens/index.js';
import {
  CLEAR_TENANT_KEYS,
  customerManagedKeysOf,
  keyProviders,
  TENANT_KEYS_BUCKET_OPTIONS,
  TenantKeyring,
} from '../tenant_keys/index.js';
import type { TenantCipher, TenantKeyAuditRecord, TenantKeys } from '../tenant_keys/index.js';
import type { TxnKeyStore } from '../txn_tokens/index.js';
import {
  AuditLog,
  AuditRecordExistsError,
  auditSubject,
  DecisionSampler,
  RefusalRecorder,
  signInAssertionSubject,
} from '../audit/index.js';
import type { AuditRecord } from '../audit/index.js';
import type { ChangeSink, NatsConnection } from '../stream/index.js';
import { TokenVerifier } from '../tokens/index.js';
import type { IdpChange } from '../tokens/index.js';
import { KvSamlRequestStore, MemorySamlRequestStore, SamlVerifier } from '../saml/index.js';
import type { SamlRequestStore } from '../saml/index.js';
import { streamHealth } from './stream_health.js';
import { openRoleStore } from './role_store.js';

export interface SidecarOptions {
  readonly config: Config;
  readonly logger: Logger;
  /** Unix seconds; for tests. @defaultValue the system clock */
  readonly clock?: () => number;
  /**
   * One of several processes serving on the same listeners: the cluster
   * primary prepared the socket and serves `/healthz`, `/readyz` and
   * `/metrics` for all (from {@link RunningSidecar.readiness} and
   * {@link RunningSidecar.metrics}); `slot` labels this process's metrics.
   */
  readonly clusterSlot?: number;
}

/** `/readyz` of one sidecar process: ready when every component is. */
export interface SidecarReadiness {
  readonly ready: boolean;
  readonly components: Readonly<Record<string, ComponentHealth>>;
  /** Each tenant's: a tenant without a policy is not ready, the others are. */
  readonly tenants?: Readonly<Record<string, TenantReadiness>>;
}

/** A running sidecar, as the composition root and tests hold it. */
export interface RunningSidecar {
  readonly addresses: BoundAddresses;
  /** The AuthZEN HTTP port actually bound, when `IPSIE_AUTHZEN_ADDRESS` is set. */
  readonly authzenPort: number | undefined;
  /** The `/healthz`, `/readyz`, `/metrics` port actually bound, when `IPSIE_HEALTH_ADDRESS` is set. */
  readonly healthPort: number | undefined;
  readonly store: EntitlementStore;
  readonly policies: PolicyRegistry;
  /** The stream consumer; undefined when running standalone (no `IPSIE_NATS_URL`). */
  readonly ingestor: StateIngestor | undefined;
  /** Each customer-managed-key tenant's cipher (docs/keys.md); standalone, every tenant is in clear. */
  readonly tenantKeys: TenantKeys;
  /** What `/readyz` reports for this process. */
  readiness(): SidecarReadiness;
  readonly metrics: SidecarMetrics;
  /**
   * Compiles a tenant's Rego and makes it the tenant's active policy. On
   * any failure the previous version keeps serving.
   */
  deployPolicy(source: TenantPolicySource): Promise<CompiledPolicy>;
  /** Stops in reverse start order: gRPC (draining calls), the stream consumer, then the store. */
  stop(): Promise<void>;
}

/** Starts the sidecar role: store → policies → stream consumer → gRPC Check service. */
export async function startSidecar(options: SidecarOptions): Promise<RunningSidecar> {
  const { config, logger } = options;
  const clock = options.clock;
  // Customer-managed keys (docs/keys.md): every tenant's keys as the gateway created them, followed and
  // re-validated; started below, before the stream consumer. Standalone (no NATS), every tenant is in clear.
  const providers = keyProviders({ localKeyFile: config.tenantKeys.localKeyFile });
  // Key events this process notices (a key its key service refuses) go to the audit trail once it exists (below).
  let recordTenantKeyEvent: ((record: TenantKeyAuditRecord) => Promise<void>) | undefined;
  const keysConnection =
    config.nats.servers === undefined
      ? undefined
      : await connectNats({ servers: config.nats.servers, name: `${config.nats.name}-keys` }, logger);
  const tenantKeyring =
    keysConnection === undefined
      ? undefined
      : new TenantKeyring({
          store: await KvRegister.openOrCreate(keysConnection, TENANT_KEYS_BUCKET_OPTIONS(1)).catch(
            async (error: unknown) => {
              await keysConnection.close();
              throw error;
            },
          ),
          tenants: customerManagedKeysOf(config.tenants),
          providers,
          creates: false,
          revalidateMs: config.tenantKeys.revalidateS * 1000,
          logger,
          audit: async (record) => {
            await recordTenantKeyEvent?.(record);
          },
        });
  const tenantKeys: TenantKeys = tenantKeyring ?? CLEAR_TENANT_KEYS;
  const sealerOf = (tenant: string): TenantCipher | undefined => tenantKeys.cipherOf(tenant);
  const { store, setAside } = await openRoleStore(config, logger, { sealerOf }).catch(async (error: unknown) => {
    await keysConnection?.close();
    throw error;
  });
  const forgetOpenedReads = tenantKeys.onChange((tenant) => {
    store.keysChanged(tenant);
  });
  // Set once the metrics exist (below); the pool starts first, with the policies.
  let countTimeout: (tenant: string) => void = () => undefined;
  const budgets = new Map(config.tenants.map((t) => [t.id, t.policyBudgetMs]));
  const pool = new EvaluationPool({
    size: config.policy.workers,
    budgetMs: config.policy.budgetMs,
    tenantBudgetMs: (tenant) => budgets.get(tenant),
    onTimeout: (tenant, budgetMs) => {
      logger.warn({ tenant, budget_ms: budgetMs }, 'policy evaluation ran out of its budget; its worker was replaced');
      countTimeout(tenant);
    },
    onWorkerError: (error) => {
      logger.error({ err: error }, 'a policy evaluation worker failed; it is replaced');
    },
  });
  const policies = new PolicyRegistry({ pool });
  const compiler = new PolicyCompiler({
    opaPath: config.policy.opaPath,
    platformDir: config.policy.platformDir,
    timeoutMs: config.policy.buildTimeoutMs,
    memoryLimitMb: config.policy.opaMemoryLimitMb,
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

  let ingestor: StateIngestor | undefined;
  let follower: PolicyFollower | undefined;
  let authzen: HttpServer | undefined;
  let health: HttpServer | undefined;
  let followerConnection: NatsConnection | undefined;
  let closeConnection = (): Promise<void> => Promise.resolve();
  try {
    if (config.policy.tenantsDir !== undefined) {
      for (const folder of await loadTenantPolicySources(config.policy.tenantsDir)) {
        // A sandbox's folder is named as people name it (acme.sandbox); its policy is installed under its key.
        const source = { ...folder, tenantId: tenantKeyOf(folder.tenantId) ?? folder.tenantId };
        // One tenant's broken policy must not keep the others from serving.
        await deployPolicy(source).catch((error: unknown) => {
          logger.error(
            { tenant: source.tenantId, err: error },
            'policy not loaded; Checks for this tenant fail closed',
          );
        });
      }
    }
    const { servers } = config.nats;
    await tenantKeyring?.start();
    if (servers !== undefined) {
      ingestor = new StateIngestor({
        store,
        logger,
        staleAfterMs: config.nats.staleAfterMs,
        probeIntervalMs: config.nats.probeIntervalMs,
        connect: async () => await connectNats({ servers, name: config.nats.name }, logger),
      });
      ingestor.start();
      await waitForSync(ingestor, config.nats.syncWaitMs, logger);
      // Uploaded policies: every tenant's active version before serving, then each activation as it happens.
      followerConnection = await connectNats({ servers, name: `${config.nats.name}-policies` }, logger);
      follower = new PolicyFollower({
        nc: followerConnection,
        install: async (compiled) => {
          await policies.install(compiled);
        },
        logger,
      });
      follower.start();
      if (!(await follower.ready(config.nats.syncWaitMs))) {
        logger.warn({ wait_ms: config.nats.syncWaitMs }, 'serving before the active policy versions are loaded');
      }
    }
    // Sign-ins are published to the stream; the connection opens at the first one.
    let publisherConnection: Promise<NatsConnection> | undefined;
    const changes: ChangeSink | undefined =
      servers === undefined
        ? undefined
        : {
            publish: async (change, options) => {
              publisherConnection ??= connectNats({ servers, name: `${config.nats.name}-signin` }, logger);
              return await new ChangePublisher(jetstream(await publisherConnection), sealerOf).publish(change, options);
            },
          };
    // Sign-in assertions are claimed in the audit stream, as the gateways claim SET jtis: once for every replica.
    let audit: Promise<AuditLog> | undefined;
    const assertions: AssertionClaims | undefined =
      servers === undefined
        ? undefined
        : {
            claim: async (tenant, issuer, assertionId, signIn) => {
              audit ??= (async () => {
                publisherConnection ??= connectNats({ servers, name: `${config.nats.name}-signin` }, logger);
                const nc = await publisherConnection;
                return new AuditLog(nc, jetstream(nc), await jetstreamManager(nc));
              })().catch((error: unknown) => {
                audit = undefined;
                throw error;
              });
              const record: AuditRecord = {
                v: 1,
                id: randomUUID(),
                tenant,
                kind: 'signin.assertion',
                at: Date.now(),
                data: signIn,
              };
              const subject = signInAssertionSubject(tenant, issuer, assertionId);
              try {
                await (await audit).append(record, { subject, claim: true });
                return true;
              } catch (error) {
                if (error instanceof AuditRecordExistsError) return false;
                throw error;
              }
            },
          };
    // SAML AuthnRequest ids: in a KV bucket every replica reads (a Response may reach another sidecar than the
    // one that issued its request); a standalone sidecar keeps its own.
    const samlTenants = config.tenants.filter((t) => t.saml !== undefined);
    let samlKv: Promise<KvSamlRequestStore> | undefined;
    const samlRequests: SamlRequestStore =
      servers === undefined
        ? new MemorySamlRequestStore()
        : {
            save: async (key, issuedAt, ttlS) => {
              await (await kvRequests()).save(key, issuedAt, ttlS);
            },
            get: async (key) => await (await kvRequests()).get(key),
            take: async (key) => await (await kvRequests()).take(key),
          };
    function kvRequests(): Promise<KvSamlRequestStore> {
      samlKv ??= (async () => {
        if (servers === undefined) throw new TypeError('the SAML request store needs NATS');
        publisherConnection ??= connectNats({ servers, name: `${config.nats.name}-signin` }, logger);
        return await KvSamlRequestStore.create(await publisherConnection);
      })().catch((error: unknown) => {
        samlKv = undefined;
        throw error;
      });
      return samlKv;
    }
    const saml =
      samlTenants.length === 0
        ? undefined
        : new SamlVerifier({
            tenants: config.tenants,
            requests: samlRequests,
            ...(clock === undefined ? {} : { clock }),
            onMetadataChange: (tenant, change) => {
              logger.warn(
                { tenant, idp: change.entityId, added: change.added.length, removed: change.removed.length },
                'SAML IdP signing certificates changed at a metadata refresh',
              );
            },
          });
    if (saml !== undefined) {
      for (const error of await saml.prefetch()) {
        logger.error({ err: error }, 'SAML IdP metadata could not be read at start; sign-ins through it retry it');
      }
    }
    // An IdP's keys or key-set location changed: logged, and recorded on the tenant's trail once the audit
    // publisher exists (below). Every sidecar sees the change: the record's id is the change's, so the stream
    // keeps one.
    let recordIdpChange: ((change: IdpChange) => void) | undefined;
    const sessions = new SessionAuthority({
      tenants: config.tenants,
      saml,
      verifier: new TokenVerifier({
        tenants: config.tenants,
        jwksCooldownMs: config.tokens.jwksCooldownMs,
        jwksMaxAgeS: config.tokens.jwksMaxAgeS,
        jwksMinIntervalMs: config.tokens.jwksMinIntervalMs,
        clockToleranceS: config.tokens.clockToleranceS,
        onIdpChange: (change) => {
          logger.info({ ...change, tenant: change.tenantId }, 'identity provider metadata changed');
          recordIdpChange?.(change);
        },
        ...(clock === undefined ? {} : { clock }),
      }),
      reader: store,
      logger,
      changes,
      assertions,
      replica: ingestor,
      ...(clock === undefined ? {} : { clock }),
    });
    closeConnection = async () => {
      await follower?.stop();
      await followerConnection?.close();
      await observer?.flush();
      if (publisherConnection !== undefined) await (await publisherConnection).close();
    };
    const observer =
      servers === undefined
        ? undefined
        : new SessionObserver(
            async () => {
              publisherConnection ??= connectNats({ servers, name: `${config.nats.name}-signin` }, logger);
              return jetstream(await publisherConnection);
            },
            logger,
            { sealerOf },
          );
    const metrics = new SidecarMetrics(() => ({
      ingest: ingestor?.status(),
      policies: new Map(policies.tenants().map((t) => [t, policies.get(t).version])),
    }));
    countTimeout = (tenant) => {
      metrics.policyTimedOut(tenant);
    };
    if (setAside !== undefined) metrics.storeSetAside(setAside.reason);
    if (options.clusterSlot !== undefined) metrics.labelProcess(options.clusterSlot);
    const rate = config.grpc.decisionAuditRate;
    const denyRate = config.grpc.decisionAuditDenyRate;
    // The tenants' audit trails live on the stream; a standalone sidecar has none.
    const publishAudit =
      servers === undefined
        ? undefined
        : async (record: AuditRecord, ttlS?: number): Promise<void> => {
            publisherConnection ??= connectNats({ servers, name: `${config.nats.name}-signin` }, logger);
            await publishDurably(
              jetstream(await publisherConnection),
              auditSubject(record),
              new TextEncoder().encode(JSON.stringify(record)),
              { msgId: record.id, retryForMs: 5_000, ttlS },
            );
          };
    if (publishAudit !== undefined) {
      recordTenantKeyEvent = async ({ tenant, kind, id, data }) => {
        await publishAudit({ v: 1, id, tenant, kind, at: Date.now(), data });
      };
      recordIdpChange = (change) => {
        const { tenantId, ...data } = change;
        const id = createHash('sha256').update(JSON.stringify(change)).digest('hex');
        void publishAudit({ v: 1, id, tenant: tenantId, kind: 'idp.change', at: Date.now(), data }).catch(
          (error: unknown) => {
            logger.error({ err: error, tenant: tenantId, kind: 'idp.change' }, 'audit record not stored');
          },
        );
      };
    }
    const sampler =
      publishAudit === undefined || (rate === 0 && denyRate === 0)
        ? undefined
        : new DecisionSampler({
            sealerOf,
            rate,
            denyRate,
            publish: async (record) => {
              await publishAudit(record);
            },
          });
    const refusals =
      publishAudit === undefined
        ? undefined
        : new RefusalRecorder({
            tenants: config.tenants.map((t) => t.id),
            publish: async (record) => {
              await publishAudit(record, config.signals.auditRefusalsTtlS);
            },
            onError: (error, tenant) => {
              logger.error({ err: error, tenant, kind: 'auth.refused' }, 'audit record not stored');
            },
          });
    // Which step-up parameters each tenant's IdP gets: keyed by tenant and issuer.
    const stepUpParameters = new Map(
      config.tenants.flatMap((t) => t.idps.map((idp) => [`${t.id}\0${idp.issuer}`, idp.stepUpParameters] as const)),
    );
    // One resolver of the identifiers users are named by, for every surface the Decider answers.
    const identifiers = new IdentifierResolver(store, new Map(config.tenants.map((t) => [t.id, t.subjectTypes])));
    // Transaction tokens: each tenant's keys shared through the KV bucket, opened at the first mint or verify.
    const txnTokens =
      servers === undefined
        ? undefined
        : new TxnTokenService({
            keys: new TxnKeyRing({
              store: lazyKvRegister(async () => {
                publisherConnection ??= connectNats({ servers, name: `${config.nats.name}-signin` }, logger);
                return await KvRegister.openOrCreate(await publisherConnection, TXN_KEYS_BUCKET_OPTIONS(1));
              }),
              rotationS: config.txnTokens.keyRotationS,
              retainS: config.txnTokens.lifetimeS + config.tokens.clockToleranceS,
              ...(clock === undefined ? {} : { clock }),
            }),
            trustDomain: config.txnTokens.trustDomain,
            lifetimeS: config.txnTokens.lifetimeS,
            clockToleranceS: config.tokens.clockToleranceS,
            ...(clock === undefined ? {} : { clock }),
          });
    const decider = new Decider({
      txnTokens,
      idpSubject: (tenant, userId, issuer) =>
        store.bindingsOfUser(tenant, userId).find((b) => b.issuer === issuer)?.subject,
      identifiers,
      ...(saml === undefined
        ? {}
        : { samlStepUp: async (tenant, issuer, stepUp) => await saml.stepUpRequest(tenant, issuer, stepUp) }),
      resources: {
        reader: store,
        maxDepth: config.resources.maxDepth,
        maxRelations: config.resources.maxRelations,
      },
      stepUpParameters: (tenant, issuer) =>
        (issuer === undefined ? undefined : stepUpParameters.get(`${tenant}\0${issuer}`)) ?? DEFAULT_STEP_UP_PARAMETERS,
      observer: {
        decided: (tenant, decision, about) => {
          metrics.decided(tenant, decision.kind, reasonLabel(decision.reasons[0]?.code));
          sampler?.record(
            tenant,
            {
              decision_id: decision.decisionId,
              decision: decision.kind,
              reasons: decision.reasons.map((r) => r.code),
              subject: { ...about.subject },
              action: about.action,
              resource: about.resource,
              policy_version: about.policyVersion,
              sequence: about.sequence,
            },
            about.input,
          );
        },
        timed: (call, seconds) => {
          metrics.timed(call, seconds);
        },
      },
      reader: store,
      policies,
      logger,
      tokens: sessions,
      freshness: ingestor,
      maxSequenceWaitMs: config.grpc.minSequenceWaitMs,
      ...(clock === undefined ? {} : { clock }),
      ...(observer === undefined
        ? {}
        : {
            onSessionPresented: (presented: PresentedSession) => {
              observer.presented(presented);
            },
          }),
    });
    const server = new CheckServer({
      decider,
      logger,
      reader: store,
      sessionEvents: ingestor,
      signIn: sessions,
      batchMaxItems: config.grpc.batchMaxItems,
      address: config.grpc.address,
      socketPath: config.grpc.socketPath,
      socketMode: config.grpc.socketMode,
      tls: config.grpc.tls,
      socketPrepared: options.clusterSlot !== undefined,
      callerTokenSha256: config.grpc.callerTokenSha256,
      // Envoy ext_authz on the same listeners: API gateways and meshes ask the same Decider.
      services: [
        { definition: extAuthzServiceDefinition(), implementation: extAuthzImplementation({ decider, logger }) },
      ],
    });
    const addresses = await server.start();
    const authzenAddress = config.grpc.authzenAddress;
    if (authzenAddress !== undefined) {
      const app = createGatewayApp({
        logger,
        routes: [
          tenantNamesInPaths(AUTHZEN_TENANT_PATHS),
          refusedAuthentications(
            (path) => {
              const tenant = /^\/([^/]+)\/access\/v1\//.exec(path)?.[1];
              return tenant === undefined ? undefined : { api: 'authzen', tenant };
            },
            (tenant, refusal) => {
              refusals?.refused(tenant, refusal);
            },
          ),
          createAuthzenRouter({
            decider,
            directory: store,
            identifiers,
            tokens: new Map(config.tenants.map((t) => [t.id, t.authzenTokenSha256])),
            actions: new Map(config.tenants.map((t) => [t.id, t.authzenActions])),
            publicUrl: config.grpc.authzenPublicUrl,
            resources: store,
            searchCandidates: new Map(config.tenants.map((t) => [t.id, t.authzenSearchCandidates])),
            maxCandidates: config.grpc.authzenSearchCandidates,
            maxDepth: config.resources.maxDepth,
            logger,
          }),
        ],
        ready: () => ingestor === undefined || ingestor.status().caughtUp,
      });
      const bound = await listen(app, authzenAddress, { tls: config.grpc.authzenTls, logger });
      authzen = bound.server;
    }
    const feed = ingestor;
    const readiness = (): SidecarReadiness => {
      const policyState = policyReadiness(store.tenantIds(), (t) =>
        policies.has(t) ? policies.get(t).version : undefined,
      );
      const stream = feed?.status();
      const keysReady = tenantKeyring?.readiness();
      // A tenant whose keys are not loaded fails closed, as one without a policy.
      const tenants = { ...policyState.tenants };
      for (const [tenant, ready] of Object.entries(keysReady?.tenants ?? {})) {
        if (!ready.ready) tenants[tenant] = ready;
      }
      return healthReport(
        {
          store: {
            ok: true,
            detail:
              setAside === undefined
                ? `open at sequence ${store.appliedSequence()}`
                : `open at sequence ${store.appliedSequence()}, rebuilt: the file was ${setAside.reason} (kept at ${setAside.movedTo})`,
          },
          policies: policyState.component,
          stream: stream === undefined ? { ok: true, detail: 'standalone (no stream)' } : streamHealth(stream),
          tenant_keys:
            keysReady === undefined
              ? { ok: true, detail: 'standalone (no customer-managed keys)' }
              : { ok: keysReady.ok, detail: keysReady.detail },
        },
        tenants,
      );
    };
    const healthAddress = config.health.address;
    if (healthAddress !== undefined) {
      const app = createGatewayApp({ logger, routes: [metricsRoute(metrics)], ready: readiness });
      health = (await listen(app, healthAddress)).server;
    }
    const http = authzen;
    const probes = health;
    const running = ingestor;
    return {
      addresses,
      authzenPort: http === undefined ? undefined : (http.address() as AddressInfo).port,
      healthPort: probes === undefined ? undefined : (probes.address() as AddressInfo).port,
      store,
      policies,
      ingestor: running,
      tenantKeys,
      readiness,
      metrics,
      deployPolicy,
      stop: async () => {
        for (const listener of [probes, http]) {
          if (listener === undefined) continue;
          await new Promise<void>((resolve) => {
            listener.close(() => {
              resolve();
            });
            listener.closeAllConnections();
          });
        }
        await server.stop();
        refusals?.close();
        await closeConnection();
        await running?.stop();
        await tenantKeyring?.stop();
        providers.destroy();
        await keysConnection?.close();
        await pool.close();
        forgetOpenedReads();
        store.close();
      },
    };
  } catch (error) {
    authzen?.close();
    health?.close();
    await closeConnection();
    await follower?.stop();
    await followerConnection?.close();
    await ingestor?.stop();
    await tenantKeyring?.stop();
    providers.destroy();
    await keysConnection?.close();
    await pool.close();
    forgetOpenedReads();
    store.close();
    throw error;
  }
}

/**
 * Open the listeners once caught up with the stream, but not later than
 * `waitMs`. Either way a store that has not reached the stream's end as of
 * start answers STALE_DATA (and `/readyz` 503) until it has: the wait only
 * bounds how long callers find the listeners closed.
 */
async function waitForSync(ingestor: StateIngestor, waitMs: number, logger: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>(
    (resolve) =>
      (timer = setTimeout(() => {
        resolve(false);
      }, waitMs)),
  );
  const synced = await Promise.race([ingestor.caughtUp().then(() => true as const), timedOut]);
  clearTimeout(timer);
  if (!synced) {
    logger.warn(
      { wait_ms: waitMs, ...ingestor.status() },
      'listening before catching up with the stream: decisions are STALE_DATA until then',
    );
  }
}

/** A KV register opened at its first use, and opened again after a failed open. */
function lazyKvRegister(open: () => Promise<KvRegister>): TxnKeyStore {
  let register: Promise<KvRegister> | undefined;
  const get = async (): Promise<KvRegister> => {
    register ??= open().catch((error: unknown) => {
      register = undefined;
      throw error;
    });
    return await register;
  };
  return {
    read: async (key) => await (await get()).read(key),
    create: async (key, value) => await (await get()).create(key, value),
    replace: async (key, value, revision) => await (await get()).replace(key, value, revision),
  };
}
