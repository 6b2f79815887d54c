export { StateIngestor, REBUILD_REASONS } from './state_ingestor.js';
export type { IngestStatus, RebuildReason, StateIngestorOptions } from './state_ingestor.js';
export { IngestStoppedError, StreamUnreachableError } from './errors.js';
export { applyChange } from './change_applier.js';
