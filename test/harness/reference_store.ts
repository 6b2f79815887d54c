import { StateIngestor } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { connectNats } from '../../src/stream/index.js';
import { capturingLogger } from './log_capture.js';

/**
 * The store of a replica that never faulted: a new, empty store filled from
 * sequence 1 of the stream up to `last`. Its `digest(tenant)` is what every
 * replica of that stream must reach.
 */
export async function referenceStore(natsUrl: string, path: string, last: number): Promise<EntitlementStore> {
  const store = EntitlementStore.open(path);
  const { logger } = capturingLogger('info');
  const ingestor = new StateIngestor({
    store,
    logger,
    staleAfterMs: 30_000,
    connect: async () => await connectNats({ servers: [natsUrl], name: 'reference' }, logger),
  });
  ingestor.start();
  try {
    if (!(await ingestor.waitForSequence(last, 60_000))) throw new Error(`reference replica did not reach ${last}`);
  } finally {
    await ingestor.stop();
  }
  return store;
}
