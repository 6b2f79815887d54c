import type { JetStreamClient, JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ensureStream, publishDurably, SequenceConflictError } from '../stream/index.js';
import {
  AUDIT_STREAM,
  AUDIT_SUBJECT_PREFIX,
  auditSubject,
  decisionSubjects,
  tenantAuditSubjects,
} from './audit_record.js';
import type { AuditRecord } from './audit_record.js';
import { AuditRecordExistsError } from './errors.js';

export interface AuditStreamOptions {
  /** @defaultValue 1 */
  readonly replicas?: number;
  /** Records older than this are dropped, in s. @defaultValue 90 days */
  readonly maxAgeS?: number;
}

/** Creates `IPSIE_AUDIT` (append-only, kept for `maxAgeS`) or brings it to these settings. */
export async function ensureAuditStream(jsm: JetStreamManager, options: AuditStreamOptions = {}): Promise<StreamInfo> {
  return await ensureStream(
    jsm,
    {
      name: AUDIT_STREAM,
      subjects: [`${AUDIT_SUBJECT_PREFIX}.>`],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      storage: StorageType.File,
      num_replicas: options.replicas ?? 1,
      max_age: nanos((options.maxAgeS ?? 90 * 86_400) * 1000),
      duplicate_window: nanos(120_000),
      // Records of unauthenticated traffic (refused authentications) live shorter than the trail.
      allow_msg_ttl: true,
    },
    ['num_replicas', 'max_age', 'allow_msg_ttl'],
  );
}

/** Appends audit records to `IPSIE_AUDIT`; each is stored before `append` resolves. */
export class AuditLog {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;

  constructor(nc: NatsConnection, js: JetStreamClient, jsm: JetStreamManager) {
    this.#nc = nc;
    this.#js = js;
    this.#jsm = jsm;
  }

  /**
   * Watches records appended from now on to `subject` (wildcards allowed);
   * `next` resolves with the first that `match`es, or undefined after
   * `timeoutMs`. The watch is active when this resolves.
   */
  async watch(
    subject: string,
    match: (record: AuditRecord) => boolean,
    timeoutMs: number,
  ): Promise<{ readonly next: Promise<AuditRecord | undefined> }> {
    // Stored messages are also published on their subject: a core subscription sees each as it is stored.
    const subscription = this.#nc.subscribe(subject);
    await this.#nc.flush();
    // Ending the subscription ends the iteration below: nothing matched in time.
    const timer = setTimeout(() => {
      subscription.unsubscribe();
    }, timeoutMs);
    const next = (async (): Promise<AuditRecord | undefined> => {
      try {
        for await (const message of subscription) {
          let record: AuditRecord;
          try {
            record = message.json<AuditRecord>();
          } catch {
            continue;
          }
          if (match(record)) return record;
        }
        return undefined;
      } finally {
        clearTimeout(timer);
        subscription.unsubscribe();
      }
    })();
    return { next };
  }

  /**
   * @param options.subject a subject of its own instead of the kind's, which
   *   `claim` makes exclusive: the append fails if anything is there already
   * @param options.ttlS a life shorter than the stream's `max_age`, in s
   * @throws {AuditRecordExistsError} `ERR_AUDIT_RECORD_EXISTS` when the claimed subject is taken
   */
  async append(
    record: AuditRecord,
    options: { subject?: string; claim?: boolean; ttlS?: number | undefined } = {},
  ): Promise<number> {
    const subject = options.subject ?? auditSubject(record);
    try {
      const ack = await publishDurably(this.#js, subject, new TextEncoder().encode(JSON.stringify(record)), {
        msgId: record.id,
        expectedLastSubjectSequence: options.claim === true ? 0 : undefined,
        ttlS: options.ttlS,
      });
      return ack.sequence;
    } catch (error) {
      if (error instanceof SequenceConflictError) {
        throw new AuditRecordExistsError(`${subject} already holds a record`, { cause: error });
      }
      throw error;
    }
  }

  /** The last record on `subject` (a claimed one: the only one), if any. */
  async last(subject: string): Promise<AuditRecord | undefined> {
    const message = await this.#jsm.streams.getMessage(AUDIT_STREAM, { last_by_subj: subject });
    return message === null ? undefined : message.json<AuditRecord>();
  }

  /**
   * A tenant's records after stream sequence `after`, oldest first, at most
   * `limit`: the SIEM pull. `cursor` is the sequence to resume after.
   */
  async read(
    tenant: string,
    after: number,
    limit: number,
  ): Promise<{ records: { seq: number; record: AuditRecord }[]; cursor: number }> {
    const consumer = await this.#js.consumers.get(AUDIT_STREAM, {
      filter_subjects: [tenantAuditSubjects(tenant)],
      opt_start_seq: after + 1,
    });
    const records: { seq: number; record: AuditRecord }[] = [];
    let cursor = after;
    const pending = (await consumer.info(true)).num_pending;
    if (pending === 0) return { records, cursor };
    const messages = await consumer.fetch({ max_messages: Math.min(limit, pending), expires: 2_000 });
    for await (const message of messages) {
      cursor = message.seq;
      try {
        records.push({ seq: message.seq, record: message.json<AuditRecord>() });
      } catch {
        // Not a record we wrote: skipped, and the cursor moves past it.
      }
      if (records.length >= limit) break;
    }
    return { records, cursor };
  }

  /**
   * A tenant's sampled decisions recorded since `since` (Unix ms), oldest first, at most `limit`: the
   * production traffic a candidate policy version is dry-run against.
   */
  async decisionsSince(tenant: string, since: number, limit: number): Promise<AuditRecord[]> {
    const consumer = await this.#js.consumers.get(AUDIT_STREAM, {
      filter_subjects: [decisionSubjects(tenant)],
      opt_start_time: new Date(since).toISOString(),
    });
    const pending = (await consumer.info(true)).num_pending;
    const records: AuditRecord[] = [];
    if (pending === 0) return records;
    const messages = await consumer.fetch({ max_messages: Math.min(limit, pending), expires: 2_000 });
    for await (const message of messages) {
      try {
        const record = message.json<AuditRecord>();
        if (record.kind === 'decision' && record.tenant === tenant) records.push(record);
      } catch {
        // Not a record we wrote: skipped.
      }
      if (records.length >= limit) break;
    }
    return records;
  }

  /** Removes a record whose effects could not be stored, so that a retry can claim its subject again. */
  async retract(sequence: number): Promise<void> {
    await this.#jsm.streams.deleteMessage(AUDIT_STREAM, sequence, false);
  }
}
