/**
 * Live and replayed stores agree, by random walk: one store applies every
 * change of a random stream as it comes; another, at checkpoints, applies only
 * what the stream keeps (the latest message of each subject, in sequence
 * order), as a sidecar that starts late or rebuilds does. Their digests must
 * be equal, session purges included.
 */
import { describe, expect, it } from 'vitest';
import { decodeChange, encodeChange, subjectOf } from '../../src/changes/index.js';
import type { Change } from '../../src/changes/index.js';
import { applyChange } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { change as changeOf } from '../harness/changes.js';
import { ChangeWalk, TENANTS } from '../harness/random_changes.js';

/** Applies `changes` at their sequences in one transaction, as ingest does with a batch. */
function feed(store: EntitlementStore, changes: readonly (readonly [number, Change])[]): void {
  store.transaction(() => {
    for (const [sequence, change] of changes) applyChange(store, change, sequence);
    const last = changes.at(-1);
    if (last !== undefined) store.setAppliedSequence(last[0]);
  });
}

/** What the stream keeps of `stream`: the latest message of each subject, in sequence order. */
function compacted(stream: readonly (readonly [number, Change])[]): (readonly [number, Change])[] {
  const latest = new Map<string, readonly [number, Change]>();
  for (const message of stream) latest.set(subjectOf(message[1]), message);
  return [...latest.values()].sort((x, y) => x[0] - y[0]);
}

describe('live and replayed stores, random changes', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'seed %i: a store that applied every change and one that replayed the compacted stream have one digest',
    (seed) => {
      const walk = new ChangeWalk(seed);
      const live = EntitlementStore.open(':memory:');
      const stream: (readonly [number, Change])[] = [];
      /** Each tenant's highest purge cutoff: the gateway never publishes a lower one. */
      const purged = new Map<string, number>();
      try {
        for (let step = 1; step <= 400; step++) {
          // Purges often: each is what a store that saw earlier ones and one that did not must agree on.
          const change = decodeChange(
            encodeChange(
              walk.next() < 0.1
                ? changeOf(walk.pick(TENANTS), 'sessions.purge', { expired_before: walk.time() })
                : walk.change(),
            ),
          );
          if (change.kind === 'sessions.purge') {
            if (change.data.expired_before <= (purged.get(change.tenant) ?? 0)) continue;
            purged.set(change.tenant, change.data.expired_before);
          }
          const message = [stream.length + 1, change] as const;
          stream.push(message);
          feed(live, [message]);
          if (step % 50 !== 0) continue;
          const replayed = EntitlementStore.open(':memory:');
          try {
            feed(replayed, compacted(stream));
            for (const tenant of TENANTS) {
              expect(replayed.digest(tenant), `seed ${seed}, step ${step}, tenant ${tenant}`).toBe(live.digest(tenant));
            }
          } finally {
            replayed.close();
          }
        }
      } finally {
        live.close();
      }
    },
  );
});
