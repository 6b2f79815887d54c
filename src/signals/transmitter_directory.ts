import { createRemoteJWKSet } from 'jose';
import type { JWTVerifyGetKey } from 'jose';
import type { TenantSettings, TransmitterSettings } from '../config/index.js';
import { TransmitterUnavailableError } from './errors.js';

/** Transmitter Configuration Metadata (SSF §7), the members this receiver uses. */
export interface TransmitterMetadata {
  readonly issuer: string;
  readonly specVersion: string;
  readonly jwksUri: string | undefined;
  readonly deliveryMethodsSupported: readonly string[];
  readonly configurationEndpoint: string | undefined;
  readonly statusEndpoint: string | undefined;
  readonly addSubjectEndpoint: string | undefined;
  readonly removeSubjectEndpoint: string | undefined;
  readonly verificationEndpoint: string | undefined;
  readonly criticalSubjectMembers: readonly string[];
}

interface Entry {
  readonly settings: TransmitterSettings;
  metadata: Promise<TransmitterMetadata> | undefined;
  keys: JWTVerifyGetKey | undefined;
  /** The stream id learnt from stream management, when the settings name none. */
  streamId: string | undefined;
}

/** Where learnt stream ids are shared between gateway replicas (a KV bucket). */
export interface StreamIdStore {
  get(tenantId: string, issuer: string): Promise<string | undefined>;
  put(tenantId: string, issuer: string, streamId: string): Promise<void>;
  /** The stream was deleted: no replica uses its id again. */
  delete(tenantId: string, issuer: string): Promise<void>;
}

export interface TransmitterDirectoryOptions {
  readonly tenants: readonly TenantSettings[];
  /** Shares stream ids learnt through stream management with the other replicas. */
  readonly streamIds?: StreamIdStore;
  /** Least time between JWKS fetches for an unknown `kid`, in ms. @defaultValue 30000 */
  readonly jwksCooldownMs?: number;
  /** @defaultValue 5000 */
  readonly fetchTimeoutMs?: number;
}

/**
 * The transmitters each tenant receives from: their settings, their SSF
 * metadata (fetched once, its `issuer` checked) and their signing keys.
 */
export class TransmitterDirectory {
  readonly #entries = new Map<string, Map<string, Entry>>();
  readonly #cooldownMs: number;
  readonly #timeoutMs: number;
  readonly #streamIds: StreamIdStore | undefined;

  constructor(options: TransmitterDirectoryOptions) {
    for (const tenant of options.tenants) {
      const byIssuer = new Map<string, Entry>();
      for (const settings of tenant.ssf.transmitters) {
        byIssuer.set(settings.issuer, { settings, metadata: undefined, keys: undefined, streamId: undefined });
      }
      if (byIssuer.size > 0) this.#entries.set(tenant.id, byIssuer);
    }
    this.#cooldownMs = options.jwksCooldownMs ?? 30_000;
    this.#streamIds = options.streamIds;
    this.#timeoutMs = options.fetchTimeoutMs ?? 5_000;
  }

  tenants(): string[] {
    return [...this.#entries.keys()];
  }

  transmitters(tenantId: string): TransmitterSettings[] {
    return [...(this.#entries.get(tenantId)?.values() ?? [])].map((e) => e.settings);
  }

  get(tenantId: string, issuer: string): TransmitterSettings | undefined {
    return this.#entries.get(tenantId)?.get(issuer)?.settings;
  }

  /** The id of our stream at this transmitter: configured, else learnt from stream management. */
  streamId(tenantId: string, issuer: string): string | undefined {
    const entry = this.#entry(tenantId, issuer);
    return entry.settings.streamId ?? entry.streamId;
  }

  /** Remembers a stream id learnt from stream management, for every replica. */
  async learnStreamId(tenantId: string, issuer: string, streamId: string): Promise<void> {
    this.#entry(tenantId, issuer).streamId = streamId;
    await this.#streamIds?.put(tenantId, issuer, streamId);
  }

  /** Forgets a learnt stream id once its stream is deleted, for every replica; a configured one stays. */
  async forgetStreamId(tenantId: string, issuer: string): Promise<void> {
    this.#entry(tenantId, issuer).streamId = undefined;
    await this.#streamIds?.delete(tenantId, issuer);
  }

  /**
   * The stream id: configured, else the replicas' shared record (another replica may have created or deleted
   * the stream since this one learnt it), else what this one learnt.
   */
  async knownStreamId(tenantId: string, issuer: string): Promise<string | undefined> {
    const entry = this.#entry(tenantId, issuer);
    if (entry.settings.streamId !== undefined || this.#streamIds === undefined) return this.streamId(tenantId, issuer);
    entry.streamId = await this.#streamIds.get(tenantId, issuer);
    return entry.streamId;
  }

  /**
   * The transmitter's SSF configuration metadata; its `issuer` must be exactly the configured one.
   *
   * @throws {TransmitterUnavailableError}
   */
  async metadata(tenantId: string, issuer: string): Promise<TransmitterMetadata> {
    const entry = this.#entry(tenantId, issuer);
    entry.metadata ??= this.#fetchMetadata(entry.settings.issuer).catch((error: unknown) => {
      entry.metadata = undefined;
      throw error;
    });
    return await entry.metadata;
  }

  /** @throws {TransmitterUnavailableError} */
  async keys(tenantId: string, issuer: string): Promise<JWTVerifyGetKey> {
    const entry = this.#entry(tenantId, issuer);
    if (entry.keys !== undefined) return entry.keys;
    const uri = entry.settings.jwksUri ?? (await this.metadata(tenantId, issuer)).jwksUri;
    if (uri === undefined) {
      throw new TransmitterUnavailableError(`transmitter ${issuer} publishes no jwks_uri: its SETs cannot be verified`);
    }
    entry.keys = createRemoteJWKSet(new URL(uri), {
      cooldownDuration: this.#cooldownMs,
      timeoutDuration: this.#timeoutMs,
      cacheMaxAge: 10 * 60_000,
    });
    return entry.keys;
  }

  #entry(tenantId: string, issuer: string): Entry {
    const entry = this.#entries.get(tenantId)?.get(issuer);
    if (entry === undefined) throw new TypeError(`tenant ${tenantId} has no transmitter ${issuer}`);
    return entry;
  }

  async #fetchMetadata(issuer: string): Promise<TransmitterMetadata> {
    const url = ssfConfigurationUrl(issuer);
    let body: Record<string, unknown>;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(this.#timeoutMs), redirect: 'error' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      body = (await response.json()) as Record<string, unknown>;
    } catch (cause) {
      throw new TransmitterUnavailableError(`SSF configuration at ${url} could not be read`, { cause });
    }
    if (body['issuer'] !== issuer) {
      throw new TransmitterUnavailableError(
        `SSF configuration at ${url} names issuer ${String(body['issuer'])}, not ${issuer}: refusing it`,
      );
    }
    const text = (name: string): string | undefined => (typeof body[name] === 'string' ? body[name] : undefined);
    const list = (name: string): string[] => {
      const v = body[name];
      return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
    };
    return {
      issuer,
      specVersion: text('spec_version') ?? '1_0-ID1',
      jwksUri: text('jwks_uri'),
      deliveryMethodsSupported: list('delivery_methods_supported'),
      configurationEndpoint: text('configuration_endpoint'),
      statusEndpoint: text('status_endpoint'),
      addSubjectEndpoint: text('add_subject_endpoint'),
      removeSubjectEndpoint: text('remove_subject_endpoint'),
      verificationEndpoint: text('verification_endpoint'),
      criticalSubjectMembers: list('critical_subject_members'),
    };
  }
}

/** SSF §7.2: `/.well-known/ssf-configuration` goes between the host and the issuer's path. */
export function ssfConfigurationUrl(issuer: string): string {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
  return `${url.origin}/.well-known/ssf-configuration${path}`;
}
