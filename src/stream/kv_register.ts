import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import { isStreamNotFound } from './ensure_stream.js';
import type { NatsConnection } from './nats_connection.js';

/** One key's current value and the revision a compare-and-set names. */
export interface RegisterEntry {
  readonly value: string;
  readonly revision: number;
  /** When this revision was stored, by the server's clock, Unix ms. */
  readonly storedAt: number;
}

export interface KvRegisterOptions {
  readonly bucket: string;
  readonly description: string;
  /** JetStream replicas (3 in a cluster). @defaultValue 1 */
  readonly replicas?: number;
  /** Values kept per key (the latest and those before it). @defaultValue 1 */
  readonly history?: number;
}

/**
 * Create-only and compare-and-set keys in a JetStream KV bucket shared by
 * every gateway replica. A lost race is an answer (`undefined`/`false`);
 * anything else (NATS unreachable, timeout) is thrown, since the caller
 * cannot know whether the write was stored.
 */
export class KvRegister {
  readonly #kv: KV;

  private constructor(kv: KV) {
    this.#kv = kv;
  }

  /** Creates the bucket, or opens it when another replica did. */
  static async open(nc: NatsConnection, options: KvRegisterOptions): Promise<KvRegister> {
    const kv = await new Kvm(nc).create(options.bucket, {
      replicas: options.replicas ?? 1,
      history: options.history ?? 1,
      description: options.description,
      // Reads from the stream leader: a follower's stale answer would only cost retries, but why pay them.
      allow_direct: false,
    });
    return new KvRegister(kv);
  }

  /**
   * Opens the bucket another process created (with its replicas), or creates it with `options` when none
   * did: a process that does not own the bucket's settings never fights its owner over them.
   */
  static async openOrCreate(nc: NatsConnection, options: KvRegisterOptions): Promise<KvRegister> {
    const kv = await new Kvm(nc).open(options.bucket);
    try {
      // `open` binds without asking the server: the status says whether the bucket exists.
      await kv.status();
      return new KvRegister(kv);
    } catch (error) {
      if (!isStreamNotFound(error)) throw error;
      return await KvRegister.open(nc, options);
    }
  }

  /** Stores `value` if the key holds nothing; the new revision, or `undefined` if it holds a value. */
  async create(key: string, value: string): Promise<number | undefined> {
    return await lostRaceAsUndefined(this.#kv.create(key, value));
  }

  async read(key: string): Promise<RegisterEntry | undefined> {
    const entry = await this.#kv.get(key);
    if (entry?.operation !== 'PUT') return undefined;
    return { value: entry.string(), revision: entry.revision, storedAt: entry.created.getTime() };
  }

  /** Stores `value` if the key is still at `revision`; the new revision, or `undefined` if it moved. */
  async replace(key: string, value: string, revision: number): Promise<number | undefined> {
    return await lostRaceAsUndefined(this.#kv.update(key, value, revision));
  }

  /** Deletes the key if it is still at `revision`; false if it moved. */
  async remove(key: string, revision: number): Promise<boolean> {
    return (await lostRaceAsUndefined(this.#kv.delete(key, { previousSeq: revision }).then(() => true))) ?? false;
  }

  /**
   * Follows every key: `onEntry` gets each key's current value first, then every change as it is stored (a
   * deleted key: undefined). `closed` resolves when the watch ends (`stop`, or the connection closed).
   */
  async watch(
    onEntry: (key: string, entry: RegisterEntry | undefined) => void,
  ): Promise<{ stop(): void; readonly closed: Promise<void> }> {
    const watch = await this.#kv.watch({ key: '>' });
    const closed = (async (): Promise<void> => {
      for await (const entry of watch) {
        onEntry(
          entry.key,
          entry.operation === 'PUT'
            ? { value: entry.string(), revision: entry.revision, storedAt: entry.created.getTime() }
            : undefined,
        );
      }
    })().catch(() => undefined);
    return {
      stop: () => {
        watch.stop();
      },
      closed,
    };
  }

  /** Every key holding a value. */
  async keys(): Promise<Set<string>> {
    const keys = new Set<string>();
    for await (const key of await this.#kv.keys()) keys.add(key);
    return keys;
  }
}

async function lostRaceAsUndefined<T>(write: Promise<T>): Promise<T | undefined> {
  try {
    return await write;
  } catch (error) {
    if (
      error instanceof JetStreamApiError &&
      (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
        error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
    ) {
      return undefined;
    }
    throw error;
  }
}
