import { SidecarError } from '../errors.js';

/** The state stream cannot be asked now: no NATS connection yet, no answer, or no such stream. */
export class StreamUnreachableError extends SidecarError {
  readonly code = 'ERR_INGEST_STREAM_UNREACHABLE';
}

/** The ingestor was stopped before the rebuild it was asked for finished. */
export class IngestStoppedError extends SidecarError {
  readonly code = 'ERR_INGEST_STOPPED';
}
