import { KvRegister } from '../stream/index.js';
import type { NatsConnection } from '../stream/index.js';

export const OFFERED_STREAMS_BUCKET = 'ipsie_ssf_offered_streams';

/** SSF §8.1.2: what a stream's status may be. */
export type OfferedStreamStatus = 'enabled' | 'paused' | 'disabled';

/**
 * The stream a tenant's SSF receiver created with us (SSF §8.1.1), as
 * stored: the members the receiver supplied, the status, and the subjects
 * it removed (every subject is in the stream unless removed: `default_subjects`
 * `ALL`). At most one per tenant.
 */
export interface OfferedStream {
  readonly stream_id: string;
  readonly delivery: {
    readonly method: string;
    readonly endpoint_url: string;
    /** Sent with every SET; never read back to the receiver. */
    readonly authorization_header?: string;
  };
  readonly events_requested: readonly string[];
  readonly description?: string;
  readonly status: OfferedStreamStatus;
  readonly reason?: string;
  readonly removed_subjects: readonly Readonly<Record<string, unknown>>[];
  /** When a verification event was last asked for, Unix ms (`min_verification_interval`). */
  readonly verification_requested_at?: number;
}

/** A stored stream and the revision it was read at (the next write must find it unchanged). */
export interface StoredStream {
  readonly stream: OfferedStream;
  readonly revision: number;
}

/**
 * The streams offered to tenants' receivers, in a KV bucket every gateway
 * replica reads, so any replica answers stream management and delivers
 * accordingly. Writes are compare-and-set on the revision read: two
 * replicas updating one stream at once never lose either update.
 */
export class OfferedStreams {
  readonly #register: KvRegister;

  private constructor(register: KvRegister) {
    this.#register = register;
  }

  static async open(nc: NatsConnection, options: { replicas?: number } = {}): Promise<OfferedStreams> {
    return new OfferedStreams(
      await KvRegister.open(nc, {
        bucket: OFFERED_STREAMS_BUCKET,
        description: "SSF streams tenants' receivers created with this transmitter",
        replicas: options.replicas ?? 1,
      }),
    );
  }

  async get(tenantId: string): Promise<StoredStream | undefined> {
    const entry = await this.#register.read(tenantId);
    return entry === undefined
      ? undefined
      : { stream: JSON.parse(entry.value) as OfferedStream, revision: entry.revision };
  }

  /** Stores a new stream; false when the tenant has one already. */
  async create(tenantId: string, stream: OfferedStream): Promise<boolean> {
    return (await this.#register.create(tenantId, JSON.stringify(stream))) !== undefined;
  }

  /** Stores `stream` if the tenant's stream is still at `revision`; false if it changed since. */
  async replace(tenantId: string, stream: OfferedStream, revision: number): Promise<boolean> {
    return (await this.#register.replace(tenantId, JSON.stringify(stream), revision)) !== undefined;
  }

  /** Deletes the stream if it is still at `revision`; false if it changed since. */
  async delete(tenantId: string, revision: number): Promise<boolean> {
    return await this.#register.remove(tenantId, revision);
  }
}
