/**
 * Runs the example app: `tsx examples/koa_app/main.ts` (after `npm run build`,
 * which builds the SDK), next to a running sidecar.
 *
 *   SIDECAR_SOCKET        the sidecar's socket (IPSIE_GRPC_SOCKET)  default /run/ipsie/check.sock
 *   SIDECAR_CALLER_TOKEN  its caller token, if it requires one
 *   TENANT                the tenant served                         default acme
 *   PORT                  where the app listens                     default 3000
 */
import { createExampleApp } from './app.js';

const example = createExampleApp({
  sidecar: {
    socketPath: process.env['SIDECAR_SOCKET'] ?? '/run/ipsie/check.sock',
    callerToken: process.env['SIDECAR_CALLER_TOKEN'],
  },
  tenant: process.env['TENANT'] ?? 'acme',
});
const port = Number(process.env['PORT'] ?? 3000);
const server = example.app.listen(port, () => {
  console.log(`example app on http://localhost:${port}`);
});

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close();
    void example.close();
  });
}
