import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { Logger } from '../logging/index.js';

export interface GatewayAppOptions {
  readonly logger: Logger;
  /** Concept routers mounted on the app, in order (SCIM now; SSF and policy upload later). */
  readonly routes: readonly Koa.Middleware[];
  /** Whether the gateway can serve: its replica caught up and the stream reachable. */
  /** Readiness; with components, `/readyz` lists each one's state. */
  readonly ready: () => boolean | { readonly ready: boolean; readonly components: Readonly<Record<string, unknown>> };
}

/**
 * The IdP-facing HTTP edge (koa). Concept routers bring their own error
 * formats; what none of them matches is a plain JSON 404.
 */
export function createGatewayApp(options: GatewayAppOptions): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true;
  app.on('error', (error: unknown) => {
    options.logger.error({ err: error }, 'gateway request failed');
  });
  app.use(async (ctx, next) => {
    if (ctx.path === '/healthz') {
      ctx.body = { status: 'ok' };
      return;
    }
    if (ctx.path === '/readyz') {
      const state = options.ready();
      const ready = typeof state === 'boolean' ? state : state.ready;
      ctx.status = ready ? 200 : 503;
      ctx.body = {
        status: ready ? 'ready' : 'not ready',
        ...(typeof state === 'boolean' ? {} : { components: state.components }),
      };
      return;
    }
    await next();
  });
  for (const routes of options.routes) app.use(routes);
  app.use((ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', detail: `no endpoint ${ctx.method} ${ctx.path}` };
  });
  return app;
}

/** Listens on `host:port` (port 0 picks a free one); resolves with the server and its port. */
export async function listen(app: Koa, address: string): Promise<{ server: Server; port: number }> {
  const separator = address.lastIndexOf(':');
  const host = address.slice(0, separator);
  const port = Number(address.slice(separator + 1));
  const handle = app.callback();
  const server = createServer((request, response) => {
    void handle(request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, port: (server.address() as AddressInfo).port };
}
