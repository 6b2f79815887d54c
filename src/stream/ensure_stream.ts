import type { JetStreamManager, StreamConfig, StreamInfo } from '@nats-io/jetstream';
import { StreamConfigConflictError } from './errors.js';

export type WantedStream = Partial<StreamConfig> & { readonly name: string; readonly subjects: string[] };

/**
 * Creates a stream, or brings an existing one to the settings in `wanted`
 * that `compare` names (plus its subjects). Safe to call from every replica
 * at every start.
 *
 * @throws {StreamConfigConflictError} `ERR_STREAM_CONFIG_CONFLICT` (storage differs: not updatable)
 */
export async function ensureStream(
  jsm: JetStreamManager,
  wanted: WantedStream,
  compare: readonly (keyof StreamConfig)[],
): Promise<StreamInfo> {
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(wanted.name);
  } catch (error) {
    if (!isStreamNotFound(error)) throw error;
    try {
      return await jsm.streams.add(wanted);
    } catch (addError) {
      // Another replica created it first.
      if (!isStreamNotFound(addError) && !String(addError).includes('already in use')) throw addError;
      info = await jsm.streams.info(wanted.name);
    }
  }
  const current = info.config;
  if (wanted.storage !== undefined && current.storage !== wanted.storage) {
    throw new StreamConfigConflictError(
      `stream ${wanted.name} uses ${current.storage} storage; this deployment asks for ${wanted.storage}`,
    );
  }
  const differs =
    compare.some((key) => wanted[key] !== undefined && current[key] !== wanted[key]) ||
    wanted.subjects.some((s) => !current.subjects.includes(s));
  if (!differs) return info;
  const update: Partial<StreamConfig> = {};
  for (const key of compare) {
    if (wanted[key] !== undefined) Object.assign(update, { [key]: wanted[key] });
  }
  return await jsm.streams.update(wanted.name, {
    ...current,
    ...update,
    subjects: [...new Set([...current.subjects, ...wanted.subjects])],
  });
}

/** Whether a JetStream API call failed because the stream does not exist. */
export function isStreamNotFound(error: unknown): boolean {
  return error instanceof Error && (error.name === 'StreamNotFoundError' || /stream not found/i.test(error.message));
}
