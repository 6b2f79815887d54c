import type { AuditRecord } from '../audit/index.js';
import type { Change } from '../changes/index.js';
import type { Logger } from '../logging/index.js';
import type { ChangeSink } from '../stream/index.js';

/** Where accepted and refused SETs are recorded. */
export interface SetArchive {
  append(record: AuditRecord, options?: { subject?: string; claim?: boolean }): Promise<number>;
  last(subject: string): Promise<AuditRecord | undefined>;
  retract(sequence: number): Promise<void>;
}

/**
 * Stores an accepted security event token's effects once across gateway
 * replicas: its audit record claims `subject` (one per `(iss, jti)`; the
 * stream refuses a second claim), then its changes are published. When a
 * publish fails the claim is retracted, so that the sender's retry is
 * accepted.
 *
 * @param basis by change id, the entity's stream sequence the change was computed from: stored only if still so
 * @returns the stream sequence of the last change (0 without changes)
 * @throws {AuditRecordExistsError} `subject` is claimed already: the token was received before
 * @throws {ChangePublishError} / {SequenceConflictError} not stored; the claim is free again
 */
export async function publishClaimed(
  archive: SetArchive,
  sink: ChangeSink,
  logger: Logger,
  claim: { readonly subject: string; readonly record: AuditRecord },
  changes: readonly Change[],
  basis: ReadonlyMap<string, number> = new Map(),
): Promise<number> {
  const claimed = await archive.append(claim.record, { subject: claim.subject, claim: true });
  let sequence = 0;
  try {
    for (const change of changes) {
      const expected = basis.get(change.id);
      const options = expected === undefined ? {} : { expectedLastSubjectSequence: expected };
      sequence = (await sink.publish(change, options)).sequence;
    }
  } catch (error) {
    await archive.retract(claimed).catch((retractError: unknown) => {
      logger.error(
        { err: retractError, tenant: claim.record.tenant, subject: claim.subject },
        'could not retract a claim',
      );
    });
    throw error;
  }
  return sequence;
}
