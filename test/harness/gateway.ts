import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/logging/index.js';
import { startGateway } from '../../src/roles/index.js';
import type { RunningGateway } from '../../src/roles/index.js';
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
