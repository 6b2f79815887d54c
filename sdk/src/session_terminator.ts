import type { SidecarClient } from './sidecar_client.js';
import type { SessionEvent } from './types.js';

export const DEFAULT_RECONNECT_MS = 250;
export const DEFAULT_MAX_RECONNECT_MS = 30_000;

export interface SessionTerminatorOptions {
  readonly tenant: string;
  /** Only these users' events; absent for every user of the tenant. */
  readonly userIds?: readonly string[] | undefined;
  /**
   * Ends the app's own sessions the event names: the one `sessionId` for
   * `SESSION_REVOKED`, every session of `userId` for the other kinds. Awaited
   * before the next event is handled; a throw goes to `onError`.
   */
  readonly endSessions: (event: SessionEvent) => void | Promise<void>;
  /**
   * Called each time the watch is (re)established. Events while it was down
   * are not replayed: an app that keeps long sessions should Check them again here.
   */
  readonly onConnected?: (() => void) | undefined;
  /** A failed watch (it reconnects) or a failed `endSessions`. */
  readonly onError?: ((error: unknown) => void) | undefined;
  /** First wait before reconnecting, in ms; doubled up to `maxReconnectMs`. @defaultValue 250 */
  readonly reconnectMs?: number | undefined;
  /** @defaultValue 30000 */
  readonly maxReconnectMs?: number | undefined;
}

export interface SessionTerminator {
  /** Resolves when the first watch is established. */
  readonly connected: Promise<void>;
  /** Stops watching; resolves once the last `endSessions` has returned. */
  close(): Promise<void>;
}

/**
 * Keeps a WatchSessions call open (reconnecting with backoff) and ends the
 * app's sessions on each event: a session the IdP revoked, a user
 * deactivated or deleted, a re-authentication the IdP requires.
 */
export function sessionTerminator(client: SidecarClient, options: SessionTerminatorOptions): SessionTerminator {
  const stop = new AbortController();
  const initialWait = options.reconnectMs ?? DEFAULT_RECONNECT_MS;
  const maxWait = options.maxReconnectMs ?? DEFAULT_MAX_RECONNECT_MS;
  let markConnected: () => void = () => undefined;
  const connected = new Promise<void>((resolve) => {
    markConnected = resolve;
  });

  const stopped = (): boolean => stop.signal.aborted;

  const run = async (): Promise<void> => {
    let wait = initialWait;
    while (!stopped()) {
      try {
        const events = client.watchSessions(
          { tenant: options.tenant, userIds: options.userIds },
          {
            signal: stop.signal,
            onReady: () => {
              wait = initialWait;
              markConnected();
              options.onConnected?.();
            },
          },
        );
        for await (const event of events) {
          try {
            await options.endSessions(event);
          } catch (error) {
            options.onError?.(error);
          }
        }
      } catch (error) {
        options.onError?.(error);
      }
      if (stopped()) return;
      await pause(wait, stop.signal);
      wait = Math.min(wait * 2, maxWait);
    }
  };
  const running = run();

  return {
    connected,
    close: async () => {
      stop.abort();
      await running;
    },
  };
}

async function pause(ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
