#!/usr/bin/env node
/**
 * `ipsie-sidecar <role>`: the composition root. Parses config once, starts
 * the role, and stops it in reverse order on SIGINT/SIGTERM.
 */
import { parseConfig, ConfigInvalidError } from './config/index.js';
import { POLICY_USAGE, runPolicyCli } from './cli/index.js';
import { createLogger } from './logging/index.js';
import { shutdownRequested, startGateway, startSidecarRole } from './roles/index.js';

const USAGE = `usage: ipsie-sidecar <role>
       ipsie-sidecar policy <command> (ipsie-sidecar policy --help)

roles:
  sidecar   serve gRPC Check from the local entitlement store (fed by the state stream)
  gateway   serve the IdP-facing edge (SCIM 2.0, SSF, admin API), publishing to the state stream

configuration is read from IPSIE_* environment variables (see README.md).`;

async function main(argv: readonly string[]): Promise<number> {
  const role = argv[0];
  if (role === undefined || role === '--help' || role === '-h') {
    process.stdout.write(`${USAGE}\n`);
    return role === undefined ? 2 : 0;
  }
  if (role === 'policy') {
    if (argv[1] === '--help' || argv[1] === '-h') {
      process.stdout.write(`${POLICY_USAGE}\n`);
      return 0;
    }
    return await runPolicyCli(argv.slice(1), {
      env: process.env,
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    });
  }
  if (role !== 'sidecar' && role !== 'gateway') {
    process.stderr.write(`unknown role "${role}"\n${USAGE}\n`);
    return 2;
  }
  let config;
  try {
    config = parseConfig(process.env, undefined, role);
  } catch (error) {
    if (error instanceof ConfigInvalidError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    throw error;
  }
  const logger = createLogger(config.log.level);
  // Listen before starting: a signal during start-up must still stop cleanly.
  const shutdown = shutdownRequested();
  const running =
    role === 'sidecar' ? await startSidecarRole({ config, logger }) : await startGateway({ config, logger });
  logger.info({ signal: await shutdown }, 'shutting down');
  await running.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
