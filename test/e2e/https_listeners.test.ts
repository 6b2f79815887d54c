/**
 * The HTTP listeners over HTTPS from certificate files: the IdP-facing
 * gateway (`IPSIE_GATEWAY_TLS_*`) and the sidecar's AuthZEN PDP
 * (`IPSIE_AUTHZEN_TLS_*`) answer over TLS with the configured certificate,
 * and nothing answers in clear on their ports.
 */
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCertificateAuthority } from '../harness/certificates.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { startTestSidecar } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { makeTempDir } from '../harness/temp_dir.js';

const dir = makeTempDir('ipsie-https-e2e-');
let nats: NatsServer;
let gateway: TestGateway;
let ca: TestCertificateAuthority;
let sidecar: TestSidecar;

beforeAll(async () => {
  nats = await NatsServer.start();
  ca = new TestCertificateAuthority(dir.path, 'gateway');
  const server = ca.server('gateway');
  gateway = await startTestGateway(
    nats.url,
    { acme: { scim: { bearer_token_sha256: [sha256('scim-token')] } } },
    { IPSIE_GATEWAY_TLS_CERT_FILE: server.certFile, IPSIE_GATEWAY_TLS_KEY_FILE: server.keyFile },
  );
  const pdp = ca.server('authzen');
  sidecar = await startTestSidecar({
    env: {
      IPSIE_NATS_URL: nats.url,
      IPSIE_AUTHZEN_ADDRESS: '127.0.0.1:0',
      IPSIE_AUTHZEN_TLS_CERT_FILE: pdp.certFile,
      IPSIE_AUTHZEN_TLS_KEY_FILE: pdp.keyFile,
    },
    tenants: { acme: { authzen: { bearer_token_sha256: [sha256('pep-token')] } } },
  });
});

afterAll(async () => {
  await sidecar.stop();
  await gateway.stop();
  await nats.stop();
  dir.remove();
});

function get(path: string, token?: string, port = gateway.gateway.port): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        ca: ca.cert,
        agent: false,
        headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          resolve({ status: res.statusCode ?? 0, body });
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the gateway over HTTPS', () => {
  it('answers SCIM with the configured certificate, and authenticates as before', async () => {
    expect((await get('/scim/v2/acme/Users', 'scim-token')).status).toBe(200);
    expect((await get('/scim/v2/acme/Users', 'wrong')).status).toBe(401);
    expect((await get('/healthz')).status).toBe(200);
  });

  it('answers nothing in clear on its port', async () => {
    expect(await inClear(gateway.gateway.port)).not.toMatch(/^status 2/);
  });
});

describe('the AuthZEN PDP over HTTPS', () => {
  it('serves its metadata over TLS, naming the https URL the client used', async () => {
    const port = sidecar.sidecar.authzenPort ?? 0;
    const metadata = await get('/.well-known/authzen-configuration/acme', undefined, port);
    expect(metadata.status).toBe(200);
    expect(JSON.parse(metadata.body)).toMatchObject({ policy_decision_point: `https://127.0.0.1:${port}/acme` });
  });

  it('answers nothing in clear on its port', async () => {
    expect(await inClear(sidecar.sidecar.authzenPort ?? 0)).not.toMatch(/^status 2/);
  });
});

/** What a plain-HTTP request to `port` gets: a status line, or the error that ended it. */
async function inClear(port: number): Promise<string> {
  return await new Promise<string>((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      resolve(`status ${String(res.statusCode)}`);
      res.resume();
    });
    req.on('error', (error) => {
      resolve(error.message);
    });
    req.end();
  });
}
