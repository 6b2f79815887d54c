import { spawn } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TestClient } from './grpc_client.js';
import { freePort } from './nats_server.js';
import { EXAMPLE_POLICY_DIR, opaPath, PROJECT_ROOT } from './opa.js';
import { makeTempDir } from './temp_dir.js';

export type LogLine = Record<string, unknown>;

export interface SidecarProcessOptions {
  readonly natsUrl: string;
  /** The store file. @defaultValue a new file in the process's own temp dir */
  readonly storePath?: string;
  /** Tenants whose example policy (policies/examples) the process compiles at start. @defaultValue ['acme'] */
  readonly tenants?: readonly string[];
  /** More IPSIE_* settings. */
  readonly env?: Record<string, string>;
}

/**
 * The real CLI, `ipsie-sidecar sidecar`, in its own process: its own event
 * loop, NATS connections and SQLite connection, logging JSON at debug level
 * to stdout (kept in `lines`). Check over its Unix socket; `/readyz` and
 * `/metrics` over HTTP.
 */
export class SidecarProcess {
  readonly client: TestClient;
  readonly storePath: string;
  /** The Unix socket the process serves Check on. */
  readonly socketPath: string;
  readonly lines: LogLine[] = [];
  readonly #healthOrigin: string;
  readonly #child: ReturnType<typeof spawn>;
  readonly #exited: Promise<number | null>;
  readonly #dir: ReturnType<typeof makeTempDir>;
  #waiters: { predicate: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  #stderr = '';

  private constructor(options: SidecarProcessOptions, dir: ReturnType<typeof makeTempDir>, healthPort: number) {
    this.#dir = dir;
    const policies = join(dir.path, 'policies');
    for (const tenant of options.tenants ?? ['acme']) {
      cpSync(join(EXAMPLE_POLICY_DIR, tenant), join(policies, tenant), { recursive: true });
    }
    this.storePath = options.storePath ?? join(dir.path, 'sidecar.db');
    const socket = join(dir.path, 'check.sock');
    this.socketPath = socket;
    this.#healthOrigin = `http://127.0.0.1:${healthPort}`;
    this.#child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/main.ts'), 'sidecar'], {
      cwd: PROJECT_ROOT,
      env: {
        ...process.env,
        IPSIE_STORE_PATH: this.storePath,
        IPSIE_NATS_URL: options.natsUrl,
        IPSIE_GRPC_ADDRESS: '',
        IPSIE_GRPC_SOCKET: socket,
        IPSIE_HEALTH_ADDRESS: `127.0.0.1:${healthPort}`,
        IPSIE_TENANT_POLICY_DIR: policies,
        IPSIE_OPA_PATH: opaPath(),
        // Budgets are tested where they are the subject (noisy_tenant, evaluation_pool): elsewhere a loaded
        // machine must not turn a slow evaluation into POLICY_TIMEOUT.
        IPSIE_POLICY_BUDGET_MS: '5000',
        IPSIE_LOG_LEVEL: 'debug',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', resolve));
    this.#child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4000);
    });
    if (this.#child.stdout !== null) {
      createInterface({ input: this.#child.stdout }).on('line', (text) => {
        if (!text.startsWith('{')) return;
        const line = JSON.parse(text) as LogLine;
        this.lines.push(line);
        const waiting = this.#waiters;
        this.#waiters = [];
        for (const w of waiting) {
          if (w.predicate(line)) w.resolve(line);
          else this.#waiters.push(w);
        }
      });
    }
    this.client = new TestClient(`unix:${socket}`);
  }

  /** Starts the process and resolves once its listeners are open (`/healthz` answers). */
  static async spawn(options: SidecarProcessOptions): Promise<SidecarProcess> {
    const sidecar = new SidecarProcess(options, makeTempDir('ipsie-sidecar-process-'), await freePort());
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (sidecar.#child.exitCode !== null) {
        throw new Error(`sidecar exited with ${sidecar.#child.exitCode}: ${sidecar.#stderr}`);
      }
      try {
        if ((await fetch(`${sidecar.#healthOrigin}/healthz`)).ok) return sidecar;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await sidecar.stop();
        throw new Error(`sidecar not listening after 60 s: ${sidecar.#stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** The first log line (seen before or after this call) that matches. */
  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const seen = this.lines.find(predicate);
    if (seen !== undefined) return seen;
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`log line not seen within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push({
        predicate,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }

  /** `/readyz`: its status and the components it reports. */
  async readyz(): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${this.#healthOrigin}/readyz`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /** `/metrics`, the Prometheus text. */
  async metrics(): Promise<string> {
    return await (await fetch(`${this.#healthOrigin}/metrics`)).text();
  }

  /** SIGTERM, then the exit status. Its temp dir is removed (a `storePath` given in the options is kept). */
  async stop(): Promise<number | null> {
    this.client.close();
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
    const code = await this.#exited;
    this.#dir.remove();
    return code;
  }
}
