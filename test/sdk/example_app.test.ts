/** examples/koa_app, the app a developer would write with the SDK, in front of a real sidecar process. */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME } from '../../demo/example_directory.js';
import { createExampleApp, SESSION_COOKIE } from '../../examples/koa_app/app.js';
import type { ExampleApp } from '../../examples/koa_app/app.js';
import { change, session } from '../harness/changes.js';
import { EXAMPLE_CALLER_TOKEN, startExampleSidecar } from '../harness/example_sidecar.js';
import type { ExampleSidecar } from '../harness/example_sidecar.js';

const alice = ACME.people['alice']!;
const carol = ACME.people['carol']!;

let sidecar: ExampleSidecar;
/** The stream sequences of the sessions: the app's Checks wait for them (read-after-write). */
let aliceSequence: number;
let carolSequence: number;
let example: ExampleApp;
let server: Server;
let origin: string;

const aliceSession = session('acme', 'sess-alice-phr', alice.id); // phishing-resistant MFA a minute ago
const carolSession = session('acme', 'sess-carol-pwd', carol.id, { acr: 'pwd', amr: ['pwd'] });

beforeAll(async () => {
  sidecar = await startExampleSidecar();
  aliceSequence = (await sidecar.producer.publish(aliceSession)).sequence;
  carolSequence = (await sidecar.producer.publish(carolSession)).sequence;
  example = createExampleApp({
    sidecar: { socketPath: sidecar.socketPath, callerToken: EXAMPLE_CALLER_TOKEN },
    tenant: 'acme',
  });
  await example.watching;
  server = example.app.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await example.close();
  await sidecar.stop();
});

async function send(
  method: string,
  path: string,
  cookie?: string,
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(`${origin}${path}`, {
    method,
    headers: cookie === undefined ? {} : { cookie: `${SESSION_COOKIE}=${cookie}` },
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

describe('the example app (examples/koa_app)', () => {
  it('serves a route its session is allowed, and refuses one it is not with 403', async () => {
    const cookie = example.adoptSession(aliceSession.data.id, alice.id, aliceSequence);
    expect(await send('POST', '/deployments/d-1/approve', cookie)).toMatchObject({
      status: 200,
      body: { approved: 'd-1' },
    });
    expect(await send('POST', '/invoices/i-1/pay', cookie)).toMatchObject({
      status: 403,
      body: { error: 'access_denied', reason: 'POLICY_DENIED' },
    });
  });

  it('asks a password session for phishing-resistant MFA before paying (401 with the RFC 9470 challenge)', async () => {
    const cookie = example.adoptSession(carolSession.data.id, carol.id, carolSequence);
    const answer = await send('POST', '/invoices/i-1/pay', cookie);
    expect(answer.status).toBe(401);
    expect(answer.headers.get('www-authenticate')).toContain('error="insufficient_user_authentication"');
    expect(answer.body).toMatchObject({ error: 'insufficient_user_authentication', acr_values: ['phr'] });
  });

  it('answers 401 without an app session', async () => {
    expect(await send('GET', '/repositories/r-1')).toMatchObject({ status: 401, body: { error: 'unauthenticated' } });
  });

  it('ends the app session the IdP revoked, through WatchSessions', async () => {
    const cookie = example.adoptSession(aliceSession.data.id, alice.id, aliceSequence);
    expect((await send('GET', '/repositories/r-1', cookie)).status).toBe(200);
    await sidecar.producer.publish(
      change('acme', 'session.revoke', {
        ...aliceSession.data,
        revoked_at: Math.floor(Date.now() / 1000),
        revoke_reason: 'CAEP session-revoked',
      }),
    );
    const deadline = Date.now() + 10_000;
    while (!example.ended.some((e) => e.sessionId === aliceSession.data.id)) {
      if (Date.now() > deadline) throw new Error('the app session was not ended');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await send('GET', '/repositories/r-1', cookie)).toMatchObject({
      status: 401,
      body: { error: 'unauthenticated' },
    });
  });
});
