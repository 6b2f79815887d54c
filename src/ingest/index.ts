export { StateIngestor } from './state_ingestor.js';
export type { IngestStatus, StateIngestorOptions } from './state_ingestor.js';
export { applyChange } from './change_applier.js';
