import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const sdkSource = fileURLToPath(new URL('./sdk/src/', import.meta.url));

export default defineConfig({
  resolve: {
    // examples/ import the SDK by its package name; test them against its sources, not a build.
    alias: [
      { find: /^@ipsie\/sidecar-client$/, replacement: `${sdkSource}index.ts` },
      { find: /^@ipsie\/sidecar-client\/(express|koa|fastify)$/, replacement: `${sdkSource}$1.ts` },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // Real opa builds, gRPC servers and nats-server processes: give them time,
    // and do not run more heavy files at once than the machine has cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
