/**
 * An app of a multi-tenant SaaS guarding its routes with the sidecar,
 * through @ipsie/sidecar-client only (as an app outside this repository
 * would): a Koa router whose routes each name the action and resource they
 * need, app sessions that point at sidecar sessions, and a session
 * terminator that ends app sessions the IdP revokes.
 */
import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import type { Context, Middleware } from 'koa';
import { isSidecarClientError, sessionTerminator, SidecarClient } from '@ipsie/sidecar-client';
import type {
  ErrorReason,
  SessionEvent,
  SessionTerminator,
  SidecarClientOptions,
  StartedSession,
} from '@ipsie/sidecar-client';
import { koaAuthorization } from '@ipsie/sidecar-client/koa';

/** The app's cookie: an opaque handle on an app session, never the sidecar's id. */
export const SESSION_COOKIE = 'app_session';

interface AppSession {
  /** The session the sidecar started at sign-in, named in every Check. */
  readonly sidecarSessionId: string;
  readonly userId: string;
  /** The stream sequence that holds the session: Checks wait for it, on whichever sidecar answers. */
  readonly sequence: number;
}

export interface ExampleAppOptions {
  /** Where the sidecar is and how to authenticate to it. */
  readonly sidecar: SidecarClientOptions;
  /** The tenant this deployment serves (a real app derives it from the host or the user). */
  readonly tenant: string;
}

export interface ExampleApp {
  readonly app: Koa;
  /** Resolves once the app watches the tenant's session events. */
  readonly watching: Promise<void>;
  /**
   * Creates an app session for a sidecar session and returns its cookie
   * value: what `POST /sign-in` does after StartSession, for sessions the
   * sidecar learnt of otherwise (the demo's come from the stream).
   */
  adoptSession(sidecarSessionId: string, userId: string, sequence?: number): string;
  /** Ended app sessions, newest last (what the terminator did). */
  readonly ended: readonly SessionEvent[];
  close(): Promise<void>;
}

export function createExampleApp(options: ExampleAppOptions): ExampleApp {
  const { tenant } = options;
  const client = new SidecarClient(options.sidecar);
  const sessions = new Map<string, AppSession>();
  const ended: SessionEvent[] = [];

  const adoptSession = (sidecarSessionId: string, userId: string, sequence = 0): string => {
    const cookie = randomBytes(18).toString('base64url');
    sessions.set(cookie, { sidecarSessionId, userId, sequence });
    return cookie;
  };

  /** Guards a route: the subject is the app session's sidecar session; the route names the rest. */
  const requires = (action: string, resourceType: string): Middleware =>
    koaAuthorization({
      client,
      check: (ctx: Context) => {
        const session = sessions.get(ctx.cookies.get(SESSION_COOKIE) ?? '');
        if (session === undefined) return undefined;
        const params = (ctx as Context & { params?: Record<string, string> }).params ?? {};
        return {
          tenant,
          subject: { sessionId: session.sidecarSessionId },
          action,
          resource: { type: resourceType, id: params['id'] ?? '' },
          context: { ip: ctx.ip, userAgent: ctx.get('user-agent') },
          minSequence: session.sequence,
        };
      },
    });

  const router = new Router();
  router.post('/sign-in', async (ctx) => {
    // The last step of the app's OIDC flow: the ID token from the token endpoint, and the nonce it sent.
    const { id_token: idToken, nonce } = (await readJson(ctx)) as { id_token?: unknown; nonce?: unknown };
    if (typeof idToken !== 'string' || typeof nonce !== 'string') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'id_token and nonce are required' };
      return;
    }
    let started: StartedSession;
    try {
      started = await client.startSession({ tenant, idToken, nonce, context: { ip: ctx.ip } });
    } catch (error) {
      if (!isSidecarClientError(error)) throw error;
      // TOKEN_NONCE_MISMATCH, USER_NOT_PROVISIONED, ...: no session; "try again" only when it is not the token's fault.
      ctx.status = UNAVAILABLE.has(error.reason) ? 503 : 401;
      ctx.body = { error: 'sign_in_refused', reason: error.reason };
      return;
    }
    ctx.cookies.set(SESSION_COOKIE, adoptSession(started.sessionId, started.userId, started.sequence), {
      httpOnly: true,
      sameSite: 'lax',
    });
    ctx.body = { user_id: started.userId, expires_at: started.expiresAt.toISOString() };
  });
  router.get('/repositories/:id', requires('read', 'repository'), (ctx) => {
    ctx.body = { repository: ctx.params['id'] };
  });
  router.delete('/repositories/:id', requires('delete', 'repository'), (ctx) => {
    ctx.body = { deleted: ctx.params['id'] };
  });
  router.post('/deployments/:id/approve', requires('approve', 'deployment'), (ctx) => {
    ctx.body = { approved: ctx.params['id'] };
  });
  router.post('/invoices/:id/pay', requires('pay', 'invoice'), (ctx) => {
    ctx.body = { paid: ctx.params['id'] };
  });

  const app = new Koa();
  app.use(router.routes()).use(router.allowedMethods());

  const terminator: SessionTerminator = sessionTerminator(client, {
    tenant,
    endSessions: (event) => {
      for (const [cookie, session] of sessions) {
        const named =
          event.kind === 'SESSION_REVOKED'
            ? session.sidecarSessionId === event.sessionId
            : session.userId === event.userId;
        if (named) sessions.delete(cookie);
      }
      ended.push(event);
    },
  });

  return {
    app,
    watching: terminator.connected,
    adoptSession,
    ended,
    close: async () => {
      await terminator.close();
      client.close();
    },
  };
}

const UNAVAILABLE: ReadonlySet<ErrorReason> = new Set<ErrorReason>([
  'SIDECAR_UNREACHABLE',
  'DEADLINE_EXCEEDED',
  'SIGNIN_UNAVAILABLE',
  'IDP_UNAVAILABLE',
]);

const MAX_BODY_BYTES = 64 * 1024;

async function readJson(ctx: Context): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) ctx.throw(413);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return ctx.throw(400, 'not JSON');
  }
}
