/**
 * The subject cache against the truth, by random walk: random changes of
 * every kind are applied through the ingest applier to a store that caches
 * its subject reads, interleaved with rolled-back batches, expiries and
 * rebuilds, and writes by another connection; after each step every way of
 * naming every subject reads the same from it as from an uncached connection
 * to the same file.
 */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeChange, encodeChange } from '../../src/changes/index.js';
import type { Change } from '../../src/changes/index.js';
import { applyChange } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import type { SubjectRef } from '../../src/store/index.js';
import { change } from '../harness/changes.js';
import {
  ChangeWalk,
  DEVICES,
  ISSUERS,
  pickTenant,
  SESSIONS,
  SIDS,
  SUBJECTS,
  TENANTS,
  USERS,
} from '../harness/random_changes.js';
import { makeTempDir } from '../harness/temp_dir.js';

/** Every way a Check names a subject of a tenant, with and without a device (an empty one too). */
const READS: readonly (readonly [SubjectRef, string | undefined])[] = (() => {
  const refs: SubjectRef[] = [
    ...USERS.map((userId): SubjectRef => ({ kind: 'user', userId })),
    ...SESSIONS.map((sessionId): SubjectRef => ({ kind: 'session', sessionId })),
  ];
  for (const issuer of ISSUERS) {
    for (const subject of SUBJECTS) {
      refs.push({ kind: 'identity', issuer, subject });
      for (const sessionId of [...SIDS, 's1']) refs.push({ kind: 'identity', issuer, subject, sessionId });
    }
  }
  return refs.flatMap((ref) => [undefined, '', ...DEVICES].map((device) => [ref, device] as const));
})();

let dir: ReturnType<typeof makeTempDir>;
/** Writes and caches its reads. */
let store: EntitlementStore;
/** The same file, read without a cache. */
let truth: EntitlementStore;

beforeEach(() => {
  dir = makeTempDir();
  const path = join(dir.path, 'store.db');
  store = EntitlementStore.open(path, { subjectCacheSize: 200 });
  truth = EntitlementStore.open(path, { subjectCacheSize: 0 });
});

afterEach(() => {
  truth.close();
  store.close();
  dir.remove();
});

/** Every read of every tenant, as the reader answers it (an unknown tenant answers its error code). */
function answers(reader: EntitlementStore): unknown[] {
  return TENANTS.flatMap((tenant) =>
    READS.map(([ref, device]) => {
      try {
        return reader.readSubject(tenant, ref, device);
      } catch (error) {
        return (error as { code?: unknown }).code;
      }
    }),
  );
}

class RolledBack extends Error {}

describe('subject read cache, random changes', () => {
  it.each([1, 2, 3, 4, 5, 6])(
    'seed %i: after every change, rolled-back batch, expiry and rebuild, each cached read answers as an uncached one',
    (seed) => {
      const walk = new ChangeWalk(seed);
      const { next } = walk;
      const pick = <T>(from: readonly T[]): T => walk.pick(from);
      let sequence = 0;
      /** A random change, through the codec as ingest receives it: only changes the decoder accepts. */
      const randomChange = (): Change => decodeChange(encodeChange(walk.change()));
      /** Applies `changes` as ingest does: in one transaction with the sequence they reach. */
      const applyBatch = (changes: readonly Change[], from: number, writer = store): void => {
        changes.forEach((c, i) => applyChange(writer, c, from + i));
        writer.setAppliedSequence(from + changes.length - 1);
      };
      const rolledBack = (fn: () => void): void => {
        expect(() => {
          store.transaction(() => {
            fn();
            throw new RolledBack();
          });
        }).toThrow(RolledBack);
      };
      store.transaction(() => {
        applyBatch(
          TENANTS.map((tenant) => change(tenant, 'tenant.upsert', { display_name: tenant })),
          sequence + 1,
        );
      });
      sequence += TENANTS.length;
      for (let step = 0; step < 300; step++) {
        const roll = next();
        if (roll < 0.01) {
          store.resetTo({ stream: 'IPSIE_STATE', created: `${seed}-${step}` });
          sequence = 0;
        } else if (roll < 0.05) {
          // A sid revocation's delete marker.
          store.forgetRevokedSid(pickTenant(next), pick([undefined, ...ISSUERS]), pick(SIDS));
        } else if (roll < 0.1) {
          // A batch that fails as a whole.
          rolledBack(() => {
            applyBatch([randomChange(), randomChange()], sequence + 1);
          });
        } else if (roll < 0.15) {
          // A batch whose inner part fails and is undone while the rest commits.
          store.transaction(() => {
            applyBatch([randomChange()], sequence + 1);
            rolledBack(() => {
              applyBatch([randomChange()], sequence + 2);
            });
          });
          sequence += 1;
        } else if (roll < 0.2) {
          // Another connection writes the file: the cached store sees it by PRAGMA data_version.
          const batch = [randomChange()];
          truth.transaction(() => {
            applyBatch(batch, sequence + 1, truth);
          });
          sequence += 1;
        } else {
          const batch = Array.from({ length: 1 + Math.floor(next() * 3) }, randomChange);
          store.transaction(() => {
            applyBatch(batch, sequence + 1);
          });
          sequence += batch.length;
        }
        const expected = answers(truth);
        expect(answers(store), `seed ${seed}, step ${step}`).toEqual(expected);
        expect(store.appliedSequence(), `seed ${seed}, step ${step}`).toBe(truth.appliedSequence());
      }
      // The walk reached the reads it compares: not every answer is "unknown".
      expect(store.subjectCacheStats().hits).toBeGreaterThan(1000);
    },
  );
});
