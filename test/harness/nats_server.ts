import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { PROJECT_ROOT } from './opa.js';
import { makeTempDir } from './temp_dir.js';

/** The pinned nats-server that scripts/setup.sh builds. */
export function natsServerPath(): string {
  const path = `${PROJECT_ROOT}.tools/bin/nats-server`;
  if (!existsSync(path)) throw new Error(`${path} is missing: run "npm test" (scripts/setup.sh builds it)`);
  return path;
}

/** A free TCP port on loopback (released before use; fine for tests). */
export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

/**
 * A real `nats-server -js` on free ports with its JetStream store in a temp
 * dir. Readiness is the monitoring endpoint's `/healthz`, never a sleep.
 * `restart()` keeps the port and the store, like a server coming back.
 */
export class NatsServer {
  readonly port: number;
  readonly monitorPort: number;
  readonly #dir: ReturnType<typeof makeTempDir>;
  #process: ChildProcess | undefined;

  private constructor(port: number, monitorPort: number, dir: ReturnType<typeof makeTempDir>) {
    this.port = port;
    this.monitorPort = monitorPort;
    this.#dir = dir;
  }

  static async start(): Promise<NatsServer> {
    const server = new NatsServer(await freePort(), await freePort(), makeTempDir('ipsie-nats-'));
    await server.#launch();
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** Stops the server (SIGTERM, or SIGKILL when `crash`) and waits for it to exit. */
  async stop(crash = false): Promise<void> {
    const child = this.#process;
    if (child?.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // A frozen server would not act on SIGTERM.
    if (!crash) child.kill('SIGCONT');
    child.kill(crash ? 'SIGKILL' : 'SIGTERM');
    await exited;
    this.#process = undefined;
  }

  /**
   * Freezes the server (SIGSTOP): its sockets stay open and nothing answers,
   * as with a hung process or a stalled VM - not a closed connection.
   */
  freeze(): void {
    this.#signal('SIGSTOP');
  }

  /** Resumes a frozen server (SIGCONT). */
  thaw(): void {
    this.#signal('SIGCONT');
  }

  #signal(signal: 'SIGSTOP' | 'SIGCONT'): void {
    const child = this.#process;
    if (child?.exitCode !== null) throw new Error('nats-server is not running');
    child.kill(signal);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.#launch();
  }

  /** Stops the server and removes its store. */
  async dispose(): Promise<void> {
    await this.stop();
    this.#dir.remove();
  }

  async #launch(): Promise<void> {
    const child = spawn(
      natsServerPath(),
      [
        '-js',
        '-a',
        '127.0.0.1',
        '-p',
        String(this.port),
        '-m',
        String(this.monitorPort),
        '-sd',
        join(this.#dir.path, 'js'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    this.#process = child;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr}`);
      try {
        const response = await fetch(`http://127.0.0.1:${this.monitorPort}/healthz?js-enabled-only=true`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`nats-server not healthy after 15 s: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}
