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
  describeSubjectFormats,
  email,
  gw,
  person,
  polled,
  producer,
  request,
  startGatewayReplica,
  t,
  tx,
  useSignalWorld,
} from './signal_scenarios.js';

useSignalWorld('poll');
describeSignalEffects();
describeRefusals();
describeSubjectFormats();

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

  it('with two gateway replicas only the lease holder polls; the standby stopping changes nothing', async () => {
    const replica = await startGatewayReplica();
    let stopped = false;
    try {
      const holders = (): boolean[] => [
        gw.gateway.pollers()[0]?.polling ?? false,
        replica.gateway.pollers()[0]?.polling ?? false,
      ];
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(holders().filter(Boolean)).toHaveLength(1);
      const [primaryPolls] = holders();
      expect(primaryPolls).toBe(true);
      const ti = await person('ti');
      expect(await polled(tx.queue(await tx.set(`${RISC}account-disabled`, email(ti), {})))).toMatchObject({
        accepted: true,
      });
      // Stopping the standby releases nothing and loses nothing (takeover: test/signals/poll_lease.test.ts).
      await replica.stop();
      stopped = true;
      expect(await polled(tx.queue(await tx.set(`${RISC}account-enabled`, email(ti), {})))).toMatchObject({
        accepted: true,
      });
    } finally {
      if (!stopped) await replica.stop();
    }
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
