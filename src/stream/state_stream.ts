import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ALL_STATE_SUBJECTS, STATE_STREAM } from '../changes/index.js';
import { ensureStream } from './ensure_stream.js';
import type { WantedStream } from './ensure_stream.js';

export interface StateStreamOptions {
  /** JetStream replicas (3 in a cluster). @defaultValue 1 */
  readonly replicas?: number;
  /** Window in which a repeated `Nats-Msg-Id` is dropped, in ms. @defaultValue 120000 */
  readonly duplicateWindowMs?: number;
  /** @defaultValue 'file' */
  readonly storage?: 'file' | 'memory';
}

/**
 * How long a delete marker stays on `IPSIE_STATE` after a change's TTL ran
 * out, in ms: a consumer further behind than this misses it and keeps the
 * expired record (which no longer matters to any decision).
 */
export const DELETE_MARKER_RETENTION_MS = 7 * 86_400_000;

/**
 * The configuration of `IPSIE_STATE`: the compacted current state, one
 * message per entity subject, deletes as tombstones. Changes that expire
 * (`retentionOf`) carry a per-message TTL; when it runs out JetStream puts
 * a delete marker on their subject, which consumers apply as the deletion.
 */
export function stateStreamConfig(options: StateStreamOptions = {}): WantedStream {
  return {
    name: STATE_STREAM,
    subjects: [ALL_STATE_SUBJECTS],
    retention: RetentionPolicy.Limits,
    max_msgs_per_subject: 1,
    discard: DiscardPolicy.Old,
    storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
    num_replicas: options.replicas ?? 1,
    duplicate_window: nanos(options.duplicateWindowMs ?? 120_000),
    // Gateways read an entity's latest message directly (read-your-writes).
    allow_direct: true,
    allow_msg_ttl: true,
    subject_delete_marker_ttl: nanos(DELETE_MARKER_RETENTION_MS),
  };
}

/**
 * Creates the stream, or brings an existing one to this configuration.
 * Safe to call from every replica at every start.
 *
 * @throws {StreamConfigConflictError} `ERR_STREAM_CONFIG_CONFLICT` (storage differs: not updatable)
 */
export async function ensureStateStream(jsm: JetStreamManager, options: StateStreamOptions = {}): Promise<StreamInfo> {
  return await ensureStream(jsm, stateStreamConfig(options), [
    'max_msgs_per_subject',
    'duplicate_window',
    'num_replicas',
    'allow_direct',
    'allow_msg_ttl',
    'subject_delete_marker_ttl',
  ]);
}
