import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server as PlainServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createSecureContext } from 'node:tls';
import Koa from 'koa';
import type { Logger } from '../logging/index.js';

export interface GatewayAppOptions {
  readonly logger: Logger;
  /** Concept routers mounted on the app, in order (SCIM now; SSF and policy upload later). */
  readonly routes: readonly Koa.Middleware[];
  /**
   * Readiness; with components, `/readyz` lists each one's state; with tenants, `/readyz/<tenant>` is that
   * tenant's (ready only when the process is too). A promise when it is asked of other processes.
   */
  readonly ready: () => Readiness | Promise<Readiness>;
}

/** Whether the process can serve, with or without its components' and tenants' states. */
export type Readiness =
  | boolean
  | {
      readonly ready: boolean;
      readonly components: Readonly<Record<string, unknown>>;
      readonly tenants?: Readonly<Record<string, { readonly ready: boolean; readonly detail: string }>>;
    };

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
      const state = await options.ready();
      const ready = typeof state === 'boolean' ? state : state.ready;
      ctx.status = ready ? 200 : 503;
      ctx.body = {
        status: ready ? 'ready' : 'not ready',
        ...(typeof state === 'boolean' ? {} : { components: state.components }),
        ...(typeof state === 'boolean' || state.tenants === undefined ? {} : { tenants: state.tenants }),
      };
      return;
    }
    const tenantPath = /^\/readyz\/([^/]+)$/.exec(ctx.path);
    if (tenantPath?.[1] !== undefined) {
      const state = await options.ready();
      const tenants = typeof state === 'boolean' ? undefined : state.tenants;
      const tenant =
        tenants === undefined || !Object.hasOwn(tenants, tenantPath[1]) ? undefined : tenants[tenantPath[1]];
      if (typeof state === 'boolean' || tenant === undefined) {
        ctx.status = 404;
        ctx.body = { error: 'not_found', detail: `no tenant ${tenantPath[1]} here` };
        return;
      }
      const ready = state.ready && tenant.ready;
      ctx.status = ready ? 200 : 503;
      ctx.body = { status: ready ? 'ready' : 'not ready', tenant: tenant, components: state.components };
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

/** Certificate files of an HTTPS listener, re-read every `reloadMs` (a renewed certificate needs no restart). */
export interface HttpTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly reloadMs: number;
}

export interface ListenOptions {
  /** Serve HTTPS with these files; undefined: plain HTTP. */
  readonly tls?: HttpTlsFiles | undefined;
  /** Where a refused certificate reload is reported. */
  readonly logger?: Logger;
}

/** A listening HTTP or HTTPS server. */
export type HttpServer = PlainServer | HttpsServer;

export interface Listening {
  readonly server: HttpServer;
  readonly port: number;
  readonly scheme: 'http' | 'https';
}

/**
 * Listens on `host:port` (port 0 picks a free one), over HTTPS when given
 * certificate files; resolves with the server and its port.
 *
 * @throws when a certificate file cannot be read or the pair is not a usable key and certificate
 */
export async function listen(app: Koa, address: string, options: ListenOptions = {}): Promise<Listening> {
  const separator = address.lastIndexOf(':');
  const host = address.slice(0, separator);
  const port = Number(address.slice(separator + 1));
  const handle = app.callback();
  const onRequest = (request: Parameters<typeof handle>[0], response: Parameters<typeof handle>[1]): void => {
    void handle(request, response);
  };
  const tls = options.tls;
  const pair = tls === undefined ? undefined : readPair(tls);
  const secure = pair === undefined ? undefined : createTlsServer(pair, onRequest);
  const server: HttpServer = secure ?? createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  if (secure !== undefined && tls !== undefined && pair !== undefined) {
    reloadCertificates(secure, tls, pair, options.logger);
  }
  return { server, port: (server.address() as AddressInfo).port, scheme: tls === undefined ? 'http' : 'https' };
}

interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** Reads and checks the pair: a key that does not match its certificate is refused here, not at a handshake. */
function readPair(tls: HttpTlsFiles): KeyPair {
  const pair = { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) };
  createSecureContext(pair);
  return pair;
}

/**
 * Swaps in a changed pair for new connections; a pair that does not load
 * (half-written, mismatched) leaves the current one serving and is logged.
 */
function reloadCertificates(server: HttpsServer, tls: HttpTlsFiles, served: KeyPair, logger?: Logger): void {
  let current = served;
  let refused: string | undefined;
  const timer = setInterval(() => {
    let next: KeyPair;
    try {
      next = readPair(tls);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (reason !== refused) logger?.warn({ certFile: tls.certFile, reason }, 'TLS certificate not reloaded');
      refused = reason;
      return;
    }
    refused = undefined;
    if (next.cert.equals(current.cert) && next.key.equals(current.key)) return;
    server.setSecureContext(next);
    current = next;
    logger?.info({ certFile: tls.certFile }, 'TLS certificate reloaded');
  }, tls.reloadMs);
  timer.unref();
  server.once('close', () => {
    clearInterval(timer);
  });
}
