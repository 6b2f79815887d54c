import { describe, expect, it } from 'vitest';
import type { Change } from '../../src/changes/index.js';
import { SessionPurger } from '../../src/roles/session_purger.js';
import { EntitlementStore } from '../../src/store/index.js';
import type { ChangeSink, PublishedChange } from '../../src/stream/index.js';
import { capturingLogger } from '../harness/log_capture.js';

/** What the purger published, in order. */
class PublishedChanges implements ChangeSink {
  readonly changes: Change[] = [];

  publish(change: Change): Promise<PublishedChange> {
    this.changes.push(change);
    return Promise.resolve({ subject: '', sequence: this.changes.length, duplicate: false });
  }
}

describe('SessionPurger', () => {
  it("publishes each tenant's purge with a cutoff a grace period back, and never a lower cutoff than the last", async () => {
    const store = EntitlementStore.open(':memory:');
    const sink = new PublishedChanges();
    let now = 10_000;
    const purger = new SessionPurger({
      tenants: ['acme', 'globex'],
      changes: sink,
      directory: store,
      intervalMs: 0,
      graceS: 600,
      logger: capturingLogger().logger,
      clock: () => now,
    });
    const cutoffs = (): [string, unknown][] =>
      sink.changes.map((c) => [c.tenant, c.kind === 'sessions.purge' ? c.data.expired_before : c.kind]);

    await purger.purge();
    expect(cutoffs()).toEqual([
      ['acme', 9_400],
      ['globex', 9_400],
    ]);
    // The clock went back: nothing lower is published.
    now = 9_000;
    await purger.purge();
    expect(sink.changes).toHaveLength(2);
    // Another gateway purged acme further already (seen in the replica).
    store.purgeSessions('acme', 20_000);
    now = 11_000;
    await purger.purge();
    expect(cutoffs().slice(2)).toEqual([['globex', 10_400]]);
    store.close();
  });
});
