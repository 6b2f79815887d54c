import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ConfigInvalidError } from './errors.js';

/**
 * The process settings: every `IPSIE_*` environment variable (also the keys
 * of `IPSIE_CONFIG_FILE`), declared once below with its type, default, roles
 * and meaning. Parsing derives from the table, and so does the reference,
 * docs/configuration.md (`npm run schemas`).
 */

/** The project root (this file is `src/config/process_settings.ts` or `dist/config/process_settings.js`). */
const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The two processes a config is for: each keeps its own store. */
export type ConfigRole = 'sidecar' | 'gateway';
export const CONFIG_ROLES: readonly ConfigRole[] = ['sidecar', 'gateway'];

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
export const DEFAULT_SUBJECT_CACHE_SIZE = 10_000;
export const DEFAULT_STALE_AFTER_MS = 30_000;
export const DEFAULT_MIN_SEQUENCE_WAIT_MS = 2_000;
export const DEFAULT_SYNC_WAIT_MS = 10_000;
/** The liveness probe's interval when `IPSIE_STREAM_PROBE_MS` is not set: this, or half the staleness bound if less. */
export const DEFAULT_STREAM_PROBE_MS = 2_000;
export const DEFAULT_STORE_CHECK_MS = 30_000;
export const DEFAULT_STORE_SET_ASIDE_KEPT = 3;
export const DEFAULT_TXN_TOKEN_LIFETIME_S = 300;
export const DEFAULT_TXN_KEY_ROTATION_S = 86_400;
export const DEFAULT_TXN_TRUST_DOMAIN = 'urn:ipsie-sidecar:txn';
export const DEFAULT_TENANT_KEY_REVALIDATE_S = 60;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How a setting's text becomes its value. */
export interface SettingType<T> {
  /** What the reference calls it. */
  readonly name: string;
  /** The value of a non-empty text; a problem is thrown naming the variable. */
  readonly parse: (text: string, variable: string) => T;
  /** An empty value turns the setting off (undefined) rather than leaving it at its default. */
  readonly emptyIsOff: boolean;
}

/** One process setting. */
export interface Setting<T> {
  readonly type: SettingType<T>;
  /** The value when unset; a function for a default that depends on the role or the machine. */
  readonly default: T | ((role: ConfigRole) => T);
  /** The default as the reference states it, when it is not the value itself (or there is none). */
  readonly defaultText?: string;
  /** The roles that read it. */
  readonly roles: readonly ConfigRole[];
  /** What it is, for the reference: a sentence, units included. */
  readonly description: string;
}

function invalid(variable: string, problem: string): ConfigInvalidError {
  return new ConfigInvalidError([variable], problem);
}

const HOST_PORT = /^[^\s:]+:\d{1,5}$/;

// The types of value a setting can hold.
const nonNegativeInteger: SettingType<number> = {
  name: 'integer ≥ 0',
  emptyIsOff: false,
  parse: (text, variable) => {
    const value = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value)) {
      throw invalid(variable, `expected a non-negative integer, got "${text}"`);
    }
    return value;
  },
};
const positiveInteger: SettingType<number> = {
  name: 'integer > 0',
  emptyIsOff: false,
  parse: (text, variable) => {
    const value = nonNegativeInteger.parse(text, variable);
    if (value === 0) throw invalid(variable, 'expected a positive integer, got "0"');
    return value;
  },
};
const fraction: SettingType<number> = {
  name: 'number 0–1',
  emptyIsOff: false,
  parse: (text, variable) => {
    const value = Number(text);
    if (!/^\d*\.?\d+$/.test(text) || value > 1) throw invalid(variable, `expected a number from 0 to 1, got "${text}"`);
    return value;
  },
};
const text: SettingType<string> = { name: 'text', emptyIsOff: false, parse: (value) => value };
const path: SettingType<string> = { name: 'path', emptyIsOff: false, parse: (value) => value };
const hostPort: SettingType<string> = {
  name: '`host:port`',
  emptyIsOff: false,
  parse: (value, variable) => {
    if (!HOST_PORT.test(value)) throw invalid(variable, `expected host:port, got "${value}"`);
    return value;
  },
};
/** Without a trailing slash. */
const publicUrl: SettingType<string> = {
  name: 'http(s) URL',
  emptyIsOff: false,
  parse: (value, variable) => {
    if (!/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(value)) {
      throw invalid(variable, `expected an http(s) URL without query, got "${value}"`);
    }
    return value.replace(/\/+$/, '');
  },
};
/** Without a trailing slash: AuthZEN metadata names an https PDP. */
const httpsUrl: SettingType<string> = {
  name: 'https URL',
  emptyIsOff: false,
  parse: (value, variable) => {
    if (!/^https:\/\/[^\s/?#]+(\/[^\s?#]*)?$/.test(value)) {
      throw invalid(variable, `expected an https URL without query, got "${value}"`);
    }
    return value.replace(/\/+$/, '');
  },
};
const natsUrls: SettingType<readonly string[]> = {
  name: 'comma-separated `nats://` or `tls://` URLs',
  emptyIsOff: false,
  parse: (value, variable) => {
    const servers = value.split(',').map((s) => s.trim());
    for (const server of servers) {
      if (!/^(nats|tls):\/\/[^\s/]+(:\d{1,5})?$/.test(server)) {
        throw invalid(variable, `"${server}" is not a nats:// or tls:// URL`);
      }
    }
    return servers;
  },
};
const sha256List: SettingType<readonly string[]> = {
  name: 'comma-separated SHA-256 hex',
  emptyIsOff: false,
  parse: (value, variable) => {
    const hashes = value
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== '');
    if (!hashes.every((hash) => /^[0-9a-f]{64}$/.test(hash))) {
      throw invalid(variable, 'expected comma-separated SHA-256 hex digests');
    }
    return hashes;
  },
};
const socketMode: SettingType<number> = {
  name: 'octal permissions',
  emptyIsOff: false,
  parse: (value, variable) => {
    if (!/^0?[0-7]{3}$/.test(value)) {
      throw invalid(variable, `expected octal permissions such as 0660, got "${value}"`);
    }
    const mode = parseInt(value, 8);
    if ((mode & 0o007) !== 0) throw invalid(variable, 'the socket must not be open to other users (o=---)');
    return mode;
  },
};
const logLevel: SettingType<LogLevel> = {
  name: LOG_LEVELS.map((l) => `\`${l}\``).join(' '),
  emptyIsOff: false,
  parse: (value, variable) => {
    const level = LOG_LEVELS.find((l) => l === value);
    if (level === undefined) throw invalid(variable, `expected one of ${LOG_LEVELS.join(', ')}`);
    return level;
  },
};
/** A setting that can be off: unset (with no default) or empty. */
function optional<T>(type: SettingType<T>): SettingType<T | undefined> {
  return { ...type, emptyIsOff: true };
}

/** A setting, its value type taken from its type (the default must be one). */
function setting<T>(
  spec: Omit<Setting<T>, 'default'> & { readonly default: NoInfer<T> | ((role: ConfigRole) => NoInfer<T>) },
): Setting<T> {
  return spec;
}

const BOTH: readonly ConfigRole[] = CONFIG_ROLES;
const SIDECAR: readonly ConfigRole[] = ['sidecar'];
const GATEWAY: readonly ConfigRole[] = ['gateway'];

/** Every process setting, by its variable; the reference lists them in this order. */
export const PROCESS_SETTINGS = {
  IPSIE_CONFIG_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: BOTH,
    description:
      'a JSON object of these settings by variable name (strings, numbers or booleans); the environment overrides it, and an unknown name is refused',
  }),
  IPSIE_STORE_PATH: setting({
    type: path,
    default: (role) => DEFAULT_STORE_PATHS[role],
    defaultText: '`data/sidecar.db` (sidecar), `data/gateway.db` (gateway)',
    roles: BOTH,
    description: "SQLite file (WAL) of the role's store, created when missing; each role has its own default",
  }),
  IPSIE_STORE_CHECK_MS: setting({
    type: nonNegativeInteger,
    default: DEFAULT_STORE_CHECK_MS,
    roles: BOTH,
    description:
      'at start, longest integrity check (`quick_check`) of an existing store file, in ms; a file it cannot finish is rebuilt; `0` skips it',
  }),
  IPSIE_STORE_SET_ASIDE_KEPT: setting({
    type: positiveInteger,
    default: DEFAULT_STORE_SET_ASIDE_KEPT,
    roles: BOTH,
    description:
      'unreadable store files kept beside the store as `<path>.bad-<time>` (the newest); older ones are deleted',
  }),
  IPSIE_SUBJECT_CACHE_SIZE: setting({
    type: nonNegativeInteger,
    default: DEFAULT_SUBJECT_CACHE_SIZE,
    roles: BOTH,
    description: 'subject reads cached in memory; `0` disables',
  }),
  IPSIE_TENANTS_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: BOTH,
    description:
      'the tenants file: IdPs, JIT, SCIM, admin, AuthZEN and SSF settings per tenant ([schemas/tenants.schema.json](schemas/tenants.schema.json)); unset: no tenants',
  }),
  IPSIE_GRPC_SOCKET: setting({
    type: optional(path),
    default: DEFAULT_GRPC_SOCKET,
    roles: SIDECAR,
    description: 'Unix socket of the Check service (the default way in); empty to disable',
  }),
  IPSIE_GRPC_SOCKET_MODE: setting({
    type: socketMode,
    default: DEFAULT_GRPC_SOCKET_MODE,
    defaultText: '`0660`',
    roles: SIDECAR,
    description: 'permissions of the socket file: who may open it may call; never open to others',
  }),
  IPSIE_GRPC_ADDRESS: setting({
    type: optional(hostPort),
    default: undefined,
    roles: SIDECAR,
    description:
      'TCP listener of the Check service; needs mutual TLS or caller tokens, and TLS unless on loopback; unset or empty: no TCP',
  }),
  IPSIE_GRPC_TLS_CERT_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: SIDECAR,
    description: 'with `IPSIE_GRPC_TLS_KEY_FILE`: TLS on the TCP listener (PEM; re-read when it changes)',
  }),
  IPSIE_GRPC_TLS_KEY_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: SIDECAR,
    description: "the TCP listener's private key (PEM)",
  }),
  IPSIE_GRPC_TLS_CLIENT_CA_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: SIDECAR,
    description: 'mutual TLS: callers present a certificate of these CAs (PEM)',
  }),
  IPSIE_GRPC_TLS_RELOAD_MS: setting({
    type: positiveInteger,
    default: 60_000,
    roles: SIDECAR,
    description: 'how often the TLS files are re-read (a rotated certificate is served without restart), in ms',
  }),
  IPSIE_GRPC_CALLER_TOKEN_SHA256: setting({
    type: sha256List,
    default: [],
    defaultText: '—',
    roles: SIDECAR,
    description: "SHA-256 of the callers' tokens; when set, every call on every listener sends `Bearer <token>`",
  }),
  IPSIE_SIDECAR_PROCESSES: setting({
    type: positiveInteger,
    default: 1,
    roles: SIDECAR,
    description:
      'processes serving Check on the same listeners (Node cluster), each with its own Wasm, evaluation pool and store file (`<IPSIE_STORE_PATH>.<n>` from the second; standalone: all read the one file); 1: one process',
  }),
  IPSIE_BATCH_MAX_ITEMS: setting({
    type: positiveInteger,
    default: DEFAULT_BATCH_MAX_ITEMS,
    roles: SIDECAR,
    description: 'most items in one BatchCheck',
  }),
  IPSIE_MIN_SEQUENCE_WAIT_MS: setting({
    type: nonNegativeInteger,
    default: DEFAULT_MIN_SEQUENCE_WAIT_MS,
    roles: SIDECAR,
    description: "longest wait for a Check's `min_sequence`, in ms (the call deadline may cut it)",
  }),
  IPSIE_AUTHZEN_ADDRESS: setting({
    type: optional(hostPort),
    default: undefined,
    roles: SIDECAR,
    description: 'OpenID AuthZEN HTTP listener ([authzen.md](authzen.md)); unset: off',
  }),
  IPSIE_AUTHZEN_TLS_CERT_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: SIDECAR,
    description:
      'with `IPSIE_AUTHZEN_TLS_KEY_FILE`: HTTPS on the AuthZEN listener (PEM certificate chain; re-read every `IPSIE_HTTP_TLS_RELOAD_MS`)',
  }),
  IPSIE_AUTHZEN_TLS_KEY_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: SIDECAR,
    description: "the AuthZEN listener's private key (PEM)",
  }),
  IPSIE_AUTHZEN_PUBLIC_URL: setting({
    type: optional(httpsUrl),
    default: undefined,
    defaultText: 'the URL the client used',
    roles: SIDECAR,
    description: "the AuthZEN PDP's public base URL: its metadata's `policy_decision_point` is it + `/<tenant>`",
  }),
  IPSIE_AUTHZEN_SEARCH_CANDIDATES: setting({
    type: positiveInteger,
    default: 1000,
    roles: SIDECAR,
    description:
      'most candidates one AuthZEN search page decides by the policy; the page ends there with a `next_token`',
  }),
  IPSIE_DECISION_AUDIT_RATE: setting({
    type: fraction,
    default: 0,
    roles: SIDECAR,
    description: "share of allowed decisions recorded in the tenant's audit trail",
  }),
  IPSIE_DECISION_AUDIT_DENY_RATE: setting({
    type: optional(fraction),
    default: undefined,
    defaultText: '`IPSIE_DECISION_AUDIT_RATE`',
    roles: SIDECAR,
    description: 'share of denials and step-ups recorded',
  }),
  IPSIE_TENANT_POLICY_DIR: setting({
    type: optional(path),
    default: undefined,
    roles: SIDECAR,
    description: '`<dir>/<tenant>/*.rego`, compiled at start-up; unset: policies come from the gateway only',
  }),
  IPSIE_PLATFORM_POLICY_DIR: setting({
    type: path,
    default: DEFAULT_PLATFORM_POLICY_DIR,
    defaultText: '`policies/ipsie` of the installation',
    roles: BOTH,
    description: "the platform rules (`package ipsie.authz`) compiled into every tenant's bundle",
  }),
  IPSIE_OPA_PATH: setting({
    type: path,
    default: defaultOpaPath,
    defaultText: '`.tools/bin/opa` of the installation when present, else `opa`',
    roles: BOTH,
    description: 'the OPA CLI that compiles Rego to Wasm',
  }),
  IPSIE_OPA_BUILD_TIMEOUT_MS: setting({
    type: positiveInteger,
    default: DEFAULT_OPA_BUILD_TIMEOUT_MS,
    roles: BOTH,
    description: 'time limit of one `opa` run, in ms',
  }),
  IPSIE_OPA_MEMORY_LIMIT_MB: setting({
    type: positiveInteger,
    default: 2048,
    roles: BOTH,
    description: 'address space of one `opa` run (`ulimit -v`), in MiB',
  }),
  IPSIE_POLICY_WORKERS: setting({
    type: positiveInteger,
    default: () => availableParallelism(),
    defaultText: 'the number of cores',
    roles: BOTH,
    description: 'worker threads evaluating policies, off the event loop',
  }),
  IPSIE_POLICY_BUDGET_MS: setting({
    type: positiveInteger,
    default: DEFAULT_POLICY_BUDGET_MS,
    roles: BOTH,
    description:
      "longest one evaluation runs, in ms: then `DENY POLICY_TIMEOUT` and the worker is replaced; a tenant's `policy.budget_ms` overrides it",
  }),
  IPSIE_NATS_URL: setting({
    type: optional(natsUrls),
    default: undefined,
    roles: BOTH,
    description: 'the NATS servers; unset: the sidecar runs standalone on its store as it is',
  }),
  IPSIE_NATS_NAME: setting({
    type: text,
    default: 'ipsie-sidecar',
    roles: BOTH,
    description: 'client name shown by the server',
  }),
  IPSIE_STALE_AFTER_MS: setting({
    type: positiveInteger,
    default: DEFAULT_STALE_AFTER_MS,
    roles: BOTH,
    description: 'not proven to hold what the stream held this long ago, in ms: every decision is `DENY` `STALE_DATA`',
  }),
  IPSIE_STREAM_PROBE_MS: setting({
    type: optional(positiveInteger),
    default: undefined,
    defaultText: '`2000`, or half of `IPSIE_STALE_AFTER_MS` when that is less',
    roles: BOTH,
    description:
      'how often the stream is asked for its origin and last sequence (the proof of being current), in ms; below `IPSIE_STALE_AFTER_MS`',
  }),
  IPSIE_SYNC_WAIT_MS: setting({
    type: nonNegativeInteger,
    default: DEFAULT_SYNC_WAIT_MS,
    roles: SIDECAR,
    description:
      'at start, listeners open once the store has caught up with the stream or after this, in ms (`STALE_DATA` until caught up)',
  }),
  IPSIE_JWKS_COOLDOWN_MS: setting({
    type: nonNegativeInteger,
    default: 30_000,
    roles: BOTH,
    description:
      "per `kid`: one still missing from an IdP's key set after a fetch is not looked for again for this long, in ms",
  }),
  IPSIE_JWKS_MAX_AGE_S: setting({
    type: positiveInteger,
    default: 300,
    roles: SIDECAR,
    description: 'an IdP key set is fetched again before use once this old, in s: a removed key stops verifying',
  }),
  IPSIE_JWKS_MIN_INTERVAL_MS: setting({
    type: nonNegativeInteger,
    default: 1_000,
    roles: SIDECAR,
    description: "least time between two fetches of one IdP's key set, in ms; a new `kid` waits for the next one",
  }),
  IPSIE_CLOCK_TOLERANCE_S: setting({
    type: nonNegativeInteger,
    default: 60,
    roles: BOTH,
    description: 'leeway on token `exp`, `iat`, `nbf` and `auth_time`, in s',
  }),
  IPSIE_GATEWAY_ADDRESS: setting({
    type: hostPort,
    default: '127.0.0.1:8080',
    roles: GATEWAY,
    description: 'the IdP-facing HTTP listener (SCIM, SSF, admin API)',
  }),
  IPSIE_GATEWAY_GRPC_ADDRESS: setting({
    type: optional(hostPort),
    default: undefined,
    roles: GATEWAY,
    description:
      "the app-facing gRPC listener of the gateway (the resource API's `ipsie.sidecar.v1.Resources`; TLS with the gateway's certificate when `IPSIE_GATEWAY_TLS_*` are set); unset: off",
  }),
  IPSIE_GATEWAY_TLS_CERT_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: GATEWAY,
    description:
      'with `IPSIE_GATEWAY_TLS_KEY_FILE`: HTTPS on the gateway listener (PEM certificate chain; re-read when it changes)',
  }),
  IPSIE_GATEWAY_TLS_KEY_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: GATEWAY,
    description: "the gateway listener's private key (PEM)",
  }),
  IPSIE_HTTP_TLS_RELOAD_MS: setting({
    type: positiveInteger,
    default: 60_000,
    roles: BOTH,
    description:
      'how often the HTTPS listeners re-read their certificate files (a renewed certificate is served without restart; one that does not load is logged and the current one kept), in ms',
  }),
  IPSIE_SESSION_PURGE_INTERVAL_MS: setting({
    type: nonNegativeInteger,
    default: 3_600_000,
    roles: GATEWAY,
    description:
      "how often each tenant's `sessions.purge` (ended sessions dropped alike on every store) is published, in ms; `0`: never",
  }),
  IPSIE_SESSION_PURGE_GRACE_S: setting({
    type: nonNegativeInteger,
    default: 86_400,
    roles: GATEWAY,
    description: 'a session is purged once it has been expired this long, in s',
  }),
  IPSIE_SCIM_MAX_BODY_BYTES: setting({
    type: positiveInteger,
    default: 1024 * 1024,
    roles: GATEWAY,
    description: 'largest SCIM request body, in bytes (413 beyond)',
  }),
  IPSIE_RESOURCE_MAX_DEPTH: setting({
    type: positiveInteger,
    default: 8,
    roles: BOTH,
    description:
      'most `parent` steps a relation is inherited over ([resources.md](resources.md)): the gateway refuses a parent that makes a longer chain (or a cycle); reads stop there',
  }),
  IPSIE_RESOURCE_MAX_RELATIONS: setting({
    type: positiveInteger,
    default: 1000,
    roles: BOTH,
    description:
      "most relations one of the app's resources may hold: the gateway refuses more (409); a decision's input carries at most this many",
  }),
  IPSIE_RESOURCE_MAX_ATTR_BYTES: setting({
    type: positiveInteger,
    default: 16 * 1024,
    roles: GATEWAY,
    description: "largest `attributes` of one of the app's resources, as JSON bytes (413 beyond)",
  }),
  IPSIE_RESOURCE_MAX_BODY_BYTES: setting({
    type: positiveInteger,
    default: 256 * 1024,
    roles: GATEWAY,
    description: "largest request body of the app's resource API, in bytes (413 beyond)",
  }),
  IPSIE_STREAM_REPLICAS: setting({
    type: positiveInteger,
    default: 1,
    roles: GATEWAY,
    description: 'JetStream replicas of the streams and buckets the gateway creates',
  }),
  IPSIE_PUBLIC_URL: setting({
    type: optional(publicUrl),
    default: undefined,
    defaultText: '`http://` + the gateway listener as bound',
    roles: GATEWAY,
    description:
      'our public base URL: the issuer of the SETs we send, our SSF metadata, the base of our push endpoints',
  }),
  IPSIE_SSF_SIGNING_KEYS_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: GATEWAY,
    description: 'JWKS of the private keys signing the SETs we transmit (the first signs); unset: transmitting is off',
  }),
  IPSIE_SSF_KEYS_RELOAD_MS: setting({
    type: positiveInteger,
    default: 60_000,
    roles: GATEWAY,
    description: 'how often the signing keys file is re-read (rotation without restart), in ms',
  }),
  IPSIE_SSF_PUSH_MAX_BYTES: setting({
    type: positiveInteger,
    default: 64 * 1024,
    roles: GATEWAY,
    description: 'largest pushed SET, in bytes (413 beyond)',
  }),
  IPSIE_AUDIT_MAX_AGE_S: setting({
    type: positiveInteger,
    default: 90 * 86_400,
    roles: GATEWAY,
    description: 'how long `IPSIE_AUDIT` keeps records (accepted, refused and transmitted SETs, ...), in s',
  }),
  IPSIE_AUDIT_REFUSALS_TTL_S: setting({
    type: positiveInteger,
    default: 7 * 86_400,
    roles: BOTH,
    description: 'how long records of refused authentications stay in `IPSIE_AUDIT`, in s',
  }),
  IPSIE_TXN_TOKEN_LIFETIME_S: setting({
    type: positiveInteger,
    default: DEFAULT_TXN_TOKEN_LIFETIME_S,
    roles: SIDECAR,
    description:
      'lifetime of the transaction tokens a Check mints after an ALLOW, in s; a key verifies this long (plus `IPSIE_CLOCK_TOLERANCE_S`) after it stopped signing',
  }),
  IPSIE_TXN_KEY_ROTATION_S: setting({
    type: positiveInteger,
    default: DEFAULT_TXN_KEY_ROTATION_S,
    roles: SIDECAR,
    description:
      'how long one transaction-token signing key of a tenant signs, in s; its successor is published in the `ipsie_txn_keys` bucket that long ahead',
  }),
  IPSIE_TXN_TRUST_DOMAIN: setting({
    type: text,
    default: DEFAULT_TXN_TRUST_DOMAIN,
    roles: SIDECAR,
    description:
      "the transaction tokens' `iss`; their `aud` is this, `:`, the tenant id (the draft's trust domain, one per tenant)",
  }),
  IPSIE_LOCAL_KEY_FILE: setting({
    type: optional(path),
    default: undefined,
    roles: BOTH,
    description:
      'the `local` key provider\'s key file, `{"keys": {"<key id>": "<base64 of 32 bytes>"}}`, read at every use (a key removed is revoked); for development ([keys.md](keys.md)); unset: `local` keys are refused',
  }),
  IPSIE_TENANT_KEY_REVALIDATE_S: setting({
    type: positiveInteger,
    default: DEFAULT_TENANT_KEY_REVALIDATE_S,
    roles: BOTH,
    description:
      "how often each customer-managed-key tenant's key is checked with its key service, in s: a key disabled or deleted there stops that tenant's data on every process within this",
  }),
  IPSIE_HEALTH_ADDRESS: setting({
    type: optional(hostPort),
    default: undefined,
    roles: BOTH,
    description:
      "the role's `/healthz`, `/readyz` (components; sidecar: `/readyz/<tenant>` too) and `/metrics` (Prometheus); unset: off",
  }),
  IPSIE_LOG_LEVEL: setting({
    type: logLevel,
    default: 'info',
    roles: BOTH,
    description: 'pino level; denials and step-ups log at `info`, allows at `debug`',
  }),
} as const;

export type SettingVariable = keyof typeof PROCESS_SETTINGS;
export const SETTING_VARIABLES = Object.keys(PROCESS_SETTINGS) as readonly SettingVariable[];

/** Each setting's value, as its type and default make it. */
export type SettingValues = {
  readonly [V in SettingVariable]: (typeof PROCESS_SETTINGS)[V] extends Setting<infer T> ? T : never;
};

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Every setting's value from the environment (already merged with
 * `IPSIE_CONFIG_FILE`): unset takes the default; empty turns off a setting
 * that can be off and otherwise takes the default.
 *
 * @throws {ConfigInvalidError} naming the variable of the first bad value
 */
export function readSettings(env: Env, role: ConfigRole): SettingValues {
  const values: Record<string, unknown> = {};
  for (const variable of SETTING_VARIABLES) {
    const spec: Setting<unknown> = PROCESS_SETTINGS[variable];
    const raw = env[variable];
    if (raw === '' && spec.type.emptyIsOff) values[variable] = undefined;
    else if (raw === undefined || raw === '') values[variable] = defaultOf(spec, role);
    else values[variable] = spec.type.parse(raw, variable);
  }
  return values as SettingValues;
}

function defaultOf(spec: Setting<unknown>, role: ConfigRole): unknown {
  return typeof spec.default === 'function' ? (spec.default as (role: ConfigRole) => unknown)(role) : spec.default;
}

/** One row of the reference: what docs/configuration.md lists for a setting. */
export interface SettingReference {
  readonly variable: SettingVariable;
  readonly type: string;
  /** As the reference states it: markdown, or `—` for none. */
  readonly default: string;
  readonly roles: readonly ConfigRole[];
  readonly description: string;
}

/** The table as the reference lists it. */
export function settingsReference(): SettingReference[] {
  return SETTING_VARIABLES.map((variable) => {
    const spec: Setting<unknown> = PROCESS_SETTINGS[variable];
    return {
      variable,
      type: spec.type.name,
      default: spec.defaultText ?? defaultText(spec.default),
      roles: spec.roles,
      description: spec.description,
    };
  });
}

function defaultText(value: unknown): string {
  if (value === undefined) return '—';
  if (Array.isArray(value)) return value.length === 0 ? '—' : `\`${value.join(',')}\``;
  return `\`${JSON.stringify(value).replace(/^"|"$/g, '')}\``;
}

/** The project's pinned build (`scripts/setup.sh`) when present, else `opa` on PATH. */
function defaultOpaPath(): string {
  const pinned = `${PROJECT_ROOT}.tools/bin/opa`;
  return existsSync(pinned) ? pinned : 'opa';
}
