import type { IngestStatus } from '../ingest/index.js';
import type { ComponentHealth } from '../observability/index.js';

/**
 * The `/readyz` component of a store fed by the state stream (a sidecar's
 * store, the gateway's replica): ready only while decisions made on it would
 * not be STALE_DATA.
 */
export function streamHealth(status: IngestStatus): ComponentHealth {
  if (status.streamMissing) return { ok: false, detail: 'the state stream does not exist' };
  if (status.rebuilding !== undefined) {
    return {
      ok: false,
      detail: `rebuilding the store from the state stream (${status.rebuilding}; ${status.pending} pending)`,
    };
  }
  if (!status.caughtUp) return { ok: false, detail: `catching up (${status.pending} pending)` };
  if (status.stale) return { ok: false, detail: 'cut off longer than the staleness bound' };
  return { ok: true, detail: `caught up at ${status.appliedSequence}` };
}
