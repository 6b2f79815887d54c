/**
 * The Express, Koa and Fastify middleware in front of a real sidecar
 * process: each app guards two routes with a Check and counts how often
 * its handlers ran, so "never continue" is visible.
 */
import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import type { Request as ExpressRequest } from 'express';
import Fastify from 'fastify';
import type { FastifyRequest } from 'fastify';
import Koa from 'koa';
import type { Context } from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACME } from '../../demo/example_directory.js';
import { expressAuthorization } from '../../sdk/src/express.js';
import { authorizationOf, fastifyAuthorization } from '../../sdk/src/fastify.js';
import { SidecarClient } from '../../sdk/src/index.js';
import type { CheckInput, CheckResult } from '../../sdk/src/index.js';
import { koaAuthorization } from '../../sdk/src/koa.js';
import { EXAMPLE_CALLER_TOKEN, startExampleSidecar } from '../harness/example_sidecar.js';
import type { ExampleSidecar } from '../harness/example_sidecar.js';

const bob = ACME.people['bob']!;
const carol = ACME.people['carol']!;

/** What every app asks: the user from `x-user-id`, the verb from the method, the resource from the path. */
function checkFor(method: string, path: string, userId: string | undefined): CheckInput | undefined {
  if (userId === undefined || userId === '') return undefined;
  const [, type = '', id = ''] = path.split('/');
  return {
    tenant: 'acme',
    subject: { userId },
    action: method === 'POST' ? 'pay' : 'read',
    resource: { type, id },
  };
}

interface GuardedApp {
  readonly origin: string;
  /** Handler runs: a request the middleware refused must not add one. */
  readonly handled: { count: number; lastDecisionId: string | undefined };
  close(): Promise<void>;
}

type AppFactory = (client: SidecarClient) => Promise<GuardedApp>;

async function serve(handler: RequestListener): Promise<{ server: Server; origin: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const expressApp: AppFactory = async (client) => {
  const handled = { count: 0, lastDecisionId: undefined as string | undefined };
  const app = express();
  const guard = expressAuthorization({
    client,
    check: (req: ExpressRequest) => checkFor(req.method, req.path, req.get('x-user-id')),
  });
  app.all('/{*rest}', guard, (_req, res) => {
    handled.count++;
    handled.lastDecisionId = (res.locals['authorization'] as CheckResult).decisionId;
    res.json({ ok: true });
  });
  const { server, origin } = await serve(app);
  return {
    origin,
    handled,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
    },
  };
};

const koaApp: AppFactory = async (client) => {
  const handled = { count: 0, lastDecisionId: undefined as string | undefined };
  const app = new Koa();
  app.use(
    koaAuthorization({
      client,
      check: (ctx: Context) => checkFor(ctx.method, ctx.path, ctx.get('x-user-id')),
    }),
  );
  app.use((ctx) => {
    handled.count++;
    handled.lastDecisionId = (ctx.state['authorization'] as CheckResult).decisionId;
    ctx.body = { ok: true };
  });
  const callback = app.callback();
  const { server, origin } = await serve((req, res) => {
    void callback(req, res);
  });
  return {
    origin,
    handled,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
    },
  };
};

const fastifyApp: AppFactory = async (client) => {
  const handled = { count: 0, lastDecisionId: undefined as string | undefined };
  const app = Fastify();
  const preHandler = fastifyAuthorization({
    client,
    check: (request: FastifyRequest) => {
      const user = request.headers['x-user-id'];
      return checkFor(request.method, request.url, typeof user === 'string' ? user : undefined);
    },
  });
  app.all('/*', { preHandler }, async (request) => {
    handled.count++;
    handled.lastDecisionId = authorizationOf(request)?.decisionId;
    return await Promise.resolve({ ok: true });
  });
  const origin = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    origin,
    handled,
    close: async () => {
      await app.close();
    },
  };
};

let example: ExampleSidecar;
let client: SidecarClient;
let unreachable: SidecarClient;

beforeAll(async () => {
  example = await startExampleSidecar();
  client = new SidecarClient({ socketPath: example.socketPath, callerToken: EXAMPLE_CALLER_TOKEN });
  unreachable = new SidecarClient({
    socketPath: join(example.socketPath, '..', 'missing.sock'),
    retry: { maxAttempts: 2 },
  });
});

afterAll(async () => {
  client.close();
  unreachable.close();
  await example.stop();
});

async function send(
  app: GuardedApp,
  method: 'GET' | 'POST',
  path: string,
  userId?: string,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const response = await fetch(`${app.origin}${path}`, {
    method,
    headers: userId === undefined ? {} : { 'x-user-id': userId },
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}

describe.each([
  ['Express', expressApp],
  ['Koa', koaApp],
  ['Fastify', fastifyApp],
])('%s middleware', (_name, makeApp) => {
  let app: GuardedApp;
  let downApp: GuardedApp;

  beforeAll(async () => {
    app = await makeApp(client);
    downApp = await makeApp(unreachable);
  });

  afterAll(async () => {
    await app.close();
    await downApp.close();
  });

  it('lets an ALLOWed request through to the handler, with the decision', async () => {
    const before = app.handled.count;
    const answer = await send(app, 'GET', '/repository/r1', bob.id);
    expect(answer).toMatchObject({ status: 200, body: { ok: true } });
    expect(app.handled.count).toBe(before + 1);
    expect(app.handled.lastDecisionId).toMatch(/.+/);
  });

  it('answers a DENY with 403 and the reason, without running the handler', async () => {
    const before = app.handled.count;
    const answer = await send(app, 'POST', '/invoice/inv-1', bob.id);
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ error: 'access_denied', reason: 'POLICY_DENIED' });
    expect(answer.body['decision_id']).toMatch(/.+/);
    expect(app.handled.count).toBe(before);
  });

  it('answers a STEP_UP with 401, the RFC 9470 challenge and the authorization-request parameters', async () => {
    const before = app.handled.count;
    const answer = await send(app, 'POST', '/invoice/inv-1', carol.id);
    expect(answer.status).toBe(401);
    const challenge = answer.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Bearer /);
    expect(challenge).toContain('error="insufficient_user_authentication"');
    expect(challenge).toContain('acr_values="phr"');
    expect(challenge).toContain('max_age="900"');
    expect(answer.body).toMatchObject({
      error: 'insufficient_user_authentication',
      acr_values: ['phr'],
      max_age: 900,
      authorization_params: { max_age: '900' },
      reasons: [{ code: 'AUTHENTICATION_REQUIRED' }],
    });
    expect(app.handled.count).toBe(before);
  });

  it('answers a request without a subject with 401 and no Check', async () => {
    const before = app.handled.count;
    const answer = await send(app, 'GET', '/repository/r1');
    expect(answer).toMatchObject({ status: 401, body: { error: 'unauthenticated' } });
    expect(app.handled.count).toBe(before);
  });

  it('fails closed with 503 when the sidecar cannot be reached, never passing the request on', async () => {
    const answer = await send(downApp, 'GET', '/repository/r1', bob.id);
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('1');
    expect(answer.body).toMatchObject({ error: 'authorization_unavailable', reason: 'SIDECAR_UNREACHABLE' });
    expect(downApp.handled.count).toBe(0);
  });
});

describe('a downstream service guarded by the transaction token it is called with (Koa)', () => {
  it('runs the handler for the token’s own action and resource, and answers 403 TXN_TOKEN_SCOPE_EXCEEDED for others', async () => {
    const upstream = await client.check({
      tenant: 'acme',
      subject: { userId: bob.id },
      action: 'read',
      resource: { type: 'repository', id: 'r1' },
      txnToken: { purpose: 'render' },
    });
    const txnToken = upstream.txnToken ?? '';
    let handled = 0;
    const app = new Koa();
    app.use(
      koaAuthorization({
        client,
        // The draft's `Txn-Token` header carries the token between services.
        check: (ctx: Context) => {
          const token = ctx.get('txn-token');
          if (token === '') return undefined;
          const [, type = '', id = ''] = ctx.path.split('/');
          return { tenant: 'acme', subject: { txnToken: token }, action: 'read', resource: { type, id } };
        },
      }),
    );
    app.use((ctx) => {
      handled++;
      ctx.body = { ok: true };
    });
    const callback = app.callback();
    const { server, origin } = await serve((req, res) => {
      void callback(req, res);
    });
    try {
      const get = async (path: string): Promise<Response> =>
        await fetch(`${origin}${path}`, { headers: { 'txn-token': txnToken } });
      expect((await get('/repository/r1')).status).toBe(200);
      const outside = await get('/repository/r2');
      expect(outside.status).toBe(403);
      expect(await outside.json()).toMatchObject({ error: 'access_denied', reason: 'TXN_TOKEN_SCOPE_EXCEEDED' });
      expect(handled).toBe(1);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
