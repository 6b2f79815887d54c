/**
 * The HTTP listeners (gateway, AuthZEN, probes) over TLS: served from
 * certificate files, a renewed certificate taken without a restart, a broken
 * renewal never taking the listener down.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { TLSSocket } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createGatewayApp, listen } from '../../src/http/index.js';
import type { HttpServer, Listening } from '../../src/http/index.js';
import { TestCertificateAuthority } from '../harness/certificates.js';
import { capturingLogger } from '../harness/log_capture.js';
import { makeTempDir } from '../harness/temp_dir.js';

const dir = makeTempDir('ipsie-https-');
let first: TestCertificateAuthority;
let second: TestCertificateAuthority;
const servers: HttpServer[] = [];

beforeAll(() => {
  first = new TestCertificateAuthority(dir.path, 'first');
  second = new TestCertificateAuthority(dir.path, 'second');
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

afterAll(() => {
  dir.remove();
});

/** GET /healthz trusting only `ca`; resolves with the status and the certificate the server showed. */
function get(port: number, ca: Buffer): Promise<{ status: number; peer: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', ca, agent: false }, (res) => {
      const socket = res.socket;
      if (!(socket instanceof TLSSocket)) throw new Error('not a TLS connection');
      const peer = socket.getPeerCertificate();
      res.resume();
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, peer });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Copies an issued pair to the paths the listener reads. */
function install(files: { certFile: string; keyFile: string }, name: string): { certFile: string; keyFile: string } {
  const target = { certFile: join(dir.path, `${name}.crt`), keyFile: join(dir.path, `${name}.key`) };
  copyFileSync(files.certFile, target.certFile);
  copyFileSync(files.keyFile, target.keyFile);
  return target;
}

async function serve(
  tlsFiles: { certFile: string; keyFile: string },
  logger = capturingLogger().logger,
): Promise<Listening> {
  const app = createGatewayApp({ logger, routes: [], ready: () => true });
  const bound = await listen(app, '127.0.0.1:0', { tls: { ...tlsFiles, reloadMs: 20 }, logger });
  servers.push(bound.server);
  return bound;
}

/** Polls until `probe` holds: the reload timer's next turn, not a guessed pause. */
async function until(probe: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await probe()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('condition never held');
}

describe('listen over TLS', () => {
  it('serves HTTPS with the configured certificate', async () => {
    const bound = await serve(install(first.server('a'), 'serves'));
    expect(bound.scheme).toBe('https');
    expect((await get(bound.port, first.cert)).status).toBe(200);
    await expect(get(bound.port, second.cert)).rejects.toThrow();
  });

  it('takes a renewed certificate from its files without a restart', async () => {
    const files = install(first.server('b'), 'renewed');
    const bound = await serve(files);
    install(second.server('b'), 'renewed');
    await until(async () => (await get(bound.port, second.cert).catch(() => undefined))?.status === 200);
    await expect(get(bound.port, first.cert)).rejects.toThrow();
  });

  it('keeps serving the current certificate when the new files do not load, and says why once', async () => {
    const { logger, lines } = capturingLogger();
    const files = install(first.server('c'), 'broken');
    const bound = await serve(files, logger);
    const before = (await get(bound.port, first.cert)).peer.fingerprint256;
    // A renewal caught half-way: the new certificate beside the old key.
    copyFileSync(second.server('c').certFile, files.certFile);
    await until(() => Promise.resolve(lines.some((l) => l['msg'] === 'TLS certificate not reloaded')));
    const after = await get(bound.port, first.cert);
    expect(after.status).toBe(200);
    expect(after.peer.fingerprint256).toBe(before);
    writeFileSync(files.keyFile, 'not a key');
    const refusals = (): number => lines.filter((l) => l['msg'] === 'TLS certificate not reloaded').length;
    await until(() => Promise.resolve(refusals() === 2));
    expect((await get(bound.port, first.cert)).status).toBe(200);
    // Mended: the next turn loads it; each broken state was reported once however many turns it lasted.
    install(second.server('c2'), 'broken');
    await until(() => Promise.resolve(lines.some((l) => l['msg'] === 'TLS certificate reloaded')));
    expect((await get(bound.port, second.cert)).status).toBe(200);
    expect(refusals()).toBe(2);
  });

  it('refuses to start on a key that does not match its certificate', async () => {
    const a = first.server('d');
    const b = first.server('e');
    const app = createGatewayApp({ logger: capturingLogger().logger, routes: [], ready: () => true });
    await expect(
      listen(app, '127.0.0.1:0', { tls: { certFile: a.certFile, keyFile: b.keyFile, reloadMs: 20 } }),
    ).rejects.toThrow(/key values mismatch|mismatch/);
  });

  it('refuses to start without its certificate file, naming it', async () => {
    const app = createGatewayApp({ logger: capturingLogger().logger, routes: [], ready: () => true });
    const missing = join(dir.path, 'missing.crt');
    await expect(
      listen(app, '127.0.0.1:0', { tls: { certFile: missing, keyFile: missing, reloadMs: 20 } }),
    ).rejects.toThrow(missing);
  });
});
