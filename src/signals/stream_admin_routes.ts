import { randomBytes, randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import { acceptedSetSubjects, verificationRequestSubject } from '../audit/index.js';
import type { AuditRecord } from '../audit/index.js';
import { readJsonObject } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { StreamAdminRequestError, TransmitterNotFoundError, VerificationTimeoutError } from './errors.js';
import { pushPath } from './push_router.js';
import { POLL_DELIVERY, PUSH_DELIVERY, StreamClient } from './stream_client.js';
import type { TransmitterDirectory } from './transmitter_directory.js';
import { TokenDigests } from '../bearer_token.js';
import { EVENTS_ACTED_ON } from '../security_event_types.js';

export interface StreamAdminOptions {
  readonly transmitters: TransmitterDirectory;
  readonly archive: {
    append(record: AuditRecord, options?: { subject?: string }): Promise<number>;
    watch(
      subject: string,
      match: (record: AuditRecord) => boolean,
      timeoutMs: number,
    ): Promise<{ readonly next: Promise<AuditRecord | undefined> }>;
  };
  /** Our public base URL, where the transmitter pushes. */
  readonly publicUrl: () => string;
  readonly logger: Logger;
  /** How long `verify` waits for the verification event, in ms. @defaultValue 30000 */
  readonly verificationTimeoutMs?: number;
}

/**
 * `/ssf/…` under a tenant's admin API: SSF stream management (SSF §8) of the
 * tenant's transmitters, on the administrator's behalf. The router expects
 * `ctx.state.tenant` set by the admin authentication in front of it.
 *
 * - `GET|POST|PATCH|DELETE streams` — read, create, update, delete our stream
 * - `GET|POST status` — read or set enabled / paused / disabled
 * - `POST subjects/add`, `POST subjects/remove`
 * - `POST verify` — asks for a verification event and waits until it is received
 *
 * A tenant with several managed transmitters names one with `?issuer=`.
 */
export function createStreamAdminRoutes(options: StreamAdminOptions): Router<{ tenant: string }> {
  const { transmitters, archive, logger } = options;
  const timeoutMs = options.verificationTimeoutMs ?? 30_000;
  const router = new Router<{ tenant: string }>({ prefix: '/ssf' });
  const clientFor = (ctx: Context, body: Record<string, unknown>): StreamClient => {
    const tenant = ctx.state['tenant'] as string;
    const managed = transmitters.transmitters(tenant).filter((t) => t.management !== undefined);
    const fromBody = typeof body['issuer'] === 'string' ? body['issuer'] : undefined;
    const named = typeof ctx.query['issuer'] === 'string' ? ctx.query['issuer'] : fromBody;
    const transmitter =
      named === undefined ? (managed.length === 1 ? managed[0] : undefined) : managed.find((t) => t.issuer === named);
    if (transmitter === undefined && named === undefined) {
      throw new StreamAdminRequestError(
        `this tenant has ${managed.length} transmitters with stream management: name one with "issuer"`,
      );
    }
    if (transmitter === undefined) {
      throw new TransmitterNotFoundError(`${named ?? ''} is not a transmitter of this tenant with stream management`);
    }
    return new StreamClient(tenant, transmitter, transmitters);
  };

  router.get('/streams', async (ctx) => {
    const streamId = typeof ctx.query['stream_id'] === 'string' ? ctx.query['stream_id'] : undefined;
    ctx.body = { streams: await clientFor(ctx, {}).read(streamId) };
  });

  router.post('/streams', async (ctx) => {
    const body = await jsonBody(ctx);
    const client = clientFor(ctx, body);
    const tenant = ctx.state.tenant;
    const transmitter = transmitters.get(tenant, client.issuer);
    let delivery: { method: string; endpoint_url?: string; authorization_header?: string };
    if (body['delivery'] === 'push') {
      // The token goes to the transmitter, so it must be one the push endpoint accepts: never one we invent.
      const token = body['push_bearer_token'];
      const accepted = new TokenDigests(transmitter?.push?.bearerTokenSha256 ?? []);
      if (typeof token !== 'string' || !accepted.accepts(token)) {
        throw new StreamAdminRequestError(
          'push delivery needs "push_bearer_token", one whose SHA-256 is in this transmitter\'s push.bearer_token_sha256',
        );
      }
      delivery = {
        method: PUSH_DELIVERY,
        endpoint_url: `${options.publicUrl()}${pushPath(tenant)}`,
        authorization_header: `Bearer ${token}`,
      };
    } else if (body['delivery'] === 'poll' || body['delivery'] === undefined) {
      delivery = { method: POLL_DELIVERY };
    } else {
      throw new StreamAdminRequestError('"delivery" must be "push" or "poll"');
    }
    const created = await client.create({
      delivery,
      events_requested: stringList(body, 'events_requested') ?? EVENTS_ACTED_ON,
      ...(typeof body['description'] === 'string' ? { description: body['description'] } : {}),
    });
    const pollUrl = transmitter?.poll?.endpointUrl;
    if (delivery.method === POLL_DELIVERY && created.delivery.endpoint_url !== pollUrl) {
      logger.warn(
        { tenant, iss: client.issuer, endpoint_url: created.delivery.endpoint_url, configured: pollUrl },
        'the stream polls at another endpoint than poll.endpoint_url: update the tenant configuration',
      );
    }
    logger.info({ tenant, iss: client.issuer, stream_id: created.stream_id }, 'SSF stream created');
    ctx.status = 201;
    ctx.body = created;
  });

  router.patch('/streams', async (ctx) => {
    const body = await jsonBody(ctx);
    const changes: Record<string, unknown> = {};
    const events = stringList(body, 'events_requested');
    if (events !== undefined) changes['events_requested'] = events;
    if (typeof body['description'] === 'string') changes['description'] = body['description'];
    const updated = await clientFor(ctx, body).update(changes);
    ctx.status = updated === undefined ? 202 : 200;
    ctx.body = updated ?? { accepted: true };
  });

  router.delete('/streams', async (ctx) => {
    await clientFor(ctx, {}).delete();
    ctx.status = 204;
  });

  router.get('/status', async (ctx) => {
    ctx.body = await clientFor(ctx, {}).status();
  });

  router.post('/status', async (ctx) => {
    const body = await jsonBody(ctx);
    const status = body['status'];
    if (status !== 'enabled' && status !== 'paused' && status !== 'disabled') {
      throw new StreamAdminRequestError('"status" must be enabled, paused or disabled');
    }
    const reason = typeof body['reason'] === 'string' ? body['reason'] : undefined;
    ctx.body = (await clientFor(ctx, body).setStatus(status, reason)) ?? { status, accepted: true };
  });

  const subjects = (path: 'add' | 'remove'): void => {
    router.post(`/subjects/${path}`, async (ctx) => {
      const body = await jsonBody(ctx);
      const subject = body['subject'];
      if (
        typeof subject !== 'object' ||
        subject === null ||
        typeof (subject as { format?: unknown }).format !== 'string'
      ) {
        throw new StreamAdminRequestError('"subject" must be a subject identifier with a "format"');
      }
      const client = clientFor(ctx, body);
      if (path === 'add') {
        const verified = typeof body['verified'] === 'boolean' ? body['verified'] : undefined;
        await client.addSubject(subject as Record<string, unknown>, verified);
      } else {
        await client.removeSubject(subject as Record<string, unknown>);
      }
      ctx.status = 204;
    });
  };
  subjects('add');
  subjects('remove');

  router.post('/verify', async (ctx) => {
    const client = clientFor(ctx, {});
    const tenant = ctx.state.tenant;
    const state = randomBytes(16).toString('base64url');
    // Recorded first: whichever replica receives the event finds the state it answers.
    await archive.append(
      {
        v: 1,
        id: randomUUID(),
        tenant,
        kind: 'ssf.verification_requested',
        at: Date.now(),
        data: { iss: client.issuer, stream_id: client.streamId ?? null, state },
      },
      { subject: verificationRequestSubject(tenant, state) },
    );
    const watch = await archive.watch(
      acceptedSetSubjects(tenant),
      (r) => r.kind === 'set.accepted' && r.data['state'] === state && r.data['iss'] === client.issuer,
      timeoutMs,
    );
    await client.requestVerification(state);
    const record = await watch.next;
    if (record === undefined) {
      throw new VerificationTimeoutError(
        `no verification event with our state arrived within ${timeoutMs} ms; check the stream's status and delivery`,
      );
    }
    logger.info({ tenant, iss: client.issuer, stream_id: client.streamId }, 'SSF stream verified');
    ctx.body = {
      verified: true,
      stream_id: client.streamId,
      state,
      jti: record.data['jti'],
      delivery: record.data['delivery'],
    };
  });

  return router;
}

async function jsonBody(ctx: Context): Promise<Record<string, unknown>> {
  return await readJsonObject(ctx, {
    limit: 64 * 1024,
    invalid: (message) => new StreamAdminRequestError(message),
    emptyIsObject: true,
  });
}

function stringList(body: Record<string, unknown>, name: string): string[] | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw new StreamAdminRequestError(`"${name}" must be an array of event type URIs`);
  }
  return value as string[];
}
