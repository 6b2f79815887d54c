import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { sha256 } from './gateway.js';
import { freePort, NatsServer } from './nats_server.js';
import { SidecarProcess } from './sidecar_process.js';
import { TestProducer } from './stream.js';

/** The caller token the example sidecar requires, on its socket and its TCP listener. */
export const EXAMPLE_CALLER_TOKEN = 'app-caller-token';

export interface ExampleSidecar {
  readonly nats: NatsServer;
  readonly producer: TestProducer;
  readonly sidecar: SidecarProcess;
  /** The Unix socket. */
  readonly socketPath: string;
  /** `127.0.0.1:<port>`, without TLS (caller tokens on loopback). */
  readonly address: string;
  stop(): Promise<void>;
}

/**
 * A real `ipsie-sidecar sidecar` process serving acme's example directory
 * (demo/example_directory.ts) and policy, over its Unix socket and a TCP
 * listener with a caller token; resolves once `/readyz` is green.
 */
export async function startExampleSidecar(env: Record<string, string> = {}): Promise<ExampleSidecar> {
  const nats = await NatsServer.start();
  const producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges().filter((c) => c.tenant === ACME.id));
  const address = `127.0.0.1:${await freePort()}`;
  const sidecar = await SidecarProcess.spawn({
    natsUrl: nats.url,
    tenants: [ACME.id],
    env: { IPSIE_GRPC_ADDRESS: address, IPSIE_GRPC_CALLER_TOKEN_SHA256: sha256(EXAMPLE_CALLER_TOKEN), ...env },
  });
  const deadline = Date.now() + 60_000;
  while ((await sidecar.readyz()).status !== 200) {
    if (Date.now() > deadline) throw new Error(`sidecar not ready: ${JSON.stringify((await sidecar.readyz()).body)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    nats,
    producer,
    sidecar,
    socketPath: sidecar.socketPath,
    address,
    stop: async () => {
      await sidecar.stop();
      await producer.close();
      await nats.dispose();
    },
  };
}
