import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging/index.js';
import { startGateway } from '../../src/roles/index.js';
import type { RunningGateway } from '../../src/roles/index.js';
import { freePort } from './nats_server.js';
import { PROJECT_ROOT } from './opa.js';
import { makeTempDir } from './temp_dir.js';

export const sha256 = (token: string): string => createHash('sha256').update(token).digest('hex');

export interface TestGateway {
  readonly gateway: RunningGateway;
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  stop(): Promise<void>;
}

/**
 * A real gateway in this process: koa on an ephemeral loopback port, its own
 * store replica in a temp dir, publishing to the given NATS.
 */
export async function startTestGateway(
  natsUrl: string,
  tenants: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<TestGateway> {
  const dir = makeTempDir('ipsie-gateway-');
  const tenantsFile = join(dir.path, 'tenants.json');
  writeFileSync(tenantsFile, JSON.stringify({ tenants }));
  const config = parseConfig({
    IPSIE_STORE_PATH: join(dir.path, 'gateway.db'),
    IPSIE_NATS_URL: natsUrl,
    IPSIE_GATEWAY_ADDRESS: '127.0.0.1:0',
    IPSIE_TENANTS_FILE: tenantsFile,
    IPSIE_LOG_LEVEL: 'silent',
    ...env,
  });
  const gateway = await startGateway({ config, logger: createLogger(config.log.level) });
  return {
    gateway,
    origin: `http://127.0.0.1:${gateway.port}`,
    stop: async () => {
      await gateway.stop();
      dir.remove();
    },
  };
}

export interface GatewayProcess {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Stops it with SIGTERM and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * The real CLI, `ipsie-sidecar gateway`, in its own process (its own event
 * loop, NATS connections and store replica), ready once `/readyz` answers 200.
 */
export async function spawnGatewayProcess(
  natsUrl: string,
  tenants: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<GatewayProcess> {
  const dir = makeTempDir('ipsie-gateway-process-');
  const tenantsFile = join(dir.path, 'tenants.json');
  writeFileSync(tenantsFile, JSON.stringify({ tenants }));
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/main.ts'), 'gateway'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      IPSIE_STORE_PATH: join(dir.path, 'gateway.db'),
      IPSIE_NATS_URL: natsUrl,
      IPSIE_GATEWAY_ADDRESS: `127.0.0.1:${port}`,
      IPSIE_TENANTS_FILE: tenantsFile,
      IPSIE_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}: ${stderr}`);
    try {
      if ((await fetch(`${origin}/readyz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway not ready after 60 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    origin,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      dir.remove();
    },
  };
}
