import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ALL_STATE_SUBJECTS, STATE_STREAM } from '../changes/index.js';
import { StreamConfigConflictError } from './errors.js';

export interface StateStreamOptions {
  /** JetStream replicas (3 in a cluster). @defaultValue 1 */
  readonly replicas?: number;
  /** Window in which a repeated `Nats-Msg-Id` is dropped, in ms. @defaultValue 120000 */
  readonly duplicateWindowMs?: number;
  /** @defaultValue 'file' */
  readonly storage?: 'file' | 'memory';
}

/**
 * The configuration of `IPSIE_STATE`: the compacted current state, one
 * message per entity subject, deletes as tombstones.
 */
export function stateStreamConfig(options: StateStreamOptions = {}): Partial<StreamConfig> & { name: string } {
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
  };
}

/**
 * Creates the stream, or brings an existing one to this configuration.
 * Safe to call from every replica at every start.
 *
 * @throws {StreamConfigConflictError} `ERR_STREAM_CONFIG_CONFLICT` (storage differs: not updatable)
 */
export async function ensureStateStream(jsm: JetStreamManager, options: StateStreamOptions = {}): Promise<StreamInfo> {
  const wanted = stateStreamConfig(options);
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(STATE_STREAM);
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
    try {
      return await jsm.streams.add(wanted);
    } catch (addError) {
      // Another replica created it first.
      if (!isStreamNotFound(addError) && !String(addError).includes('already in use')) throw addError;
      info = await jsm.streams.info(STATE_STREAM);
    }
  }
  const current = info.config;
  if (current.storage !== wanted.storage) {
    throw new StreamConfigConflictError(
      `stream ${STATE_STREAM} uses ${current.storage} storage; this deployment asks for ${String(wanted.storage)}`,
    );
  }
  const differs =
    current.max_msgs_per_subject !== wanted.max_msgs_per_subject ||
    current.duplicate_window !== wanted.duplicate_window ||
    current.num_replicas !== wanted.num_replicas ||
    current.allow_direct !== wanted.allow_direct ||
    !current.subjects.includes(ALL_STATE_SUBJECTS);
  if (!differs) return info;
  return await jsm.streams.update(STATE_STREAM, {
    ...current,
    subjects: [...new Set([...current.subjects, ALL_STATE_SUBJECTS])],
    max_msgs_per_subject: wanted.max_msgs_per_subject ?? 1,
    duplicate_window: wanted.duplicate_window ?? current.duplicate_window,
    num_replicas: wanted.num_replicas ?? current.num_replicas,
    allow_direct: true,
  });
}

function isStreamNotFound(error: unknown): boolean {
  return error instanceof Error && (error.name === 'StreamNotFoundError' || /stream not found/i.test(error.message));
}
