import { connect, TimeoutError } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../logging/index.js';

export type { NatsConnection };

export interface NatsConnectionOptions {
  /** `nats://host:port` URLs of the cluster. */
  readonly servers: readonly string[];
  /** Client name, shown by the server in connection lists. */
  readonly name: string;
}

/**
 * Connects and keeps connecting: the client's defaults give up after ten
 * attempts, a sidecar never should. Waits for the first connection.
 *
 * Requests (every JetStream API call and publish is one) are sent only while
 * connected: see {@link sendRequestsOnlyWhileConnected}.
 */
export async function connectNats(options: NatsConnectionOptions, logger: Logger): Promise<NatsConnection> {
  const nc = await connect({
    servers: [...options.servers],
    name: options.name,
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    reconnectTimeWait: 500,
    reconnectJitter: 250,
    // Notice a half-open connection in ~20 s rather than the default minutes.
    pingInterval: 10_000,
    maxPingOut: 2,
  });
  logger.info({ server: nc.getServer() }, 'connected to NATS');
  const link = sendRequestsOnlyWhileConnected(nc);
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') link.down();
      else if (status.type === 'reconnect') link.up();
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        logger.warn({ nats: status.type, server: status.server }, `NATS ${status.type}`);
      }
    }
  })();
  return nc;
}

/** What the status loop tells the request gate. */
interface Link {
  up(): void;
  down(): void;
}

/**
 * nats.js loses every request around a reconnect without saying so: each dial
 * resets the outbound buffer (what was "buffered" while disconnected is
 * dropped), and a request in flight when the server went away has no one left
 * to answer it. Either way the caller learns only at the request's timeout
 * (5 s for a JetStream API call), however soon the server is back; a gateway
 * then answers 503 for that long after NATS has returned.
 *
 * So `nc.request` is wrapped: while disconnected a request waits for the
 * connection (within its own timeout) and is sent on the new one; a request in
 * flight when the connection drops fails at once with the same `TimeoutError`
 * (its outcome is unknown, as after a timeout), so callers that retry (a
 * durable publish with its message id, the stream consumer) retry on the new
 * connection instead of waiting out the old one.
 */
function sendRequestsOnlyWhileConnected(nc: NatsConnection): Link {
  const send = nc.request.bind(nc);
  let connected = true;
  /** Settles when the connection is back, or closed for good (then `send` says so). */
  let linkBack = settled();
  const inFlight = new Set<(error: Error) => void>();
  void nc.closed().then(() => {
    linkBack.settle();
  });

  nc.request = async (subject, payload, options) => {
    const timeoutMs = options?.timeout ?? 1_000;
    const started = Date.now();
    if (!connected) {
      let timer: NodeJS.Timeout | undefined;
      const back = await Promise.race([
        linkBack.promise.then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(resolve, timeoutMs, false))),
      ]);
      clearTimeout(timer);
      if (!back) throw new TimeoutError({ cause: new Error(`not connected to NATS within ${timeoutMs} ms`) });
    }
    const remaining = Math.max(1, timeoutMs - (Date.now() - started));
    return await new Promise((resolve, reject) => {
      inFlight.add(reject);
      send(subject, payload, { ...options, timeout: remaining })
        .then(resolve, reject)
        .finally(() => inFlight.delete(reject));
    });
  };

  return {
    down: () => {
      if (!connected) return;
      connected = false;
      linkBack = settled();
      for (const lost of inFlight) lost(new TimeoutError({ cause: new Error('the connection to NATS was lost') }));
      inFlight.clear();
    },
    up: () => {
      connected = true;
      linkBack.settle();
    },
  };
}

function settled(): { promise: Promise<void>; settle: () => void } {
  let settle = (): void => undefined;
  const promise = new Promise<void>((resolve) => (settle = resolve));
  return { promise, settle };
}
