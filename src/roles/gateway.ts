import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { Config } from '../config/index.js';
import {
  createGatewayApp,
  GATEWAY_TENANT_PATHS,
  listen,
  refusedAuthentications,
  tenantNamesInPaths,
} from '../http/index.js';
import type { HttpServer } from '../http/index.js';
import { StateIngestor } from '../ingest/index.js';
import type { Logger } from '../logging/index.js';
import { createAdminRouter } from '../admin/index.js';
import {
  createSamlLogoutRoutes,
  createSamlMetadataRoutes,
  MemorySamlRequestStore,
  SamlVerifier,
} from '../saml/index.js';
import {
  AuditLog,
  auditSubject,
  createAuditPullRoutes,
  decisionSubject,
  ensureAuditStream,
  RefusalRecorder,
  sampledDecisionOf,
} from '../audit/index.js';
import type { AuditRecord } from '../audit/index.js';
import {
  createScimRouter,
  NAME_CLAIMS_BUCKET,
  NameClaims,
  RateLimiter,
  ScimAuthenticator,
  ScimService,
} from '../scim/index.js';
import { createResourceRouter, ResourceWriter, resourceService } from '../resources/index.js';
import type { PollerStatus } from '../signals/index.js';
import {
  createLogoutRouter,
  createPushRouter,
  createStreamAdminRoutes,
  KvPollLeases,
  KvStreamIdStore,
  LogoutReceiver,
  LogoutTokenVerifier,
  SetPoller,
  SetVerifier,
  SignalReceiver,
  TransmitterDirectory,
  TransmitterUnavailableError,
} from '../signals/index.js';
import { dryRun, dryRunRecorded, replayDecision } from '../check/index.js';
import {
  adoptCatalog,
  AttributeCatalogVersions,
  compiledOf,
  createAttributeRoutes,
  createPolicyAdminRoutes,
  createPromotionRoutes,
  inputSchemaOf,
  PolicyCatalog,
  PromotionReviews,
} from '../distribution/index.js';
import { createExplainRoutes, DecisionExplainer } from '../explain/index.js';
import { IdentifierResolver } from '../identifiers/index.js';
import { GATEWAY_APIS, GatewayMetrics, healthReport, metricsRoute } from '../observability/index.js';
import type { GatewayApi } from '../observability/index.js';
import { ensureObservationStream } from '../observations/index.js';
import { EvaluationPool, PolicyCompiler } from '../policy/index.js';
import type { CompiledPolicy, TenantPolicySource } from '../policy/index.js';
import type { EntitlementStore } from '../store/index.js';
import {
  createStreamManagementRoutes,
  createTransmitterRoutes,
  OfferedStreams,
  SessionChangeTransmitter,
  SigningKeyRing,
  SigningKeysInvalidError,
  StreamManagement,
} from '../transmit/index.js';
import { ChangePublisher, ChangeReader, connectNats, ensureStateStream, KvRegister } from '../stream/index.js';
import { createTxnJwksRoute, TXN_KEYS_BUCKET_OPTIONS } from '../txn_tokens/index.js';
import {
  createTenantKeyRoutes,
  customerManagedKeysOf,
  keyProviders,
  TENANT_KEYS_BUCKET_OPTIONS,
  TenantKeyring,
} from '../tenant_keys/index.js';
import type { TenantCipher, TenantKeyAuditRecord, TenantKeys } from '../tenant_keys/index.js';
import { TokenVerifier } from '../tokens/index.js';
import { streamHealth } from './stream_health.js';
import { openRoleStore } from './role_store.js';
import { SessionPurger } from './session_purger.js';

export interface GatewayOptions {
  readonly config: Config;
  readonly logger: Logger;
}

export interface RunningGateway {
  /** The HTTP port actually bound. */
  readonly port: number;
  /** The `/healthz`, `/readyz`, `/metrics` port, when `IPSIE_HEALTH_ADDRESS` is set. */
  readonly healthPort: number | undefined;
  /** The gRPC port actually bound, when `IPSIE_GATEWAY_GRPC_ADDRESS` is set. */
  readonly grpcPort: number | undefined;
  /** The SSF pollers of this replica (which one holds each poll lease). */
  pollers(): PollerStatus[];
  readonly store: EntitlementStore;
  readonly ingestor: StateIngestor;
  /** Each customer-managed-key tenant's cipher (docs/keys.md). */
  readonly tenantKeys: TenantKeys;
  stop(): Promise<void>;
}

/**
 * The gateway role: the IdP-facing edge. It publishes every accepted input
 * to the state stream before answering, and keeps its own replica of the
 * store (fed like any sidecar's) to answer from.
 */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const { config, logger } = options;
  const servers = config.nats.servers;
  if (servers === undefined) throw new TypeError('the gateway needs IPSIE_NATS_URL');
  const nc = await connectNats({ servers, name: `${config.nats.name}-gateway` }, logger);
  // Customer-managed keys (docs/keys.md): this gateway creates the keys of the tenants that have one (the first
  // replica to start wins), adopts a key the tenants file newly names, and serves the key admin API. Started
  // below, once the audit trail its events go to exists; until then every CMK tenant is UNAVAILABLE.
  const providers = keyProviders({ localKeyFile: config.tenantKeys.localKeyFile });
  let recordTenantKeyEvent: ((record: TenantKeyAuditRecord) => Promise<void>) | undefined;
  // Set once the audit trail exists (below): where a crypto-shred is remembered outside the key bucket.
  let shreddedOnTrail: ((tenant: string) => Promise<boolean>) | undefined;
  const tenantKeyring = new TenantKeyring({
    store: await KvRegister.open(nc, TENANT_KEYS_BUCKET_OPTIONS(config.gateway.streamReplicas)).catch(
      async (error: unknown) => {
        await nc.close();
        throw error;
      },
    ),
    tenants: customerManagedKeysOf(config.tenants),
    providers,
    creates: true,
    revalidateMs: config.tenantKeys.revalidateS * 1000,
    logger,
    audit: async (record) => {
      await recordTenantKeyEvent?.(record);
    },
    shredded: async (tenant) => (await shreddedOnTrail?.(tenant)) ?? false,
  });
  const tenantKeys: TenantKeys = tenantKeyring;
  const sealerOf = (tenant: string): TenantCipher | undefined => tenantKeys.cipherOf(tenant);
  let opened;
  try {
    opened = await openRoleStore(config, logger, { directoryIndexes: true, sealerOf });
  } catch (error) {
    providers.destroy();
    await nc.close();
    throw error;
  }
  const { store, setAside } = opened;
  // Subject reads opened with a tenant's old keys go when its keys change (rotated, revoked).
  const forgetOpenedReads = tenantKeys.onChange((tenant) => {
    store.keysChanged(tenant);
  });
  let ingestor: StateIngestor | undefined;
  let server: HttpServer | undefined;
  let grpcServer: { readonly server: grpc.Server; readonly port: number } | undefined;
  let keys: SigningKeyRing | undefined;
  let health: HttpServer | undefined;
  let transmitter: SessionChangeTransmitter | undefined;
  let streamManagement: StreamManagement | undefined;
  // Dry-runs evaluate uploaded policies off the event loop that serves every tenant's SCIM and SSF, within budget.
  const pool = new EvaluationPool({
    size: config.policy.workers,
    budgetMs: config.policy.budgetMs,
    onWorkerError: (error) => {
      logger.error({ err: error }, 'a policy evaluation worker failed; it is replaced');
    },
  });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureStateStream(jsm, { replicas: config.gateway.streamReplicas });
    await ensureAuditStream(jsm, { replicas: config.gateway.streamReplicas, maxAgeS: config.signals.auditMaxAgeS });
    await ensureObservationStream(jsm, { replicas: config.gateway.streamReplicas });
    const catalog = await PolicyCatalog.create(nc, { replicas: config.gateway.streamReplicas });
    const promotionReviews = await PromotionReviews.create(nc, { replicas: config.gateway.streamReplicas });
    const compiler = new PolicyCompiler({
      opaPath: config.policy.opaPath,
      platformDir: config.policy.platformDir,
      timeoutMs: config.policy.buildTimeoutMs,
      memoryLimitMb: config.policy.opaMemoryLimitMb,
    });
    // A changed attribute catalog is kept as a new version, unless it breaks a tenant's active policy: then
    // this gateway does not start (docs/attributes.md).
    const attributeCatalogs = new Map(config.tenants.map((t) => [t.id, t.attributeCatalog]));
    const catalogVersions = await AttributeCatalogVersions.create(nc, { replicas: config.gateway.streamReplicas });
    for (const tenant of config.tenants) {
      await adoptCatalog({
        tenant: tenant.id,
        catalog: tenant.attributeCatalog,
        versions: catalogVersions,
        policies: catalog,
        typeCheck: async (source, schema) => {
          await compiler.typeCheck(source, schema);
        },
        logger,
      });
    }
    const js = jetstream(nc);
    const publisher = new ChangePublisher(js, sealerOf);
    const audit = new AuditLog(nc, js, jsm);
    recordTenantKeyEvent = async ({ tenant, kind, id, data }) => {
      await audit.append({ v: 1, id, tenant, kind, at: Date.now(), data });
    };
    shreddedOnTrail = async (tenant) => {
      const probe: AuditRecord = { v: 1, id: '', tenant, kind: 'tenant_key.revoked', at: 0, data: {} };
      return (await audit.last(auditSubject(probe)))?.data['crypto_shredded'] === true;
    };
    await tenantKeyring.start();
    // Tenants come from configuration; the stream makes them known to every sidecar.
    const publishTenants = async (): Promise<void> => {
      for (const tenant of config.tenants) {
        await publisher.publish({
          v: 1,
          id: randomUUID(),
          tenant: tenant.id,
          at: Date.now(),
          kind: 'tenant.upsert',
          data: { display_name: tenant.displayName },
        });
      }
    };
    ingestor = new StateIngestor({
      store,
      logger,
      staleAfterMs: config.nats.staleAfterMs,
      probeIntervalMs: config.nats.probeIntervalMs,
      connect: async () => await connectNats({ servers, name: `${config.nats.name}-gateway-replica` }, logger),
    });
    // A stream recreated from sequence 1 has lost the tenants too: announce them on it again.
    ingestor.onRebuild(() => {
      publishTenants().catch((error: unknown) => {
        logger.error({ err: error }, 'could not publish the tenants on the recreated state stream');
      });
    });
    ingestor.start();
    await ingestor.caughtUp();
    await publishTenants();

    const replica = ingestor;
    const purger = new SessionPurger({
      tenants: config.tenants.map((t) => t.id),
      changes: publisher,
      stream: new ChangeReader(jsm, sealerOf),
      intervalMs: config.gateway.sessionPurgeIntervalMs,
      graceS: config.gateway.sessionPurgeGraceS,
      logger,
    });
    purger.start();
    // Asked through the replica: a stream recreated since it was verified makes it rebuild before reads are answered.
    const streamPosition = async (): Promise<number> => await replica.streamPosition();
    const service = new ScimService({
      sealerOf,
      directory: store,
      changes: publisher,
      names: new NameClaims({
        register: await KvRegister.open(nc, {
          bucket: NAME_CLAIMS_BUCKET,
          description: 'SCIM userName and group displayName claims per tenant',
          replicas: config.gateway.streamReplicas,
        }),
        log: new ChangeReader(jsm, sealerOf),
        changes: publisher,
        sealerOf,
        logger,
      }),
      replica,
      logger,
      streamPosition,
      attributeCatalogs,
    });
    // Before serving: names written before claims existed (or by an older replica) are claimed too.
    const claimed = await service.claimExistingNames(config.tenants.map((t) => t.id));
    if (claimed > 0) logger.info({ claimed }, 'claimed the names of existing users and groups');
    const scim = createScimRouter({
      service,
      authenticator: new ScimAuthenticator(
        new Map(config.tenants.flatMap((t) => (t.scim === undefined ? [] : [[t.id, t.scim] as const]))),
      ),
      rateLimiter: new RateLimiter(
        new Map(config.tenants.flatMap((t) => (t.scim === undefined ? [] : [[t.id, t.scim.rateLimit] as const]))),
      ),
      logger,
      maxBodyBytes: config.gateway.scimMaxBodyBytes,
    });
    const transmitters = new TransmitterDirectory({
      tenants: config.tenants,
      streamIds: await KvStreamIdStore.create(nc, { replicas: config.gateway.streamReplicas }),
      jwksCooldownMs: config.tokens.jwksCooldownMs,
    });
    const metrics = new GatewayMetrics(
      config.tenants.map((t) => t.id),
      () => {
        const { appliedSequence, stale, rebuilds, rebuilding } = replica.status();
        return { appliedSequence, stale, rebuilds, rebuilding };
      },
    );
    // Before resolving a subject: this replica holds everything the stream held then.
    const readBarrier = async (): Promise<void> => {
      let position: number;
      try {
        position = await streamPosition();
      } catch (cause) {
        throw new TransmitterUnavailableError('the state stream cannot be reached', { cause });
      }
      if (!(await replica.waitForSequence(position, 5_000))) {
        throw new TransmitterUnavailableError('this gateway is behind the state stream');
      }
    };
    if (setAside !== undefined) metrics.storeSetAside(setAside.reason);
    const receiver = new SignalReceiver({
      onOutcome: (tenant, delivery, result) => {
        metrics.set(tenant, delivery, result);
      },
      tenants: config.tenants,
      clockToleranceS: config.tokens.clockToleranceS,
      transmitters,
      verifier: new SetVerifier({ transmitters, clockToleranceS: config.tokens.clockToleranceS }),
      directory: store,
      changes: publisher,
      archive: audit,
      logger,
      readBarrier,
    });
    // OpenID Connect Back-Channel Logout: logout tokens are signed with the IdPs' ID-token keys.
    const idTokenKeys = new TokenVerifier({
      tenants: config.tenants,
      clockToleranceS: config.tokens.clockToleranceS,
      jwksCooldownMs: config.tokens.jwksCooldownMs,
    });
    const logouts = new LogoutReceiver({
      tenants: config.tenants,
      verifier: new LogoutTokenVerifier({
        tenants: config.tenants,
        keys: async (tenantId, issuer) => await idTokenKeys.keySet(tenantId, issuer),
        clockToleranceS: config.tokens.clockToleranceS,
      }),
      directory: store,
      changes: publisher,
      archive: audit,
      logger,
      readBarrier,
      onOutcome: (tenant, result) => {
        metrics.set(tenant, 'backchannel_logout', result);
      },
      clockToleranceS: config.tokens.clockToleranceS,
    });
    // Known once the listener is bound (its port may be ephemeral) unless IPSIE_PUBLIC_URL says it.
    let publicUrl = config.signals.publicUrl ?? '';
    const leases = await KvPollLeases.create(nc, { replicas: config.gateway.streamReplicas });
    const pollers = config.tenants.flatMap((tenant) =>
      tenant.ssf.transmitters.flatMap((transmitter) =>
        transmitter.poll === undefined
          ? []
          : [
              new SetPoller({
                tenantId: tenant.id,
                transmitter: { ...transmitter, poll: transmitter.poll },
                receiver,
                logger,
                lease: leases.lease(tenant.id, transmitter.issuer),
              }),
            ],
      ),
    );
    // IPSIE SL3: session changes the sidecars observe go to the tenants' SSF receivers, signed by us.
    const receivers = new Map(
      config.tenants.flatMap((t) => (t.ssf.receiver === undefined ? [] : [[t.id, t.ssf.receiver] as const])),
    );
    const keysFile = config.signals.signingKeysFile;
    if (keysFile === undefined && receivers.size > 0) {
      throw new SigningKeysInvalidError(
        `tenants ${[...receivers.keys()].join(', ')} report to an SSF receiver: set IPSIE_SSF_SIGNING_KEYS_FILE`,
      );
    }
    keys = keysFile === undefined ? undefined : await SigningKeyRing.load(keysFile, logger);
    keys?.reloadEvery(config.signals.keysReloadMs);
    const signingKeys = keys;
    // Streams tenants' receivers create with us (SSF §8), shared by every replica.
    const offeredStreams =
      receivers.size === 0 ? undefined : await OfferedStreams.open(nc, { replicas: config.gateway.streamReplicas });
    transmitter =
      signingKeys === undefined
        ? undefined
        : new SessionChangeTransmitter({
            nc,
            receivers,
            keys: signingKeys,
            issuer: () => publicUrl,
            directory: store,
            archive: audit,
            logger,
            sealerOf,
            ...(offeredStreams === undefined ? {} : { streams: offeredStreams }),
          });
    streamManagement =
      signingKeys === undefined || offeredStreams === undefined
        ? undefined
        : new StreamManagement({
            receivers,
            streams: offeredStreams,
            keys: signingKeys,
            issuer: () => publicUrl,
            archive: audit,
            logger,
            sealerOf,
          });
    const managed = streamManagement;
    // The tenant's audit trail (SIEM pull): what the gateway did for whom, stored before the answer.
    const auditRecord =
      (kind: 'scim.write' | 'resource.write' | 'policy.change' | 'admin.action') =>
      async (tenant: string, data: Record<string, unknown>): Promise<void> => {
        await audit
          .append({ v: 1, id: randomUUID(), tenant, kind, at: Date.now(), data })
          .then(() => undefined)
          .catch((error: unknown) => {
            logger.error({ err: error, tenant, kind }, 'audit record not stored');
          });
      };
    const refusals = new RefusalRecorder({
      tenants: config.tenants.map((t) => t.id),
      publish: async (record) => {
        await audit.append(record, { ttlS: config.signals.auditRefusalsTtlS });
      },
      onError: (error, tenant) => {
        logger.error({ err: error, tenant, kind: 'auth.refused' }, 'audit record not stored');
      },
    });
    const refusalsAudited = refusedAuthentications(tenantApiOf, (tenant, refusal) => {
      refusals.refused(tenant, refusal);
    });
    const counted: Middleware = async (ctx, next) => {
      try {
        await next();
      } finally {
        const site = tenantApiOf(ctx.path);
        if (site !== undefined) metrics.request(site.api, site.tenant, ctx.method, ctx.status);
      }
    };
    const scimAudit = auditRecord('scim.write');
    const scimAudited: Middleware = async (ctx, next) => {
      await next();
      const tenant = /^\/scim\/v2\/([^/]+)\//.exec(ctx.path)?.[1];
      if (tenant === undefined || ctx.method === 'GET' || ctx.method === 'HEAD' || ctx.status === 401) return;
      const id = (ctx.body as { id?: unknown } | undefined)?.id;
      await scimAudit(tenant, {
        method: ctx.method,
        path: ctx.path,
        status: ctx.status,
        ...(typeof id === 'string' ? { resource_id: id } : {}),
      });
    };
    // Ready: the replica answers reads consistently. Pollers failing are reported, not a reason to stop serving.
    // Dry-run subjects are named as the sidecars resolve them.
    const identifiers = new IdentifierResolver(store, new Map(config.tenants.map((t) => [t.id, t.subjectTypes])));
    const readiness = (): ReturnType<typeof healthReport> => {
      const status = replica.status();
      const failing = pollers.map((p) => p.status()).filter((p) => p.failures > 0);
      const keysReady = tenantKeyring.readiness();
      return healthReport({
        replica: streamHealth(status),
        tenant_keys: { ok: keysReady.ok, detail: keysReady.detail },
        ssf_polling: {
          ok: true,
          detail:
            failing.length === 0
              ? `${pollers.length} transmitters polled`
              : failing.map((p) => `${p.tenant} ${p.issuer}: ${p.failures} failed polls`).join('; '),
        },
      });
    };
    // The sidecars create and rotate each tenant's transaction-token keys in this bucket; the gateway creates it
    // with the cluster's replicas and serves the public keys.
    const txnKeys = await KvRegister.open(nc, TXN_KEYS_BUCKET_OPTIONS(config.gateway.streamReplicas));
    // SAML Single Logout: verified against each IdP's metadata, then the same effects as a logout token. The
    // gateway issues no AuthnRequests: its request store is never used.
    const samlVerifier = config.tenants.some((t) => t.saml !== undefined)
      ? new SamlVerifier({ tenants: config.tenants, requests: new MemorySamlRequestStore() })
      : undefined;
    const samlLogouts =
      samlVerifier === undefined
        ? undefined
        : createSamlLogoutRoutes({
            verifier: samlVerifier,
            logger,
            logout: async (verified, raw) =>
              await logouts.receiveIdpLogout(
                {
                  tenantId: verified.tenantId,
                  issuer: verified.idp.issuer,
                  maxSessionLifetimeS: verified.idp.maxSessionLifetimeS,
                  id: verified.id,
                  issuedAt: verified.issuedAt,
                  sessionIds: verified.sessionIndexes,
                  subject: verified.nameId,
                },
                raw,
              ),
          });
    // The app's resources: one writer for the HTTP API and the gRPC one, so one tenant's writes are checked in turn.
    const resourceWriter = new ResourceWriter({
      tokens: new Map(config.tenants.map((t) => [t.id, t.resourceTokenSha256])),
      store,
      changes: publisher,
      replica,
      maxDepth: config.resources.maxDepth,
      maxRelations: config.resources.maxRelations,
      maxAttributesBytes: config.resources.maxAttributesBytes,
    });
    grpcServer = await startResourceGrpc(
      config,
      resourceService({ writer: resourceWriter, logger, audit: auditRecord('resource.write') }),
      logger,
    );
    // A version uploaded under an older catalog must still fit the current one to become active.
    const checkActivation = async (source: TenantPolicySource): Promise<void> => {
      const attributes = attributeCatalogs.get(source.tenantId);
      const inputSchema = attributes === undefined ? undefined : inputSchemaOf(attributes);
      if (inputSchema !== undefined) await compiler.typeCheck(source, inputSchema);
    };
    const recordedDryRun = async (
      tenantId: string,
      candidate: CompiledPolicy,
      since: number,
      limit: number,
    ): ReturnType<typeof dryRunRecorded> =>
      await dryRunRecorded({
        pool,
        candidate,
        // Sealed inputs (customer-managed keys) are opened with the tenant's key.
        records: (await audit.decisionsSince(tenantId, since, limit)).map((record) =>
          sampledDecisionOf(record, sealerOf),
        ),
      });
    const app = createGatewayApp({
      logger,
      routes: [
        // First: everything after it sees a sandbox by its key (acme-sandbox), never by its name.
        tenantNamesInPaths(GATEWAY_TENANT_PATHS),
        counted,
        createTxnJwksRoute({ keys: txnKeys, tenants: new Set(config.tenants.map((t) => t.id)) }),
        refusalsAudited,
        scimAudited,
        scim,
        createResourceRouter({
          writer: resourceWriter,
          logger,
          audit: auditRecord('resource.write'),
          maxBodyBytes: config.resources.maxBodyBytes,
        }),
        ...(signingKeys === undefined
          ? []
          : [
              createTransmitterRoutes({
                keys: signingKeys,
                issuer: () => publicUrl,
                streamManagement: managed?.offered ?? false,
              }),
            ]),
        ...(managed?.offered === true ? [createStreamManagementRoutes({ management: managed, logger })] : []),
        createPushRouter({ receiver, logger, maxBodyBytes: config.signals.pushMaxBytes }),
        createLogoutRouter({ receiver: logouts, logger }),
        createSamlMetadataRoutes({ tenants: config.tenants }),
        ...(samlLogouts === undefined ? [] : [samlLogouts]),
        createAdminRouter({
          adminTokens: new Map(config.tenants.map((t) => [t.id, t.adminTokenSha256])),
          directory: store,
          changes: publisher,
          replica,
          logger,
          audit: auditRecord('admin.action'),
          nested: [
            createAuditPullRoutes({ log: audit }),
            createStreamAdminRoutes({ transmitters, archive: audit, publicUrl: () => publicUrl, logger }),
            createExplainRoutes(
              new DecisionExplainer({
                sealerOf,
                sampled: async (tenant, decisionId) => await audit.last(decisionSubject(tenant, decisionId)),
                sources: async (tenant, version) => {
                  const bundle = await catalog.get(tenant, version);
                  return { tenantId: tenant, modules: new Map(Object.entries(bundle.modules)), data: bundle.data };
                },
                activeVersion: async (tenant) => (await catalog.active(tenant))?.version,
                explain: async (source, input, version) => await compiler.explain(source, input, version),
                replay: async (tenantId, version, request) =>
                  await replayDecision({
                    reader: store,
                    logger,
                    pool,
                    tenantId,
                    policy: compiledOf(await catalog.get(tenantId, version)),
                    request,
                    identifiers,
                    resources: {
                      reader: store,
                      maxDepth: config.resources.maxDepth,
                      maxRelations: config.resources.maxRelations,
                    },
                  }),
              }),
            ),
            createAttributeRoutes({ catalogs: attributeCatalogs, versions: catalogVersions }),
            createPromotionRoutes({
              catalog,
              reviews: promotionReviews,
              attributeCatalogs,
              sandboxes: new Map(
                config.tenants.flatMap((t) => (t.sandboxOf === undefined ? [] : [[t.sandboxOf, t.id] as const])),
              ),
              dryRunRecorded: recordedDryRun,
              checkActivation,
              audit: auditRecord('policy.change'),
              logger,
            }),
            createTenantKeyRoutes({ keys: tenantKeyring, logger }),
            createPolicyAdminRoutes({
              catalog,
              // Typed by the tenant's attribute catalog, when its tenants file declares one.
              compile: async (source) => {
                const attributes = attributeCatalogs.get(source.tenantId);
                const inputSchema = attributes === undefined ? undefined : inputSchemaOf(attributes);
                return await compiler.compile(source, { runTests: true, inputSchema });
              },
              checkActivation,
              dryRun: async (tenantId, candidate, current, requests) =>
                await dryRun({
                  reader: store,
                  logger,
                  pool,
                  tenantId,
                  candidate,
                  current,
                  requests,
                  identifiers,
                  resources: {
                    reader: store,
                    maxDepth: config.resources.maxDepth,
                    maxRelations: config.resources.maxRelations,
                  },
                }),
              dryRunRecorded: recordedDryRun,
              logger,
              audit: auditRecord('policy.change'),
            }),
          ],
        }),
      ],
      ready: readiness,
    });
    const bound = await listen(app, config.gateway.address, { tls: config.gateway.tls, logger });
    server = bound.server;
    const host = config.gateway.address.slice(0, config.gateway.address.lastIndexOf(':'));
    publicUrl = config.signals.publicUrl ?? `${bound.scheme}://${host}:${bound.port}`;
    // After the listener: our issuer (the public URL) is known, and the JWKS is served.
    await transmitter?.start();
    logger.info(
      { address: config.gateway.address, port: bound.port, tenants: config.tenants.length },
      'gateway listening',
    );
    const healthAddress = config.health.address;
    if (healthAddress !== undefined) {
      const probes = createGatewayApp({
        logger,
        routes: [metricsRoute(metrics)],
        ready: readiness,
      });
      health = (await listen(probes, healthAddress)).server;
    }
    const http = server;
    const healthServer = health;
    // Every replica polls: a SET two replicas both fetch is stored once (its jti claim) and acknowledged by both.
    for (const poller of pollers) poller.start();
    return {
      port: bound.port,
      grpcPort: grpcServer?.port,
      healthPort: healthServer === undefined ? undefined : (healthServer.address() as AddressInfo).port,
      pollers: () => pollers.map((p) => p.status()),
      store,
      ingestor: replica,
      tenantKeys,
      stop: async () => {
        await new Promise<void>((resolve) =>
          http.close(() => {
            resolve();
          }),
        );
        http.closeAllConnections();
        await stopGrpc(grpcServer?.server);
        healthServer?.close();
        healthServer?.closeAllConnections();
        await Promise.all(
          pollers.map(async (p) => {
            await p.stop();
          }),
        );
        await purger.stop();
        await transmitter?.stop();
        await managed?.stop();
        keys?.stop();
        refusals.close();
        await replica.stop();
        await tenantKeyring.stop();
        providers.destroy();
        await nc.drain();
        await pool.close();
        forgetOpenedReads();
        store.close();
      },
    };
  } catch (error) {
    server?.close();
    grpcServer?.server.forceShutdown();
    health?.close();
    await transmitter?.stop();
    await streamManagement?.stop();
    keys?.stop();
    await ingestor?.stop();
    await tenantKeyring.stop();
    providers.destroy();
    await nc.close();
    await pool.close();
    forgetOpenedReads();
    store.close();
    throw error;
  }
}

/** The gateway API and tenant a request path belongs to (`/scim/v2/<tenant>/...`). */
function tenantApiOf(path: string): { readonly api: GatewayApi; readonly tenant: string } | undefined {
  const match = /^\/(scim\/v2|ssf\/v1|admin\/v1|oidc\/v1|resources\/v1)\/([^/]+)\//.exec(path);
  const api = GATEWAY_APIS.find((a) => a === match?.[1]?.split('/')[0]);
  return api === undefined || match?.[2] === undefined ? undefined : { api, tenant: match[2] };
}

/**
 * The app-facing gRPC listener (`IPSIE_GATEWAY_GRPC_ADDRESS`): the resource API's service, with the gateway's
 * certificate when it has one (read at start), else plaintext for a loopback or a mesh sidecar.
 */
async function startResourceGrpc(
  config: Config,
  service: ReturnType<typeof resourceService>,
  logger: Logger,
): Promise<{ readonly server: grpc.Server; readonly port: number } | undefined> {
  const address = config.gateway.grpcAddress;
  if (address === undefined) return undefined;
  const tls = config.gateway.tls;
  const credentials =
    tls === undefined
      ? grpc.ServerCredentials.createInsecure()
      : grpc.ServerCredentials.createSsl(
          null,
          [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
          false,
        );
  const server = new grpc.Server();
  server.addService(service.definition, service.implementation);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(address, credentials, (error, bound) => {
      if (error === null) resolve(bound);
      else reject(error);
    });
  });
  logger.info({ address, port, tls: tls !== undefined }, 'gateway gRPC (resources) listening');
  return { server, port };
}

/** Lets calls in flight finish for up to 5 s, then closes. */
async function stopGrpc(server: grpc.Server | undefined): Promise<void> {
  if (server === undefined) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, 5_000);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
