import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigInvalidError } from './errors.js';
import { parseTenantSettings } from './tenant_settings.js';
import type { TenantSettings } from './tenant_settings.js';

/** The project root (this file is `src/config/config.ts` or `dist/config/config.js`). */
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The two processes a config is for: each keeps its own store. */
export type ConfigRole = 'sidecar' | 'gateway';
/** Each role's store file, so that a sidecar and a gateway started in one folder never share one. */
export const DEFAULT_STORE_PATHS: Readonly<Record<ConfigRole, string>> = {
  sidecar: 'data/sidecar.db',
  gateway: 'data/gateway.db',
};
export const DEFAULT_GRPC_SOCKET = 'data/sidecar.sock';
export const DEFAULT_GRPC_SOCKET_MODE = 0o660;
export const DEFAULT_BATCH_MAX_ITEMS = 100;
export const DEFAULT_OPA_BUILD_TIMEOUT_MS = 30_000;
export const DEFAULT_POLICY_BUDGET_MS = 50;
export const DEFAULT_PLATFORM_POLICY_DIR = `${PROJECT_ROOT}policies/ipsie`;
export const DEFAULT_LOG_LEVEL = 'info';
export const DEFAULT_SUBJECT_CACHE_SIZE = 10_000;
export const DEFAULT_STALE_AFTER_MS = 30_000;
export const DEFAULT_MIN_SEQUENCE_WAIT_MS = 2_000;
export const DEFAULT_SYNC_WAIT_MS = 10_000;
/** The liveness probe's interval when `IPSIE_STREAM_PROBE_MS` is not set: this, or half the staleness bound if less. */
export const DEFAULT_STREAM_PROBE_MS = 2_000;
export const DEFAULT_STORE_CHECK_MS = 30_000;
export const DEFAULT_STORE_SET_ASIDE_KEPT = 3;
export const DEFAULT_SESSION_PURGE_INTERVAL_MS = 3_600_000;
export const DEFAULT_SESSION_PURGE_GRACE_S = 86_400;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

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

export interface GatewayConfig {
  /** `host:port` of the IdP-facing HTTP listener (SCIM). @defaultValue `127.0.0.1:8080` */
  readonly address: string;
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
   * Undefined: `http://` + the gateway listener's address as bound.
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
  readonly tokens: TokensConfig;
  readonly signals: SignalsConfig;
  /** Tenants and their IdPs, SCIM and admin credentials (from `IPSIE_TENANTS_FILE`). */
  readonly tenants: readonly TenantSettings[];
  readonly log: { readonly level: LogLevel };
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Parses the environment once into a frozen config. Every error names the
 * variable at fault.
 *
 * @throws {ConfigInvalidError} `ERR_CONFIG_INVALID`
 */
export function parseConfig(
  variables: Env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
  role: ConfigRole = 'sidecar',
): Config {
  const env = withConfigFile(variables, readFile);
  const listeners = grpcListeners(env);
  const level = env['IPSIE_LOG_LEVEL'] ?? DEFAULT_LOG_LEVEL;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigInvalidError(['IPSIE_LOG_LEVEL'], `expected one of ${LOG_LEVELS.join(', ')}`);
  }
  return deepFreeze({
    store: {
      path: env['IPSIE_STORE_PATH'] ?? DEFAULT_STORE_PATHS[role],
      subjectCacheSize: nonNegativeInteger(env, 'IPSIE_SUBJECT_CACHE_SIZE', DEFAULT_SUBJECT_CACHE_SIZE),
      checkMs: nonNegativeInteger(env, 'IPSIE_STORE_CHECK_MS', DEFAULT_STORE_CHECK_MS),
      setAsideKept: positiveInteger(env, 'IPSIE_STORE_SET_ASIDE_KEPT', DEFAULT_STORE_SET_ASIDE_KEPT),
    },
    health: { address: hostPort(env, 'IPSIE_HEALTH_ADDRESS') },
    grpc: {
      ...listeners,
      authzenAddress: hostPort(env, 'IPSIE_AUTHZEN_ADDRESS'),
      decisionAuditRate: fraction(env, 'IPSIE_DECISION_AUDIT_RATE'),
      decisionAuditDenyRate:
        env['IPSIE_DECISION_AUDIT_DENY_RATE'] === undefined
          ? fraction(env, 'IPSIE_DECISION_AUDIT_RATE')
          : fraction(env, 'IPSIE_DECISION_AUDIT_DENY_RATE'),
      batchMaxItems: positiveInteger(env, 'IPSIE_BATCH_MAX_ITEMS', DEFAULT_BATCH_MAX_ITEMS),
      minSequenceWaitMs: nonNegativeInteger(env, 'IPSIE_MIN_SEQUENCE_WAIT_MS', DEFAULT_MIN_SEQUENCE_WAIT_MS),
    },
    nats: {
      servers: natsServers(env),
      name: env['IPSIE_NATS_NAME'] ?? 'ipsie-sidecar',
      staleAfterMs: positiveInteger(env, 'IPSIE_STALE_AFTER_MS', DEFAULT_STALE_AFTER_MS),
      probeIntervalMs: probeInterval(env),
      syncWaitMs: nonNegativeInteger(env, 'IPSIE_SYNC_WAIT_MS', DEFAULT_SYNC_WAIT_MS),
    },
    policy: {
      opaPath: env['IPSIE_OPA_PATH'] ?? defaultOpaPath(),
      platformDir: env['IPSIE_PLATFORM_POLICY_DIR'] ?? DEFAULT_PLATFORM_POLICY_DIR,
      tenantsDir: optionalString(env, 'IPSIE_TENANT_POLICY_DIR', undefined),
      buildTimeoutMs: positiveInteger(env, 'IPSIE_OPA_BUILD_TIMEOUT_MS', DEFAULT_OPA_BUILD_TIMEOUT_MS),
      opaMemoryLimitMb: positiveInteger(env, 'IPSIE_OPA_MEMORY_LIMIT_MB', 2048),
      workers: positiveInteger(env, 'IPSIE_POLICY_WORKERS', availableParallelism()),
      budgetMs: positiveInteger(env, 'IPSIE_POLICY_BUDGET_MS', DEFAULT_POLICY_BUDGET_MS),
    },
    gateway: {
      address: gatewayAddress(env),
      scimMaxBodyBytes: positiveInteger(env, 'IPSIE_SCIM_MAX_BODY_BYTES', 1024 * 1024),
      streamReplicas: positiveInteger(env, 'IPSIE_STREAM_REPLICAS', 1),
      sessionPurgeIntervalMs: nonNegativeInteger(
        env,
        'IPSIE_SESSION_PURGE_INTERVAL_MS',
        DEFAULT_SESSION_PURGE_INTERVAL_MS,
      ),
      sessionPurgeGraceS: nonNegativeInteger(env, 'IPSIE_SESSION_PURGE_GRACE_S', DEFAULT_SESSION_PURGE_GRACE_S),
    },
    tokens: {
      jwksCooldownMs: nonNegativeInteger(env, 'IPSIE_JWKS_COOLDOWN_MS', 30_000),
      jwksMaxAgeS: positiveInteger(env, 'IPSIE_JWKS_MAX_AGE_S', 300),
      jwksMinIntervalMs: nonNegativeInteger(env, 'IPSIE_JWKS_MIN_INTERVAL_MS', 1_000),
      clockToleranceS: nonNegativeInteger(env, 'IPSIE_CLOCK_TOLERANCE_S', 60),
    },
    signals: {
      publicUrl: publicUrl(env),
      signingKeysFile: optionalString(env, 'IPSIE_SSF_SIGNING_KEYS_FILE', undefined),
      keysReloadMs: positiveInteger(env, 'IPSIE_SSF_KEYS_RELOAD_MS', 60_000),
      pushMaxBytes: positiveInteger(env, 'IPSIE_SSF_PUSH_MAX_BYTES', 64 * 1024),
      auditMaxAgeS: positiveInteger(env, 'IPSIE_AUDIT_MAX_AGE_S', 90 * 86_400),
      auditRefusalsTtlS: positiveInteger(env, 'IPSIE_AUDIT_REFUSALS_TTL_S', 7 * 86_400),
    },
    tenants: tenantSettings(env, readFile),
    log: { level: level as LogLevel },
  });
}

/**
 * The gRPC listeners and how their callers authenticate. The Unix socket is
 * the default, guarded by its file permissions; TCP is off unless asked for,
 * and then only with mutual TLS or caller tokens (over TLS, or on loopback).
 */
function grpcListeners(
  env: Env,
): Pick<GrpcConfig, 'address' | 'socketPath' | 'socketMode' | 'tls' | 'callerTokenSha256'> {
  const address = optionalString(env, 'IPSIE_GRPC_ADDRESS', undefined);
  const socketPath = optionalString(env, 'IPSIE_GRPC_SOCKET', DEFAULT_GRPC_SOCKET);
  if (address !== undefined && !/^[^\s:]+:\d{1,5}$/.test(address)) {
    throw new ConfigInvalidError(['IPSIE_GRPC_ADDRESS'], `expected host:port, got "${address}"`);
  }
  if (address === undefined && socketPath === undefined) {
    throw new ConfigInvalidError(['IPSIE_GRPC_ADDRESS', 'IPSIE_GRPC_SOCKET'], 'at least one gRPC listener is required');
  }
  const modeText = optionalString(env, 'IPSIE_GRPC_SOCKET_MODE', undefined);
  if (modeText !== undefined && !/^0?[0-7]{3}$/.test(modeText)) {
    throw new ConfigInvalidError(
      ['IPSIE_GRPC_SOCKET_MODE'],
      `expected octal permissions such as 0660, got "${modeText}"`,
    );
  }
  const socketMode = modeText === undefined ? DEFAULT_GRPC_SOCKET_MODE : parseInt(modeText, 8);
  if ((socketMode & 0o007) !== 0) {
    throw new ConfigInvalidError(['IPSIE_GRPC_SOCKET_MODE'], 'the socket must not be open to other users (o=---)');
  }
  const certFile = optionalString(env, 'IPSIE_GRPC_TLS_CERT_FILE', undefined);
  const keyFile = optionalString(env, 'IPSIE_GRPC_TLS_KEY_FILE', undefined);
  const clientCaFile = optionalString(env, 'IPSIE_GRPC_TLS_CLIENT_CA_FILE', undefined);
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new ConfigInvalidError(['IPSIE_GRPC_TLS_CERT_FILE', 'IPSIE_GRPC_TLS_KEY_FILE'], 'set both or neither');
  }
  if (clientCaFile !== undefined && certFile === undefined) {
    throw new ConfigInvalidError(
      ['IPSIE_GRPC_TLS_CLIENT_CA_FILE', 'IPSIE_GRPC_TLS_CERT_FILE'],
      'mutual TLS needs the server certificate and key too',
    );
  }
  const reloadMs = positiveInteger(env, 'IPSIE_GRPC_TLS_RELOAD_MS', 60_000);
  const tls =
    certFile === undefined || keyFile === undefined ? undefined : { certFile, keyFile, clientCaFile, reloadMs };
  if (tls !== undefined && address === undefined) {
    throw new ConfigInvalidError(
      ['IPSIE_GRPC_TLS_CERT_FILE', 'IPSIE_GRPC_ADDRESS'],
      'TLS is for the TCP listener: set it',
    );
  }
  const callerTokenSha256 = (optionalString(env, 'IPSIE_GRPC_CALLER_TOKEN_SHA256', undefined) ?? '')
    .split(',')
    .map((h) => h.trim().toLowerCase())
    .filter((h) => h !== '');
  for (const hash of callerTokenSha256) {
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      throw new ConfigInvalidError(['IPSIE_GRPC_CALLER_TOKEN_SHA256'], 'expected comma-separated SHA-256 hex digests');
    }
  }
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
  return { address, socketPath, socketMode, tls, callerTokenSha256 };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function gatewayAddress(env: Env): string {
  const address = env['IPSIE_GATEWAY_ADDRESS'] ?? '127.0.0.1:8080';
  if (!/^[^\s:]+:\d{1,5}$/.test(address)) {
    throw new ConfigInvalidError(['IPSIE_GATEWAY_ADDRESS'], `expected host:port, got "${address}"`);
  }
  return address;
}

/** Every setting, by its environment variable name (also the keys of `IPSIE_CONFIG_FILE`). */
export const SETTINGS: readonly string[] = [
  'IPSIE_AUDIT_MAX_AGE_S',
  'IPSIE_AUDIT_REFUSALS_TTL_S',
  'IPSIE_AUTHZEN_ADDRESS',
  'IPSIE_BATCH_MAX_ITEMS',
  'IPSIE_CLOCK_TOLERANCE_S',
  'IPSIE_DECISION_AUDIT_DENY_RATE',
  'IPSIE_DECISION_AUDIT_RATE',
  'IPSIE_GATEWAY_ADDRESS',
  'IPSIE_GRPC_ADDRESS',
  'IPSIE_GRPC_CALLER_TOKEN_SHA256',
  'IPSIE_GRPC_SOCKET',
  'IPSIE_GRPC_SOCKET_MODE',
  'IPSIE_GRPC_TLS_CERT_FILE',
  'IPSIE_GRPC_TLS_CLIENT_CA_FILE',
  'IPSIE_GRPC_TLS_KEY_FILE',
  'IPSIE_GRPC_TLS_RELOAD_MS',
  'IPSIE_HEALTH_ADDRESS',
  'IPSIE_JWKS_COOLDOWN_MS',
  'IPSIE_JWKS_MAX_AGE_S',
  'IPSIE_JWKS_MIN_INTERVAL_MS',
  'IPSIE_LOG_LEVEL',
  'IPSIE_MIN_SEQUENCE_WAIT_MS',
  'IPSIE_NATS_NAME',
  'IPSIE_NATS_URL',
  'IPSIE_OPA_BUILD_TIMEOUT_MS',
  'IPSIE_OPA_MEMORY_LIMIT_MB',
  'IPSIE_OPA_PATH',
  'IPSIE_PLATFORM_POLICY_DIR',
  'IPSIE_POLICY_BUDGET_MS',
  'IPSIE_POLICY_WORKERS',
  'IPSIE_PUBLIC_URL',
  'IPSIE_SCIM_MAX_BODY_BYTES',
  'IPSIE_SSF_KEYS_RELOAD_MS',
  'IPSIE_SSF_PUSH_MAX_BYTES',
  'IPSIE_SSF_SIGNING_KEYS_FILE',
  'IPSIE_STALE_AFTER_MS',
  'IPSIE_STORE_CHECK_MS',
  'IPSIE_STORE_PATH',
  'IPSIE_STREAM_PROBE_MS',
  'IPSIE_STORE_SET_ASIDE_KEPT',
  'IPSIE_STREAM_REPLICAS',
  'IPSIE_SUBJECT_CACHE_SIZE',
  'IPSIE_SYNC_WAIT_MS',
  'IPSIE_TENANTS_FILE',
  'IPSIE_TENANT_POLICY_DIR',
];

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
    if (!SETTINGS.includes(key)) throw new ConfigInvalidError([key], `${path}: unknown setting`);
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
      throw new ConfigInvalidError([key], `${path}: must be a string, number or boolean`);
    }
    fromFile[key] = String(value);
  }
  return { ...fromFile, ...env };
}

function fraction(env: Env, key: string): number {
  const raw = optionalString(env, key, undefined);
  if (raw === undefined) return 0;
  const value = Number(raw);
  if (!/^\d*\.?\d+$/.test(raw) || value > 1)
    throw new ConfigInvalidError([key], `expected a number from 0 to 1, got "${raw}"`);
  return value;
}

function hostPort(env: Env, key: string): string | undefined {
  const value = optionalString(env, key, undefined);
  if (value !== undefined && !/^[^\s:]+:\d{1,5}$/.test(value)) {
    throw new ConfigInvalidError([key], `expected host:port, got "${value}"`);
  }
  return value;
}

/** `IPSIE_PUBLIC_URL` without a trailing slash. */
function publicUrl(env: Env): string | undefined {
  const raw = optionalString(env, 'IPSIE_PUBLIC_URL', undefined);
  if (raw === undefined) return undefined;
  if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(raw)) {
    throw new ConfigInvalidError(['IPSIE_PUBLIC_URL'], `expected an http(s) URL without query, got "${raw}"`);
  }
  return raw.replace(/\/+$/, '');
}

function tenantSettings(env: Env, readFile: (path: string) => string): TenantSettings[] {
  const path = optionalString(env, 'IPSIE_TENANTS_FILE', undefined);
  if (path === undefined) return [];
  let text: string;
  try {
    text = readFile(path);
  } catch (error) {
    throw new ConfigInvalidError(['IPSIE_TENANTS_FILE'], `cannot read ${path}: ${String(error)}`);
  }
  return parseTenantSettings(text, 'IPSIE_TENANTS_FILE', readFile);
}

/** `IPSIE_NATS_URL`: comma-separated `nats://host:port` URLs. */
function natsServers(env: Env): string[] | undefined {
  const raw = optionalString(env, 'IPSIE_NATS_URL', undefined);
  if (raw === undefined) return undefined;
  const servers = raw.split(',').map((s) => s.trim());
  for (const server of servers) {
    if (!/^(nats|tls):\/\/[^\s/]+(:\d{1,5})?$/.test(server)) {
      throw new ConfigInvalidError(['IPSIE_NATS_URL'], `"${server}" is not a nats:// or tls:// URL`);
    }
  }
  return servers;
}

/** `IPSIE_STREAM_PROBE_MS`: a liveness probe must fit in the staleness bound, or the store is never fresh. */
function probeInterval(env: Env): number {
  const staleAfterMs = positiveInteger(env, 'IPSIE_STALE_AFTER_MS', DEFAULT_STALE_AFTER_MS);
  const fallback = Math.max(1, Math.min(DEFAULT_STREAM_PROBE_MS, Math.floor(staleAfterMs / 2)));
  const value = positiveInteger(env, 'IPSIE_STREAM_PROBE_MS', fallback);
  if (value >= staleAfterMs) {
    throw new ConfigInvalidError(
      ['IPSIE_STREAM_PROBE_MS', 'IPSIE_STALE_AFTER_MS'],
      `the probe interval (${value} ms) must be less than the staleness bound (${staleAfterMs} ms)`,
    );
  }
  return value;
}

/** The project's pinned build (`scripts/setup.sh`) when present, else `opa` on PATH. */
function defaultOpaPath(): string {
  const pinned = `${PROJECT_ROOT}.tools/bin/opa`;
  return existsSync(pinned) ? pinned : 'opa';
}

/** An empty value means "off", so `IPSIE_GRPC_ADDRESS=` disables TCP. */
function optionalString(env: Env, key: string, fallback: string | undefined): string | undefined {
  const value = env[key];
  if (value === undefined) return fallback;
  return value === '' ? undefined : value;
}

function positiveInteger(env: Env, key: string, fallback: number): number {
  const value = nonNegativeInteger(env, key, fallback);
  if (value === 0) throw new ConfigInvalidError([key], 'expected a positive integer, got "0"');
  return value;
}

function nonNegativeInteger(env: Env, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value)) {
    throw new ConfigInvalidError([key], `expected a non-negative integer, got "${raw}"`);
  }
  return value;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (typeof child === 'object' && child !== null) deepFreeze(child as object);
  }
  return Object.freeze(value);
}
