import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import { rm } from 'node:fs/promises';
import type { Config } from '../config/index.js';
import { prepareSocketDirectory } from '../check/index.js';
import { createGatewayApp, listen } from '../http/index.js';
import type { HttpServer } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { metricsRoute, SidecarProcessesMetrics } from '../observability/index.js';
import type { ProcessSeries } from '../observability/index.js';
import { startSidecar } from './sidecar.js';
import type { RunningSidecar, SidecarOptions, SidecarReadiness } from './sidecar.js';

/**
 * The sidecar on several cores: with `IPSIE_SIDECAR_PROCESSES` > 1 the
 * process started is a Node cluster primary that only supervises. It starts
 * that many sidecar processes sharing its listeners (the Unix socket and TCP,
 * AuthZEN; connections are dealt round-robin), each a whole sidecar with its
 * own Wasm, evaluation pool, stream consumer and store file, so each is the
 * one writer of its store and proves its own freshness (`min_sequence`,
 * STALE_DATA) as a single sidecar does. The primary serves `/healthz`,
 * `/readyz` (ready when every process is) and `/metrics` (every process's
 * series, labelled `process`), replaces a process that exits, and on
 * SIGTERM stops them all, each draining its calls.
 */

/** What the primary tells a sidecar process, and what it answers. */
type ToProcess =
  | { readonly kind: 'ipsie:slot'; readonly slot: number; readonly umask: number | null }
  | { readonly kind: 'ipsie:ask'; readonly id: number; readonly what: 'readiness' | 'metrics' }
  | { readonly kind: 'ipsie:stop' };
type FromProcess =
  | { readonly kind: 'ipsie:slot?' }
  | { readonly kind: 'ipsie:serving' }
  | { readonly kind: 'ipsie:answer'; readonly id: number; readonly answer: SidecarReadiness | ProcessSeries };

function isMessage<T extends { kind: string }>(message: unknown, kind: T['kind']): message is T {
  return typeof message === 'object' && message !== null && (message as { kind?: unknown }).kind === kind;
}

/** A running sidecar role as `main` holds it: one process, or the primary of several. */
export interface RunningSidecarRole {
  stop(): Promise<void>;
}

/**
 * Starts the sidecar role: in this process (`IPSIE_SIDECAR_PROCESSES` = 1),
 * as the primary of several, or as one of them (in a cluster worker).
 */
export async function startSidecarRole(options: SidecarOptions): Promise<RunningSidecarRole> {
  if (options.config.grpc.processes === 1) return await startSidecar(options);
  if (cluster.isPrimary) return await startSidecarPrimary(options.config, options.logger);
  return await startSidecarProcess(options);
}

/**
 * Resolves with the reason to shut down: SIGINT, SIGTERM, or (in a sidecar
 * process) the primary's request. Call before starting, so that a signal
 * during start-up still stops cleanly.
 */
export function shutdownRequested(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (cluster.isWorker) {
      const onMessage = (message: unknown): void => {
        if (!isMessage<ToProcess>(message, 'ipsie:stop')) return;
        process.off('message', onMessage);
        resolve('primary');
      };
      process.on('message', onMessage);
    }
  });
}

/**
 * The store file of process `slot`: the configured one for the first, `<path>.<slot>` for the others;
 * standalone, all read the configured one; `:memory:` stays private to each.
 */
export function processStorePath(config: Config, slot: number): string {
  if (slot === 1 || config.nats.servers === undefined || config.store.path === ':memory:') return config.store.path;
  return `${config.store.path}.${String(slot)}`;
}

async function startSidecarProcess(options: SidecarOptions): Promise<RunningSidecar> {
  const assignment = await new Promise<Extract<ToProcess, { kind: 'ipsie:slot' }>>((resolve) => {
    const onMessage = (message: unknown): void => {
      if (!isMessage<Extract<ToProcess, { kind: 'ipsie:slot' }>>(message, 'ipsie:slot')) return;
      process.off('message', onMessage);
      resolve(message);
    };
    process.on('message', onMessage);
    // Asked, not awaited: a message sent before this process listens would be lost.
    const ask: FromProcess = { kind: 'ipsie:slot?' };
    process.send?.(ask);
  });
  const { slot } = assignment;
  // The primary's umask is the socket's; the store files get the usual one.
  if (assignment.umask !== null) process.umask(assignment.umask);
  const config: Config = {
    ...options.config,
    store: { ...options.config.store, path: processStorePath(options.config, slot) },
    health: { address: undefined },
  };
  const logger = options.logger.child({ process: slot });
  let running: RunningSidecar;
  try {
    running = await startSidecar({ ...options, config, logger, clusterSlot: slot });
  } catch (error) {
    // Else the IPC channel keeps this process alive, and the primary waits for it to serve.
    cluster.worker?.disconnect();
    throw error;
  }
  const send = (message: FromProcess): void => {
    process.send?.(message);
  };
  const onMessage = (message: unknown): void => {
    if (!isMessage<Extract<ToProcess, { kind: 'ipsie:ask' }>>(message, 'ipsie:ask')) return;
    const { id, what } = message;
    if (what === 'readiness') send({ kind: 'ipsie:answer', id, answer: running.readiness() });
    else {
      running.metrics.json().then(
        (answer) => {
          send({ kind: 'ipsie:answer', id, answer });
        },
        (error: unknown) => {
          logger.error({ err: error }, 'metrics not collected');
        },
      );
    }
  };
  process.on('message', onMessage);
  send({ kind: 'ipsie:serving' });
  return {
    ...running,
    stop: async () => {
      process.off('message', onMessage);
      await running.stop();
      // The IPC channel would keep this process alive.
      cluster.worker?.disconnect();
    },
  };
}

/** How long one process's answer (`/readyz`, `/metrics`) is waited for. */
const ANSWER_WAIT_MS = 2_000;
/** How long the processes get to drain on SIGTERM before they are killed. */
const STOP_WAIT_MS = 30_000;
/** Delay before replacing a process that exited; doubled while replacements keep exiting soon. */
const REPLACE_DELAY_MS = 100;
const REPLACE_DELAY_MAX_MS = 10_000;
/** A process that served this long before exiting resets the delay. */
const SERVED_LONG_MS = 10_000;

interface Slot {
  readonly slot: number;
  worker: Worker | undefined;
  servingSince: number | undefined;
  delayMs: number;
  timer: NodeJS.Timeout | undefined;
}

async function startSidecarPrimary(config: Config, logger: Logger): Promise<RunningSidecarRole> {
  // The processes' own umask, when this one takes the socket's.
  let umask: number | null = null;
  const { socketPath } = config.grpc;
  if (socketPath !== undefined) {
    const exposed = await prepareSocketDirectory(socketPath);
    if (exposed !== undefined) logger.warn({ socket: socketPath }, exposed);
    // A socket file left by a crashed process would make bind fail.
    await rm(socketPath, { force: true });
    // Cluster binds the shared socket here, in the primary, when the first process listens:
    // with the socket's mode from the start (this process creates no files).
    umask = process.umask(0o777 & ~config.grpc.socketMode);
  }
  const metrics = new SidecarProcessesMetrics(async () => {
    const answers = await Promise.all(slots.map(async (slot) => await ask(slot, 'metrics')));
    return answers.filter((a): a is ProcessSeries => a !== undefined);
  });
  const slots: Slot[] = Array.from({ length: config.grpc.processes }, (_, i) => ({
    slot: i + 1,
    worker: undefined,
    servingSince: undefined,
    delayMs: REPLACE_DELAY_MS,
    timer: undefined,
  }));
  let stopping = false;
  let nextRequest = 0;
  const pending = new Map<number, (answer: SidecarReadiness | ProcessSeries) => void>();
  // Until every process serves the first time, an exit fails the start.
  let failStart: ((error: Error) => void) | undefined;

  const fork = (slot: Slot): Promise<void> => {
    slot.timer = undefined;
    const worker = cluster.fork();
    slot.worker = worker;
    slot.servingSince = undefined;
    return new Promise<void>((resolve) => {
      worker.on('message', (reply: unknown) => {
        if (isMessage<FromProcess>(reply, 'ipsie:slot?')) {
          const assignment: ToProcess = { kind: 'ipsie:slot', slot: slot.slot, umask };
          worker.send(assignment);
        } else if (isMessage<FromProcess>(reply, 'ipsie:serving')) {
          slot.servingSince = Date.now();
          logger.info({ process: slot.slot, pid: worker.process.pid }, 'sidecar process serving');
          resolve();
        } else if (isMessage<Extract<FromProcess, { kind: 'ipsie:answer' }>>(reply, 'ipsie:answer')) {
          pending.get(reply.id)?.(reply.answer);
        }
      });
      worker.once('exit', (code, signal) => {
        if (slot.worker === worker) {
          slot.worker = undefined;
        }
        if (stopping) return;
        const served = slot.servingSince === undefined ? 0 : Date.now() - slot.servingSince;
        slot.servingSince = undefined;
        if (failStart !== undefined) {
          failStart(
            new Error(
              `sidecar process ${String(slot.slot)} exited (code ${String(code)}, signal ${signal}) while starting`,
            ),
          );
          return;
        }
        slot.delayMs = served >= SERVED_LONG_MS ? REPLACE_DELAY_MS : Math.min(slot.delayMs * 2, REPLACE_DELAY_MAX_MS);
        logger.error(
          { process: slot.slot, pid: worker.process.pid, code, signal, restart_in_ms: slot.delayMs },
          'sidecar process exited; starting another',
        );
        metrics.replaced(slot.slot);
        slot.timer = setTimeout(() => void fork(slot), slot.delayMs);
      });
    });
  };

  const stopProcesses = async (): Promise<void> => {
    stopping = true;
    const exits = slots.map(async (slot) => {
      clearTimeout(slot.timer);
      const worker = slot.worker;
      if (worker === undefined || worker.isDead()) return;
      const exited = new Promise<void>((resolve) =>
        worker.once('exit', () => {
          resolve();
        }),
      );
      const stop: ToProcess = { kind: 'ipsie:stop' };
      if (worker.isConnected()) worker.send(stop);
      else worker.process.kill('SIGTERM');
      const timer = setTimeout(() => {
        logger.error({ process: slot.slot, pid: worker.process.pid }, 'sidecar process still draining; killed');
        worker.process.kill('SIGKILL');
      }, STOP_WAIT_MS);
      await exited;
      clearTimeout(timer);
    });
    await Promise.all(exits);
  };

  /** What a serving process answers, or undefined (not serving, or no answer in time). */
  function ask(slot: Slot, what: 'readiness'): Promise<SidecarReadiness | undefined>;
  function ask(slot: Slot, what: 'metrics'): Promise<ProcessSeries | undefined>;
  async function ask(slot: Slot, what: 'readiness' | 'metrics'): Promise<SidecarReadiness | ProcessSeries | undefined> {
    const worker = slot.worker;
    if (worker === undefined || slot.servingSince === undefined || !worker.isConnected()) return undefined;
    const id = ++nextRequest;
    return await new Promise((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve(undefined);
      }, ANSWER_WAIT_MS);
      pending.set(id, (answer) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(answer);
      });
      const request: ToProcess = { kind: 'ipsie:ask', id, what };
      worker.send(request);
    });
  }

  const readinessOf = async (
    slot: Slot,
  ): Promise<{ ok: boolean; detail: string; components?: unknown; tenants?: SidecarReadiness['tenants'] }> => {
    const pid = slot.worker?.process.pid;
    const answer = await ask(slot, 'readiness');
    if (answer === undefined) {
      return {
        ok: false,
        detail:
          slot.servingSince === undefined
            ? 'not serving (starting or being replaced)'
            : `pid ${String(pid)} did not answer`,
      };
    }
    return { ok: answer.ready, detail: `pid ${String(pid)}`, components: answer.components, tenants: answer.tenants };
  };

  let health: HttpServer | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      failStart = reject;
      const [first, ...others] = slots as [Slot, ...Slot[]];
      // Standalone, the processes share one store file: the first creates and migrates it alone.
      const started =
        config.nats.servers === undefined
          ? fork(first).then(async () => await Promise.all(others.map(fork)))
          : Promise.all(slots.map(fork));
      started.then(() => {
        resolve();
      }, reject);
    });
    failStart = undefined;
    logger.info({ processes: slots.length }, 'sidecar serving from every process');
    const healthAddress = config.health.address;
    if (healthAddress !== undefined) {
      const app = createGatewayApp({
        logger,
        routes: [metricsRoute(metrics)],
        ready: async () => {
          if (stopping) return { ready: false, components: { processes: { ok: false, detail: 'stopping' } } };
          const states = await Promise.all(
            slots.map(async (s) => [`process_${String(s.slot)}`, await readinessOf(s)] as const),
          );
          return {
            ready: states.every(([, s]) => s.ok),
            components: Object.fromEntries(states.map(([name, { tenants: _, ...state }]) => [name, state])),
            tenants: tenantsOnEvery(states.map(([, s]) => s.tenants)),
          };
        },
      });
      health = (await listen(app, healthAddress)).server;
    }
  } catch (error) {
    failStart = undefined;
    await stopProcesses();
    throw error;
  }
  const probes = health;
  return {
    stop: async () => {
      await stopProcesses();
      if (probes !== undefined) {
        await new Promise<void>((resolve) => {
          probes.close(() => {
            resolve();
          });
          probes.closeAllConnections();
        });
      }
    },
  };
}

/** A tenant is ready when it is on every process; one a process does not report is not. */
function tenantsOnEvery(
  reports: readonly SidecarReadiness['tenants'][],
): Record<string, { readonly ready: boolean; readonly detail: string }> {
  const names = new Set(reports.flatMap((r) => Object.keys(r ?? {})));
  const tenants: Record<string, { readonly ready: boolean; readonly detail: string }> = {};
  for (const name of names) {
    const states = reports.map((r) => (r !== undefined && Object.hasOwn(r, name) ? r[name] : undefined));
    const notReady = states.findIndex((t) => t?.ready !== true);
    tenants[name] =
      notReady === -1
        ? { ready: true, detail: states[0]?.detail ?? '' }
        : { ready: false, detail: `process ${String(notReady + 1)}: ${states[notReady]?.detail ?? 'not reported'}` };
  }
  return tenants;
}
