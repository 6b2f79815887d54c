import { readFileSync } from 'node:fs';
import { ConfigInvalidError } from './errors.js';
import { DEFAULT_STREAM_PROBE_MS, readSettings, SETTING_VARIABLES } from './process_settings.js';
import type { ConfigRole, LogLevel, SettingValues } from './process_settings.js';
import { parseTenantSettings } from './tenant_settings.js';
import type { TenantSettings } from './tenant_settings.js';

export interface StoreConfig {
  /** SQLite file of the entitlement store; created when missing. */
  readonly path: string;
  /** Subject reads cached in memory; 0 disables. @defaultValue 10000 */
  readonly subjectCacheSize: number;
  /**
   * Longest the open-time integrity check of an existing store file may take,
   * in ms; a file it cannot finish is rebuilt. 0 skips the check. @defaultValue 30000
   */
  readonly checkMs: number;
  /** Unreadable store files kept beside the store (the newest). @defaultValue 3 */
  readonly setAsideKept: number;
}

/** Server certificate files for a TLS listener; re-read when they change. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Client certificates must chain to these CAs (mutual TLS); undefined: no client certificate asked. */
  readonly clientCaFile: string | undefined;
  /** How often the files are re-read (a rotated certificate is served without restart), in ms. @defaultValue 60000 */
  readonly reloadMs: number;
}

export interface GrpcConfig {
  /**
   * `host:port` for TCP, or undefined to not listen on TCP (the default). A
   * TCP listener needs caller authentication: mutual TLS or caller tokens.
   */
  readonly address: string | undefined;
  /** TLS of the TCP listener (`IPSIE_GRPC_TLS_*`). */
  readonly tls: TlsFiles | undefined;
  /** SHA-256 (hex) of the bearer tokens callers may present; when set, every call on every listener must. */
  readonly callerTokenSha256: readonly string[];
  /** Permissions of the Unix socket file. @defaultValue 0o660 */
  readonly socketMode: number;
  /** `host:port` of the sidecar's OpenID AuthZEN HTTP listener; undefined: off. */
  readonly authzenAddress: string | undefined;
  /** HTTPS on the AuthZEN listener (`IPSIE_AUTHZEN_TLS_*`); undefined: plain HTTP. */
  readonly authzenTls: HttpTlsConfig | undefined;
  /**
   * The AuthZEN PDP's public base URL (`IPSIE_AUTHZEN_PUBLIC_URL`, https, no trailing slash): the metadata's
   * `policy_decision_point` is `<it>/<tenant>`. Undefined: the URL the client used (AuthZEN 1.0 §Metadata).
   */
  readonly authzenPublicUrl: string | undefined;
  /** Most candidates one AuthZEN search page decides by the policy. @defaultValue 1000 */
  readonly authzenSearchCandidates: number;
  /** Share of allowed decisions sent to the audit trail, 0 to 1. @defaultValue 0 */
  readonly decisionAuditRate: number;
  /** Share of denials and step-ups sent to the audit trail, 0 to 1. @defaultValue the allow rate */
  readonly decisionAuditDenyRate: number;
  /** Unix socket path, or undefined to not listen on a socket. @defaultValue `data/sidecar.sock` */
  readonly socketPath: string | undefined;
  /** Most items one BatchCheck may carry. @defaultValue 100 */
  readonly batchMaxItems: number;
  /** Longest wait for a Check's `min_sequence`, in ms. @defaultValue 2000 */
  readonly minSequenceWaitMs: number;
  /**
   * Processes serving Check on the same listeners (one primary that only
   * supervises, and this many workers). Each ingests into its own store file.
   * @defaultValue 1 (the one process serves)
   */
  readonly processes: number;
}

export interface NatsConfig {
  /** NATS URLs; undefined runs the sidecar standalone, on its store as it is. */
  readonly servers: readonly string[] | undefined;
  /** Client name shown by the server. @defaultValue `ipsie-sidecar` */
  readonly name: string;
  /**
   * Decisions fail closed (STALE_DATA) unless the store is proven to hold what the stream held this many ms ago.
   * @defaultValue 30000
   */
  readonly staleAfterMs: number;
  /**
   * How often the stream is asked for its origin and last sequence (the liveness proof), in ms; below
   * `staleAfterMs`. @defaultValue 2000, or half of `staleAfterMs` when that is less
   */
  readonly probeIntervalMs: number;
  /**
   * At start, listeners stay closed until the store has caught up with the stream, at most this long, in ms.
   * Until it has caught up, decisions are STALE_DATA either way. @defaultValue 10000
   */
  readonly syncWaitMs: number;
}

export interface TokensConfig {
  /**
   * A `kid` still missing from an IdP's key set after a fetch is not looked for again for this long, in ms
   * (per `kid`: a new key after a rotation is fetched at once). SET transmitters: least time between fetches
   * for any unknown `kid`. @defaultValue 30000
   */
  readonly jwksCooldownMs: number;
  /** An IdP's key set is refetched before use once older than this: a removed key stops verifying, in s. @defaultValue 300 */
  readonly jwksMaxAgeS: number;
  /** Least time between two fetches of one IdP's key set; an unknown `kid` waits for the next one, in ms. @defaultValue 1000 */
  readonly jwksMinIntervalMs: number;
  /** Tolerated clock difference with IdPs, in s. @defaultValue 60 */
  readonly clockToleranceS: number;
}

/** Certificate files of an HTTPS listener, re-read every `reloadMs`. */
export interface HttpTlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  readonly reloadMs: number;
}

/** Bounds on the app's resources and relations (docs/resources.md). */
export interface ResourcesConfig {
  /** Most `parent` steps a relation is inherited over. @defaultValue 8 */
  readonly maxDepth: number;
  /** Most relations one resource may hold. @defaultValue 1000 */
  readonly maxRelations: number;
  /** Largest `attributes` of one resource, JSON bytes. @defaultValue 16384 */
  readonly maxAttributesBytes: number;
  /** Largest request body of the resource API, bytes. @defaultValue 262144 */
  readonly maxBodyBytes: number;
}

export interface GatewayConfig {
  /** `host:port` of the IdP-facing HTTP listener (SCIM). @defaultValue `127.0.0.1:8080` */
  readonly address: string;
  /** HTTPS on that listener (`IPSIE_GATEWAY_TLS_*`); undefined: plain HTTP (behind a TLS-terminating proxy). */
  readonly tls: HttpTlsConfig | undefined;
  /** `host:port` of the app-facing gRPC listener (the resource API); undefined: none. TLS as `tls` says. */
  readonly grpcAddress: string | undefined;
  /** Largest SCIM request body, in bytes. @defaultValue 1048576 */
  readonly scimMaxBodyBytes: number;
  /** JetStream replicas of the state stream the gateway creates. @defaultValue 1 */
  readonly streamReplicas: number;
  /** How often the gateway publishes each tenant's `sessions.purge`, in ms; 0: never. @defaultValue 3600000 */
  readonly sessionPurgeIntervalMs: number;
  /** A session is purged once it has been expired this long, in s. @defaultValue 86400 */
  readonly sessionPurgeGraceS: number;
}

export interface SignalsConfig {
  /**
   * Our public base URL: the issuer of the SETs we transmit, where our SSF
   * metadata lives, and the base of the push endpoints we register.
   * Undefined: `http://` (`https://` with `IPSIE_GATEWAY_TLS_*`) + the gateway listener's address as bound.
   */
  readonly publicUrl: string | undefined;
  /** JWKS file of our SET signing keys (private); the first key signs. Undefined: transmitting is off. */
  readonly signingKeysFile: string | undefined;
  /** How often the signing keys file is re-read (rotation without restart), in ms. @defaultValue 60000 */
  readonly keysReloadMs: number;
  /** Largest pushed SET, in bytes. @defaultValue 65536 */
  readonly pushMaxBytes: number;
  /** Audit records (accepted and refused SETs, ...) are kept this long, in s. @defaultValue 7776000 (90 days) */
  readonly auditMaxAgeS: number;
  /** Records of refused authentications (unauthenticated traffic) are kept this long, in s. @defaultValue 604800 */
  readonly auditRefusalsTtlS: number;
}

export interface PolicyConfig {
  /** The `opa` CLI used to compile Rego to Wasm. */
  readonly opaPath: string;
  /** Folder of the platform rules (`package ipsie.authz`) compiled into every tenant's bundle. */
  readonly platformDir: string;
  /** Folder with one sub-folder of Rego per tenant, compiled at start-up; optional. */
  readonly tenantsDir: string | undefined;
  /** Time limit for one `opa` invocation, in milliseconds. @defaultValue 30000 */
  readonly buildTimeoutMs: number;
  /** Address space one `opa` run may use, in MiB. @defaultValue 2048 */
  readonly opaMemoryLimitMb: number;
  /** Worker threads evaluating policies. @defaultValue the number of cores */
  readonly workers: number;
  /** Longest one evaluation may run before it is abandoned (DENY POLICY_TIMEOUT), in ms. @defaultValue 50 */
  readonly budgetMs: number;
}

/** Transaction tokens minted after an ALLOW and accepted as `subject.txn_token` (docs/transaction-tokens.md). */
export interface TxnTokensConfig {
  /** Lifetime of a minted token, in s. @defaultValue 300 */
  readonly lifetimeS: number;
  /** How long one signing key of a tenant signs (its successor is published that long ahead), in s. @defaultValue 86400 */
  readonly keyRotationS: number;
  /** The tokens' `iss`; `aud` is this, `:`, the tenant. @defaultValue `urn:ipsie-sidecar:txn` */
  readonly trustDomain: string;
}

/** Customer-managed keys (docs/keys.md); each tenant's key is in its `customer_managed_key`. */
export interface TenantKeysConfig {
  /** The `local` provider's key file; undefined: `local` keys are refused. */
  readonly localKeyFile: string | undefined;
  /** How often each tenant's key is checked with its key service, in s. @defaultValue 60 */
  readonly revalidateS: number;
}

export interface HealthConfig {
  /** `host:port` of the role's `/healthz`, `/readyz` and `/metrics`; undefined: off. */
  readonly address: string | undefined;
}

export interface Config {
  readonly store: StoreConfig;
  readonly health: HealthConfig;
  readonly grpc: GrpcConfig;
  readonly policy: PolicyConfig;
  readonly nats: NatsConfig;
  readonly gateway: GatewayConfig;
  readonly resources: ResourcesConfig;
  readonly tokens: TokensConfig;
  readonly signals: SignalsConfig;
  readonly txnTokens: TxnTokensConfig;
  readonly tenantKeys: TenantKeysConfig;
  /** Tenants and their IdPs, SCIM and admin credentials (from `IPSIE_TENANTS_FILE`). */
  readonly tenants: readonly TenantSettings[];
  readonly log: { readonly level: LogLevel };
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses the environment once into a frozen config: each variable as the
 * table of process settings (`process_settings.ts`) types and defaults it,
 * then the rules between them. Every error names the variable(s) at fault.
 *
 * @throws {ConfigInvalidError} `ERR_CONFIG_INVALID`
 */
export function parseConfig(
  variables: Env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  role: ConfigRole = 'sidecar',
): Config {
  const settings = readSettings(withConfigFile(variables, readFile), role);
  const tenants = tenantSettings(settings.IPSIE_TENANTS_FILE, readFile);
  const keyed = tenants.filter((t) => t.customerManagedKey !== undefined).map((t) => t.id);
  if (keyed.length > 0 && settings.IPSIE_NATS_URL === undefined) {
    // Their keys live in the cluster's KV bucket: a standalone sidecar could only serve them in clear.
    throw new ConfigInvalidError(
      ['IPSIE_NATS_URL', 'IPSIE_TENANTS_FILE'],
      `tenants ${keyed.join(', ')} have a customer_managed_key, whose keys are shared through NATS: set IPSIE_NATS_URL`,
    );
  }
  return deepFreeze({
    store: {
      path: settings.IPSIE_STORE_PATH,
      subjectCacheSize: settings.IPSIE_SUBJECT_CACHE_SIZE,
      checkMs: settings.IPSIE_STORE_CHECK_MS,
      setAsideKept: settings.IPSIE_STORE_SET_ASIDE_KEPT,
    },
    health: { address: settings.IPSIE_HEALTH_ADDRESS },
    grpc: {
      ...grpcListeners(settings),
      authzenAddress: settings.IPSIE_AUTHZEN_ADDRESS,
      authzenTls: httpTls(settings, 'IPSIE_AUTHZEN_TLS_CERT_FILE', 'IPSIE_AUTHZEN_TLS_KEY_FILE'),
      authzenPublicUrl: settings.IPSIE_AUTHZEN_PUBLIC_URL,
      authzenSearchCandidates: settings.IPSIE_AUTHZEN_SEARCH_CANDIDATES,
      decisionAuditRate: settings.IPSIE_DECISION_AUDIT_RATE,
      decisionAuditDenyRate: settings.IPSIE_DECISION_AUDIT_DENY_RATE ?? settings.IPSIE_DECISION_AUDIT_RATE,
      batchMaxItems: settings.IPSIE_BATCH_MAX_ITEMS,
      minSequenceWaitMs: settings.IPSIE_MIN_SEQUENCE_WAIT_MS,
      processes: settings.IPSIE_SIDECAR_PROCESSES,
    },
    nats: {
      servers: settings.IPSIE_NATS_URL,
      name: settings.IPSIE_NATS_NAME,
      staleAfterMs: settings.IPSIE_STALE_AFTER_MS,
      probeIntervalMs: probeInterval(settings),
      syncWaitMs: settings.IPSIE_SYNC_WAIT_MS,
    },
    policy: {
      opaPath: settings.IPSIE_OPA_PATH,
      platformDir: settings.IPSIE_PLATFORM_POLICY_DIR,
      tenantsDir: settings.IPSIE_TENANT_POLICY_DIR,
      buildTimeoutMs: settings.IPSIE_OPA_BUILD_TIMEOUT_MS,
      opaMemoryLimitMb: settings.IPSIE_OPA_MEMORY_LIMIT_MB,
      workers: settings.IPSIE_POLICY_WORKERS,
      budgetMs: settings.IPSIE_POLICY_BUDGET_MS,
    },
    gateway: {
      address: settings.IPSIE_GATEWAY_ADDRESS,
      tls: httpTls(settings, 'IPSIE_GATEWAY_TLS_CERT_FILE', 'IPSIE_GATEWAY_TLS_KEY_FILE'),
      grpcAddress: settings.IPSIE_GATEWAY_GRPC_ADDRESS,
      scimMaxBodyBytes: settings.IPSIE_SCIM_MAX_BODY_BYTES,
      streamReplicas: settings.IPSIE_STREAM_REPLICAS,
      sessionPurgeIntervalMs: settings.IPSIE_SESSION_PURGE_INTERVAL_MS,
      sessionPurgeGraceS: settings.IPSIE_SESSION_PURGE_GRACE_S,
    },
    resources: {
      maxDepth: settings.IPSIE_RESOURCE_MAX_DEPTH,
      maxRelations: settings.IPSIE_RESOURCE_MAX_RELATIONS,
      maxAttributesBytes: settings.IPSIE_RESOURCE_MAX_ATTR_BYTES,
      maxBodyBytes: settings.IPSIE_RESOURCE_MAX_BODY_BYTES,
    },
    tokens: {
      jwksCooldownMs: settings.IPSIE_JWKS_COOLDOWN_MS,
      jwksMaxAgeS: settings.IPSIE_JWKS_MAX_AGE_S,
      jwksMinIntervalMs: settings.IPSIE_JWKS_MIN_INTERVAL_MS,
      clockToleranceS: settings.IPSIE_CLOCK_TOLERANCE_S,
    },
    signals: {
      publicUrl: settings.IPSIE_PUBLIC_URL,
      signingKeysFile: settings.IPSIE_SSF_SIGNING_KEYS_FILE,
      keysReloadMs: settings.IPSIE_SSF_KEYS_RELOAD_MS,
      pushMaxBytes: settings.IPSIE_SSF_PUSH_MAX_BYTES,
      auditMaxAgeS: settings.IPSIE_AUDIT_MAX_AGE_S,
      auditRefusalsTtlS: settings.IPSIE_AUDIT_REFUSALS_TTL_S,
    },
    txnTokens: {
      lifetimeS: settings.IPSIE_TXN_TOKEN_LIFETIME_S,
      keyRotationS: settings.IPSIE_TXN_KEY_ROTATION_S,
      trustDomain: settings.IPSIE_TXN_TRUST_DOMAIN,
    },
    tenantKeys: {
      localKeyFile: settings.IPSIE_LOCAL_KEY_FILE,
      revalidateS: settings.IPSIE_TENANT_KEY_REVALIDATE_S,
    },
    tenants,
    log: { level: settings.IPSIE_LOG_LEVEL },
  });
}

/** An HTTPS listener's files: both or neither. */
function httpTls(
  settings: SettingValues,
  certVariable: 'IPSIE_GATEWAY_TLS_CERT_FILE' | 'IPSIE_AUTHZEN_TLS_CERT_FILE',
  keyVariable: 'IPSIE_GATEWAY_TLS_KEY_FILE' | 'IPSIE_AUTHZEN_TLS_KEY_FILE',
): HttpTlsConfig | undefined {
  const certFile = settings[certVariable];
  const keyFile = settings[keyVariable];
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    throw new ConfigInvalidError([certVariable, keyVariable], 'set both or neither');
  }
  return { certFile, keyFile, reloadMs: settings.IPSIE_HTTP_TLS_RELOAD_MS };
}

/**
 * The gRPC listeners and how their callers authenticate. The Unix socket is
 * the default, guarded by its file permissions; TCP is off unless asked for,
 * and then only with mutual TLS or caller tokens (over TLS, or on loopback).
 */
function grpcListeners(
  settings: SettingValues,
): Pick<GrpcConfig, 'address' | 'socketPath' | 'socketMode' | 'tls' | 'callerTokenSha256'> {
  const address = settings.IPSIE_GRPC_ADDRESS;
  const socketPath = settings.IPSIE_GRPC_SOCKET;
  if (address === undefined && socketPath === undefined) {
    throw new ConfigInvalidError(['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_SOCKET'], 'at least one gRPC listener is required');
  }
  const certFile = settings.IPSIE_GRPC_TLS_CERT_FILE;
  const keyFile = settings.IPSIE_GRPC_TLS_KEY_FILE;
  const clientCaFile = settings.IPSIE_GRPC_TLS_CLIENT_CA_FILE;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigInvalidError(['IPSIE_GRPC_TLS_CERT_FILE', 'IPSIE_GRPC_TLS_KEY_FILE'], 'set both or neither');
  }
  if (clientCaFile !== undefined && certFile === undefined) {
    throw new ConfigInvalidError(
      ['IPSIE_GRPC_TLS_CLIENT_CA_FILE', 'IPSIE_GRPC_TLS_CERT_FILE'],
      'mutual TLS needs the server certificate and key too',
    );
  }
  const tls =
    certFile === undefined || keyFile === undefined
      ? undefined
      : { certFile, keyFile, clientCaFile, reloadMs: settings.IPSIE_GRPC_TLS_RELOAD_MS };
  if (tls !== undefined && address === undefined) {
    throw new ConfigInvalidError(
      ['IPSIE_GRPC_TLS_CERT_FILE', 'IPSIE_GRPC_ADDRESS'],
      'TLS is for the TCP listener: set it',
    );
  }
  const callerTokenSha256 = settings.IPSIE_GRPC_CALLER_TOKEN_SHA256;
  if (address !== undefined) {
    if (tls?.clientCaFile === undefined && callerTokenSha256.length === 0) {
      throw new ConfigInvalidError(
        ['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_TLS_CLIENT_CA_FILE', 'IPSIE_GRPC_CALLER_TOKEN_SHA256'],
        'a TCP listener authenticates its callers: set mutual TLS (IPSIE_GRPC_TLS_*) or caller tokens',
      );
    }
    const host = address.slice(0, address.lastIndexOf(':'));
    if (tls === undefined && !isLoopback(host)) {
      throw new ConfigInvalidError(
        ['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_TLS_CERT_FILE'],
        `caller tokens would cross the network in clear to ${host}: set IPSIE_GRPC_TLS_CERT_FILE and _KEY_FILE`,
      );
    }
  }
  return { address, socketPath, socketMode: settings.IPSIE_GRPC_SOCKET_MODE, tls, callerTokenSha256 };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * `IPSIE_CONFIG_FILE`: a JSON object of settings by their variable names;
 * the environment overrides it. An unknown key is refused by name, so a typo
 * never goes unnoticed.
 */
function withConfigFile(env: Env, readFile: (path: string) => string): Env {
  const path = env['IPSIE_CONFIG_FILE'];
  if (path === undefined || path === '') return env;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFile(path));
  } catch (cause) {
    throw new ConfigInvalidError(['IPSIE_CONFIG_FILE'], `${path} cannot be read as JSON: ${String(cause)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigInvalidError(['IPSIE_CONFIG_FILE'], `${path} must hold a JSON object of settings`);
  }
  const fromFile: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(SETTING_VARIABLES as readonly string[]).includes(key) || key === 'IPSIE_CONFIG_FILE') {
      throw new ConfigInvalidError([key], `${path}: unknown setting`);
    }
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ConfigInvalidError([key], `${path}: must be a string, number or boolean`);
    }
    fromFile[key] = String(value);
  }
  return { ...fromFile, ...env };
}

function tenantSettings(path: string | undefined, readFile: (path: string) => string): TenantSettings[] {
  if (path === undefined) return [];
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    throw new ConfigInvalidError(['IPSIE_TENANTS_FILE'], `cannot read ${path}: ${String(error)}`);
  }
  return parseTenantSettings(text, 'IPSIE_TENANTS_FILE', readFile);
}

/** `IPSIE_STREAM_PROBE_MS`: a liveness probe must fit in the staleness bound, or the store is never fresh. */
function probeInterval(settings: SettingValues): number {
  const staleAfterMs = settings.IPSIE_STALE_AFTER_MS;
  const value =
    settings.IPSIE_STREAM_PROBE_MS ?? Math.max(1, Math.min(DEFAULT_STREAM_PROBE_MS, Math.floor(staleAfterMs / 2)));
  if (value >= staleAfterMs) {
    throw new ConfigInvalidError(
      ['IPSIE_STREAM_PROBE_MS', 'IPSIE_STALE_AFTER_MS'],
      `the probe interval (${value} ms) must be less than the staleness bound (${staleAfterMs} ms)`,
    );
  }
  return value;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null) deepFreeze(child as object);
  }
  return Object.freeze(value);
}
