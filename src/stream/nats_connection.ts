import { connect } from '@nats-io/transport-node';
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
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') {
        logger.warn({ nats: status.type, server: status.server }, `NATS ${status.type}`);
      }
    }
  })();
  return nc;
}
