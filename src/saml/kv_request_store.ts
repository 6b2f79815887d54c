import { createHash } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import { MAX_SAML_REQUEST_TTL_S } from '../config/index.js';
import type { NatsConnection } from '../stream/index.js';
import type { SamlRequestStore } from './request_store.js';

export const SAML_REQUESTS_BUCKET = 'ipsie_saml_requests';

/**
 * Issued AuthnRequest ids in a JetStream KV bucket every sidecar replica reads: a Response answering a request
 * one replica issued is accepted on another. Entries age out with the bucket's TTL; `take` deletes with the
 * entry's revision as the expected last sequence, so only one replica closes a request.
 */
export class KvSamlRequestStore implements SamlRequestStore {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** The bucket's TTL is the longest `request_ttl_s` a tenant may set; each entry expires at its own. */
  static async create(nc: NatsConnection, options: { replicas?: number } = {}): Promise<KvSamlRequestStore> {
    const kv = await new Kvm(nc).create(SAML_REQUESTS_BUCKET, {
      replicas: options.replicas ?? 1,
      history: 1,
      ttl: MAX_SAML_REQUEST_TTL_S * 1000,
      description: 'SAML AuthnRequest ids issued and still answerable',
    });
    return new KvSamlRequestStore(kv);
  }

  async save(key: string, issuedAt: string, ttlS: number): Promise<void> {
    const until = Date.now() + ttlS * 1000;
    await this.#kv.put(kvKey(key), JSON.stringify({ issuedAt, until }));
  }

  async get(key: string): Promise<string | undefined> {
    const entry = await this.#kv.get(kvKey(key));
    if (entry?.operation !== 'PUT') return undefined;
    const { issuedAt, until } = JSON.parse(entry.string()) as { issuedAt: string; until: number };
    return until > Date.now() ? issuedAt : undefined;
  }

  async take(key: string): Promise<boolean> {
    const entry = await this.#kv.get(kvKey(key));
    if (entry?.operation !== 'PUT') return false;
    const { until } = JSON.parse(entry.string()) as { until: number };
    if (until <= Date.now()) return false;
    try {
      await this.#kv.delete(kvKey(key), { previousSeq: entry.revision });
      return true;
    } catch {
      // Another replica closed it first (wrong last sequence).
      return false;
    }
  }
}

function kvKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}
