import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging/index.js';
import { startSidecar } from '../../src/roles/index.js';
import type { RunningSidecar } from '../../src/roles/index.js';
import { TestClient } from './grpc_client.js';
import { opaPath, PLATFORM_POLICY_DIR } from './opa.js';
import { makeTempDir } from './temp_dir.js';

/** The token the test sidecar's TCP listener accepts from callers (IPSIE_GRPC_CALLER_TOKEN_SHA256). */
export const TEST_CALLER_TOKEN = 'test-app-caller-token';

export interface TestSidecar {
  readonly sidecar: RunningSidecar;
  /** Client over TCP loopback. */
  readonly tcp: TestClient;
  /** Client over the Unix socket. */
  readonly uds: TestClient;
  readonly storePath: string;
  stop(): Promise<void>;
}

/**
 * A real sidecar in this process: SQLite file in a temp dir, gRPC on an
 * ephemeral loopback port and on a Unix socket, the real `opa`.
 */
export async function startTestSidecar(
  options: { env?: Record<string, string>; clock?: () => number; tenants?: Record<string, unknown> } = {},
): Promise<TestSidecar> {
  const dir = makeTempDir();
  const tenantsFile = join(dir.path, 'tenants.json');
  if (options.tenants !== undefined) writeFileSync(tenantsFile, JSON.stringify({ tenants: options.tenants }));
  const storePath = join(dir.path, 'sidecar.db');
  const config = parseConfig({
    IPSIE_STORE_PATH: storePath,
    IPSIE_GRPC_ADDRESS: '127.0.0.1:0',
    IPSIE_GRPC_CALLER_TOKEN_SHA256: createHash('sha256').update(TEST_CALLER_TOKEN).digest('hex'),
    IPSIE_GRPC_SOCKET: join(dir.path, 'check.sock'),
    IPSIE_OPA_PATH: opaPath(),
    IPSIE_PLATFORM_POLICY_DIR: PLATFORM_POLICY_DIR,
    // Budgets are tested where they are the subject (noisy_tenant, evaluation_pool): elsewhere a loaded
    // machine must not turn a slow evaluation into POLICY_TIMEOUT.
    IPSIE_POLICY_BUDGET_MS: '5000',
    IPSIE_LOG_LEVEL: 'silent',
    ...(options.tenants === undefined ? {} : { IPSIE_TENANTS_FILE: tenantsFile }),
    ...options.env,
  });
  const sidecar = await startSidecar({
    config,
    logger: createLogger(config.log.level),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
  });
  const tcp = new TestClient(`127.0.0.1:${String(sidecar.addresses.tcpPort)}`, { callerToken: TEST_CALLER_TOKEN });
  const uds = new TestClient(`unix:${sidecar.addresses.socketPath ?? ''}`, { callerToken: TEST_CALLER_TOKEN });
  return {
    sidecar,
    tcp,
    uds,
    storePath,
    stop: async () => {
      tcp.close();
      uds.close();
      await sidecar.stop();
      dir.remove();
    },
  };
}
