import type { SamlIdentityProviderSettings } from '../config/index.js';
import { SamlMetadataUnavailableError } from './errors.js';
import { parseIdpMetadata } from './idp_metadata.js';
import type { IdpMetadata } from './idp_metadata.js';

/** The largest metadata document read from an IdP, in bytes. */
export const MAX_METADATA_BYTES = 1024 * 1024;
/** After a failed fetch, the next is not tried before this long, in s (the last good metadata serves). */
const RETRY_AFTER_FAILURE_S = 30;

export interface MetadataChange {
  readonly entityId: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

export interface IdpMetadataSourceOptions {
  readonly fetchTimeoutMs: number;
  /** Unix s. */
  readonly clock: () => number;
  /** Told when a refetch changed the signing certificates (key rollover). */
  readonly onChange?: ((change: MetadataChange) => void) | undefined;
}

/**
 * One IdP's metadata: inline, or fetched from its URL at first use and again once its `cacheDuration`
 * (else the IdP's `metadata_refresh_s`) has passed or its `validUntil` is reached - so a new signing key the
 * IdP publishes is used without a restart, and a removed one stops verifying. A failed refetch keeps the last
 * good metadata until its validUntil.
 */
export class IdpMetadataSource {
  readonly #idp: SamlIdentityProviderSettings;
  readonly #options: IdpMetadataSourceOptions;
  #current: { metadata: IdpMetadata; refreshAt: number } | undefined;
  #fetching: Promise<IdpMetadata> | undefined;
  #retryAt = 0;

  constructor(idp: SamlIdentityProviderSettings, options: IdpMetadataSourceOptions) {
    this.#idp = idp;
    this.#options = options;
  }

  /** @throws {SamlMetadataUnavailableError} */
  async current(): Promise<IdpMetadata> {
    const now = this.#options.clock();
    const current = this.#current;
    if (current !== undefined && now < current.refreshAt) return current.metadata;
    if (current !== undefined && now < this.#retryAt && (current.metadata.validUntil ?? Infinity) > now) {
      return current.metadata;
    }
    this.#fetching ??= this.#load().finally(() => {
      this.#fetching = undefined;
    });
    try {
      return await this.#fetching;
    } catch (error) {
      if (current !== undefined && (current.metadata.validUntil ?? Infinity) > now) return current.metadata;
      throw error;
    }
  }

  async #load(): Promise<IdpMetadata> {
    const { clock } = this.#options;
    const idp = this.#idp;
    try {
      const xml = idp.metadataXml ?? (await this.#fetch(idp.metadataUrl ?? ''));
      const now = clock();
      const metadata = await parseIdpMetadata(xml, idp.issuer, idp.metadataSigningCert, now);
      const before = this.#current?.metadata.signingCerts ?? [];
      const refreshAt =
        idp.metadataXml !== undefined
          ? (metadata.validUntil ?? Infinity)
          : Math.min(now + (metadata.cacheDurationS ?? idp.metadataRefreshS), metadata.validUntil ?? Infinity);
      this.#current = { metadata, refreshAt };
      const added = metadata.signingCerts.filter((c) => !before.includes(c));
      const removed = before.filter((c) => !metadata.signingCerts.includes(c));
      if (before.length > 0 && (added.length > 0 || removed.length > 0)) {
        this.#options.onChange?.({ entityId: idp.issuer, added, removed });
      }
      return metadata;
    } catch (error) {
      this.#retryAt = clock() + RETRY_AFTER_FAILURE_S;
      throw error;
    }
  }

  async #fetch(url: string): Promise<string> {
    try {
      const response = await fetch(url, {
        signal: AbortSignal.timeout(this.#options.fetchTimeoutMs),
        redirect: 'error',
        headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' },
      });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > MAX_METADATA_BYTES) throw new Error(`the document is over ${MAX_METADATA_BYTES} bytes`);
        chunks.push(chunk);
      }
      return Buffer.concat(chunks).toString('utf8');
    } catch (cause) {
      throw new SamlMetadataUnavailableError(`the metadata at ${url} could not be read`, { cause });
    }
  }
}
