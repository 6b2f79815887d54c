/**
 * SSF poll delivery (RFC 8936): the gateway's poller fetches SETs from the
 * transmitter, acknowledges what it stored (`ack`) and reports what it
 * refused (`setErrs`). Every receiver scenario, and what only poll has.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CAEP, RISC } from '../harness/fake_transmitter.js';
import {
  bySession,
  codes,
  describeRefusals,
  describeSignalEffects,
  email,
  person,
  polled,
  producer,
  request,
  t,
  tx,
  useSignalWorld,
} from './signal_scenarios.js';

useSignalWorld('poll');
describeSignalEffects();
describeRefusals();

describe('poll only', () => {
  it('drains a backlog larger than maxEvents (moreAvailable), in order', async () => {
    const qu = await person('qu');
    const jtis: string[] = [];
    // Disable, enable, ... disable: only the order makes the last one win.
    for (let i = 0; i < 9; i++) {
      const type = i % 2 === 0 ? `${RISC}account-disabled` : `${RISC}account-enabled`;
      jtis.push(tx.queue(await tx.set(type, email(qu), {})));
    }
    for (const jti of jtis) expect(await polled(jti)).toMatchObject({ accepted: true });
    const r = await t.tcp.check(request({ user_id: qu.id }, await producer.lastSequence()));
    expect(codes(r)).toEqual(['ACCOUNT_DISABLED']);
  });

  it('backs off while the poll endpoint fails, and loses nothing', async () => {
    const ra = await person('ra');
    const before = tx.pollRequests;
    tx.failPolls = 3;
    const jti = tx.queue(await tx.set(`${RISC}account-disabled`, email(ra), {}));
    const result = await polled(jti, 20_000);
    expect(result).toMatchObject({ accepted: true });
    // The three failures, then the poll that carried its ack (the SET may have come with a poll already open).
    expect(tx.failPolls).toBe(0);
    expect(tx.pollRequests - before).toBeGreaterThanOrEqual(4);
    expect(codes(await bySession(ra, result.accepted ? result.sequence : 0))).toContain('ACCOUNT_DISABLED');
  });

  it('a SET delivered again after it was stored is acknowledged, not refused', async () => {
    const si = await person('si');
    const set = await tx.set(`${CAEP}session-revoked`, email(si), {}, { jti: randomUUID() });
    const jti = tx.queue(set);
    expect(await polled(jti)).toMatchObject({ accepted: true });
    const seq = await producer.lastSequence();
    // The transmitter did not see the ack (say) and offers it again.
    tx.queue(set);
    expect(await polled(jti)).toMatchObject({ accepted: true });
    expect(tx.setErrs[jti]).toBeUndefined();
    expect(await producer.lastSequence()).toBe(seq);
  });
});
