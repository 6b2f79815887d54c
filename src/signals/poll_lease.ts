import { createHash, randomUUID } from 'node:crypto';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '../stream/index.js';

export const POLL_LEASES_BUCKET = 'ipsie_ssf_poll_leases';

/** Who may poll a transmitter: one gateway replica at a time. */
export interface PollLease {
  /** Takes or renews the lease; false while another replica holds it. */
  hold(): Promise<boolean>;
  /** Gives it up (at shutdown), so another replica takes over at once. */
  release(): Promise<void>;
}

/**
 * Poll leases in a KV bucket whose entries expire: a replica takes a free
 * lease with `create`, renews it with a compare-and-set `update` before each
 * poll, and loses it when it stops renewing (crash) for `ttlMs`.
 */
export class KvPollLeases {
  readonly #kv: KV;
  readonly #owner = randomUUID();

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** @param ttlMs longer than the longest poll, since a lease is renewed between polls */
  static async create(nc: NatsConnection, options: { replicas?: number; ttlMs?: number } = {}): Promise<KvPollLeases> {
    const kv = await new Kvm(nc).create(POLL_LEASES_BUCKET, {
      replicas: options.replicas ?? 1,
      history: 1,
      ttl: options.ttlMs ?? 90_000,
      description: 'which gateway replica polls each SSF transmitter',
    });
    return new KvPollLeases(kv);
  }

  lease(tenantId: string, issuer: string): PollLease {
    const key = `${tenantId}.${createHash('sha256').update(issuer).digest('base64url')}`;
    const kv = this.#kv;
    const owner = this.#owner;
    let revision: number | undefined;
    return {
      async hold(): Promise<boolean> {
        try {
          revision = revision === undefined ? await kv.create(key, owner) : await kv.update(key, owner, revision);
          return true;
        } catch {
          revision = undefined;
          return false;
        }
      },
      async release(): Promise<void> {
        if (revision === undefined) return;
        const held = revision;
        revision = undefined;
        // Only our own lease: deleting after another replica took it would hand it to a third.
        await kv.delete(key, { previousSeq: held }).catch(() => undefined);
      },
    };
  }
}
