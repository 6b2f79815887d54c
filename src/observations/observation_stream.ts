import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ensureStream } from '../stream/index.js';
import { OBSERVATIONS_STREAM, OBSERVATIONS_SUBJECT_PREFIX } from './session_observation.js';

/**
 * `IPSIE_OBSERVATIONS`: a work queue (each observation is taken by one
 * gateway replica), kept a day at most, with a one-hour duplicate window so
 * every sidecar seeing the same change yields one message.
 */
export async function ensureObservationStream(
  jsm: JetStreamManager,
  options: { replicas?: number } = {},
): Promise<StreamInfo> {
  return await ensureStream(
    jsm,
    {
      name: OBSERVATIONS_STREAM,
      subjects: [`${OBSERVATIONS_SUBJECT_PREFIX}.>`],
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.Old,
      storage: StorageType.File,
      num_replicas: options.replicas ?? 1,
      max_age: nanos(86_400_000),
      duplicate_window: nanos(3_600_000),
    },
    ['num_replicas'],
  );
}
