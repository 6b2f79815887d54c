/** SSF push delivery (RFC 8935): every receiver scenario, and what only push has (HTTP, bearer tokens). */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RISC } from '../harness/fake_transmitter.js';
import {
  describeRefusals,
  describeSignalEffects,
  describeSubjectFormats,
  email,
  gw,
  other,
  OTHER_PUSH_TOKEN,
  person,
  producer,
  push,
  PUSH_TOKEN,
  request,
  t,
  tx,
  useSignalWorld,
} from './signal_scenarios.js';
import type { Person, PushResult } from './signal_scenarios.js';

useSignalWorld('push');
describeSignalEffects();
describeRefusals();
describeSubjectFormats();

describe('push only', () => {
  async function refused(result: Promise<PushResult>, err: string, description: RegExp, p: Person): Promise<void> {
    const before = await producer.lastSequence();
    const r = await result;
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ err });
    expect(r.body?.description).toMatch(description);
    expect(await producer.lastSequence()).toBe(before);
    expect((await t.tcp.check(request({ user_id: p.id }, before))).decision).toBe('DECISION_ALLOW');
  }

  it('the wrong content type, a missing or wrong bearer token, another tenant’s endpoint', async () => {
    const ny = await person('ny');
    const set = await tx.set(`${RISC}account-disabled`, email(ny), {});
    await refused(push(set, { type: 'application/json' }), 'invalid_request', /secevent\+jwt/, ny);
    await refused(push(set, { token: undefined }), 'authentication_failed', /bearer/i, ny);
    await refused(push(set, { token: 'guess' }), 'authentication_failed', /bearer/i, ny);
    await refused(push(set, { tenant: 'nosuchtenant' }), 'authentication_failed', /bearer/i, ny);
    // globex's own valid SET and token, but sent to umbrella's endpoint.
    const theirs = await other.set(`${RISC}account-disabled`, email(ny), {});
    await refused(push(theirs, { token: OTHER_PUSH_TOKEN }), 'authentication_failed', /bearer/i, ny);
    // globex's endpoint knows no such user: tenants never see each other's users.
    await refused(push(theirs, { token: OTHER_PUSH_TOKEN, tenant: 'globex' }), 'invalid_request', /no user/, ny);
  });

  it('the same SET pushed again (a retry after a lost 202) is refused as already applied', async () => {
    const oz = await person('oz');
    const set = await tx.set(`${RISC}account-enabled`, email(oz), {}, { jti: randomUUID() });
    expect((await push(set)).status).toBe(202);
    await refused(push(set), 'invalid_request', /already received and applied/, oz);
  });

  it('a SET larger than the limit gets 413', async () => {
    const r = await push(`${'a'.repeat(70_000)}.b.c`);
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ err: 'invalid_request' });
  });

  it('counts SETs by tenant, delivery and result on the metrics port', async () => {
    const text = await (await fetch(`http://127.0.0.1:${String(gw.gateway.healthPort)}/metrics`)).text();
    expect(text).toMatch(/ipsie_sets_total\{tenant="umbrella",delivery="push",result="accepted"\} [1-9]\d*/);
    expect(text).toMatch(/ipsie_sets_total\{tenant="umbrella",delivery="push",result="invalid_audience"\} [1-9]/);
    expect(text).toMatch(
      /ipsie_gateway_requests_total\{api="ssf",tenant="umbrella",method="POST",status="400"\} [1-9]/,
    );
  });

  it('requests naming a tenant the gateway does not serve create no metrics series', async () => {
    const metrics = async (): Promise<string> =>
      await (await fetch(`http://127.0.0.1:${String(gw.gateway.healthPort)}/metrics`)).text();
    const unknownCount = (text: string, api: string): number =>
      Number(new RegExp(`ipsie_gateway_requests_unknown_tenant_total\\{api="${api}"\\} (\\d+)`).exec(text)?.[1] ?? NaN);
    const before = await metrics();
    const names = Array.from({ length: 5 }, () => `t${randomUUID().replaceAll('-', '').slice(0, 12)}`);
    for (const name of names) {
      await push(await tx.set(`${RISC}account-enabled`, email(await person('qa')), {}), { tenant: name });
      await fetch(`${gw.origin}/scim/v2/${name}/Users`, { method: 'PROPFIND' });
      await fetch(`${gw.origin}/admin/v1/${name}/policies`);
    }
    const after = await metrics();
    for (const name of names) expect(after).not.toContain(name);
    expect(after).not.toContain('PROPFIND');
    expect(unknownCount(after, 'ssf') - unknownCount(before, 'ssf')).toBe(names.length);
    expect(unknownCount(after, 'scim') - unknownCount(before, 'scim')).toBe(names.length);
    expect(unknownCount(after, 'admin') - unknownCount(before, 'admin')).toBe(names.length);
    expect(after.split('\n').length).toBe(before.split('\n').length);
  });

  it('202 has no body and says the sequence to Check at; refusals are JSON', async () => {
    const pa = await person('pa');
    const post = async (authorization: string): Promise<Response> =>
      await fetch(`${gw.origin}/ssf/v1/umbrella/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/secevent+jwt', authorization },
        body: await tx.set(`${RISC}account-disabled`, email(pa), {}),
      });
    const refusal = await post('Bearer nope');
    expect(refusal.status).toBe(400);
    expect(refusal.headers.get('content-type')).toMatch(/^application\/json/);
    const ok = await post(`Bearer ${PUSH_TOKEN}`);
    expect(ok.status).toBe(202);
    expect(await ok.text()).toBe('');
    expect(ok.headers.get('content-type')).toBeNull();
    expect(Number(ok.headers.get('x-ipsie-sequence'))).toBe(await producer.lastSequence());
  });
});
