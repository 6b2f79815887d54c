import { ACME, exampleDirectoryChanges } from '../../demo/example_directory.js';
import { TestCertificateAuthority } from './certificates.js';
import { sha256 } from './gateway.js';
import { freePort, NatsServer } from './nats_server.js';
import { SidecarProcess } from './sidecar_process.js';
import { TestProducer } from './stream.js';
import { makeTempDir } from './temp_dir.js';

/** The caller token the example sidecar requires, on its socket and its TCP listener. */
export const EXAMPLE_CALLER_TOKEN = 'app-caller-token';

export interface ExampleSidecar {
  readonly nats: NatsServer;
  readonly producer: TestProducer;
  readonly sidecar: SidecarProcess;
  /** The Unix socket. */
  readonly socketPath: string;
  /** `127.0.0.1:<port>`: mutual TLS, a client certificate of `tls.caFile` required. */
  readonly address: string;
  /** The CA of the TCP listener's certificate (and of the client certificates it accepts), and an app's client certificate. */
  readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string };
  stop(): Promise<void>;
}

/**
 * A real `ipsie-sidecar sidecar` process serving acme's example directory
 * (demo/example_directory.ts) and policy, over its Unix socket and a
 * mutual-TLS TCP listener, both requiring the caller token; resolves once
 * `/readyz` is green.
 */
export async function startExampleSidecar(env: Record<string, string> = {}): Promise<ExampleSidecar> {
  const nats = await NatsServer.start();
  const producer = await TestProducer.connect(nats.url);
  await producer.publishAll(exampleDirectoryChanges().filter((c) => c.tenant === ACME.id));
  const address = `127.0.0.1:${await freePort()}`;
  const certificates = makeTempDir('ipsie-sdk-tls-');
  const ca = new TestCertificateAuthority(certificates.path, 'sidecar');
  const server = ca.server('sidecar');
  const app = ca.client('app');
  const sidecar = await SidecarProcess.spawn({
    natsUrl: nats.url,
    tenants: [ACME.id],
    env: {
      IPSIE_GRPC_ADDRESS: address,
      IPSIE_GRPC_TLS_CERT_FILE: server.certFile,
      IPSIE_GRPC_TLS_KEY_FILE: server.keyFile,
      IPSIE_GRPC_TLS_CLIENT_CA_FILE: ca.certFile,
      IPSIE_GRPC_CALLER_TOKEN_SHA256: sha256(EXAMPLE_CALLER_TOKEN),
      ...env,
    },
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
    tls: { caFile: ca.certFile, certFile: app.certFile, keyFile: app.keyFile },
    stop: async () => {
      await sidecar.stop();
      await producer.close();
      await nats.dispose();
      certificates.remove();
    },
  };
}
