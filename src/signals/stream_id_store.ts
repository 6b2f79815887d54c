import { createHash } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '../stream/index.js';
import type { StreamIdStore } from './transmitter_directory.js';

export const SSF_STREAMS_BUCKET = 'ipsie_ssf_streams';

/** Stream ids learnt from stream management, in a KV bucket every gateway replica reads. */
export class KvStreamIdStore implements StreamIdStore {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  static async create(nc: NatsConnection, options: { replicas?: number } = {}): Promise<KvStreamIdStore> {
    const kv = await new Kvm(nc).create(SSF_STREAMS_BUCKET, {
      replicas: options.replicas ?? 1,
      history: 1,
      description: 'SSF stream id per tenant and transmitter',
    });
    return new KvStreamIdStore(kv);
  }

  async get(tenantId: string, issuer: string): Promise<string | undefined> {
    const entry = await this.#kv.get(key(tenantId, issuer));
    return entry?.operation === 'PUT' ? entry.string() : undefined;
  }

  async put(tenantId: string, issuer: string, streamId: string): Promise<void> {
    await this.#kv.put(key(tenantId, issuer), streamId);
  }

  async delete(tenantId: string, issuer: string): Promise<void> {
    await this.#kv.delete(key(tenantId, issuer));
  }
}

function key(tenantId: string, issuer: string): string {
  return `${tenantId}.${createHash('sha256').update(issuer).digest('base64url')}`;
}
