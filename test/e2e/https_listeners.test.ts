/**
 * The IdP-facing gateway over HTTPS from certificate files
 * (`IPSIE_GATEWAY_TLS_*`): SCIM and the probes answer over TLS with the
 * configured certificate, and nothing answers in clear on that port.
 */
import { request as httpRequest } from 'node:http';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCertificateAuthority } from '../harness/certificates.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { makeTempDir } from '../harness/temp_dir.js';

const dir = makeTempDir('ipsie-https-e2e-');
let nats: NatsServer;
let gateway: TestGateway;
let ca: TestCertificateAuthority;

beforeAll(async () => {
  nats = await NatsServer.start();
  ca = new TestCertificateAuthority(dir.path, 'gateway');
  const server = ca.server('gateway');
  gateway = await startTestGateway(
    nats.url,
    { acme: { scim: { bearer_token_sha256: [sha256('scim-token')] } } },
    { IPSIE_GATEWAY_TLS_CERT_FILE: server.certFile, IPSIE_GATEWAY_TLS_KEY_FILE: server.keyFile },
  );
});

afterAll(async () => {
  await gateway.stop();
  await nats.stop();
  dir.remove();
});

function get(path: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: gateway.gateway.port,
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
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: gateway.gateway.port, path: '/healthz', agent: false },
        (res) => {
          resolve(`status ${String(res.statusCode)}`);
          res.resume();
        },
      );
      req.on('error', (error) => {
        resolve(error.message);
      });
      req.end();
    });
    expect(outcome).not.toMatch(/^status 2/);
  });
});
