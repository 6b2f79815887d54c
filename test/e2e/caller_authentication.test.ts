/**
 * Who may call the sidecar's gRPC services: by default only who can open its
 * Unix socket (0660); on TCP only callers with a configured token or a client
 * certificate of the configured CA (mutual TLS, certificates re-read on change).
 */
import { copyFileSync, lstatSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCertificateAuthority } from '../harness/certificates.js';
import { TestClient } from '../harness/grpc_client.js';
import { startTestSidecar, TEST_CALLER_TOKEN } from '../harness/sidecar.js';
import type { TestSidecar } from '../harness/sidecar.js';
import { makeTempDir } from '../harness/temp_dir.js';

const request = { tenant: 'acme', subject: { user_id: 'u1' }, action: { name: 'read' }, resource: { type: 'doc' } };

/** Whatever the call answers, as long as it was let in: the tenant is unknown to this empty store. */
async function letIn(client: TestClient): Promise<boolean> {
  const failure = await client.failure(client.check(request));
  return failure.reason === 'TENANT_UNKNOWN';
}

describe('caller tokens', () => {
  let t: TestSidecar;
  const clients: TestClient[] = [];
  const client = (target: string, callerToken?: string): TestClient => {
    const c = new TestClient(target, { callerToken });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    t = await startTestSidecar();
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await t.stop();
  });

  it('a call without the token, or with another one, is refused with CALLER_UNAUTHENTICATED', async () => {
    const tcp = `127.0.0.1:${String(t.sidecar.addresses.tcpPort)}`;
    for (const caller of [client(tcp), client(tcp, 'not-the-token'), client(tcp, `${TEST_CALLER_TOKEN} `)]) {
      expect(await caller.failure(caller.check(request))).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'CALLER_UNAUTHENTICATED',
      });
      expect(
        await caller.failure(caller.batchCheck({ tenant: 'acme', subject: { user_id: 'u1' }, items: [request] })),
      ).toMatchObject({ code: status.UNAUTHENTICATED, reason: 'CALLER_UNAUTHENTICATED' });
      expect(await caller.watch({ tenant: 'acme' }).ended).toMatchObject({
        code: status.UNAUTHENTICATED,
        reason: 'CALLER_UNAUTHENTICATED',
      });
    }
    expect(await letIn(client(tcp, TEST_CALLER_TOKEN))).toBe(true);
  });

  it('the token is asked on the Unix socket too once tokens are configured', async () => {
    const socket = `unix:${t.sidecar.addresses.socketPath ?? ''}`;
    const anonymous = client(socket);
    expect(await anonymous.failure(anonymous.check(request))).toMatchObject({ reason: 'CALLER_UNAUTHENTICATED' });
    expect(await letIn(client(socket, TEST_CALLER_TOKEN))).toBe(true);
  });

  it('the Unix socket is open to its owner and group only (0660)', () => {
    expect(statSync(t.sidecar.addresses.socketPath ?? '').mode & 0o777).toBe(0o660);
  });
});

describe('the Unix socket', () => {
  it('is created with its mode from the start, whatever the umask, and never follows a planted symlink', async () => {
    const dir = makeTempDir('ipsie-socket-');
    const target = join(dir.path, 'not-a-socket');
    writeFileSync(target, 'x', { mode: 0o644 });
    const socket = join(dir.path, 'check.sock');
    symlinkSync(target, socket);
    const umask = process.umask(0);
    let t: TestSidecar | undefined;
    try {
      t = await startTestSidecar({ env: { IPSIE_GRPC_SOCKET: socket } });
    } finally {
      process.umask(umask);
    }
    try {
      expect(lstatSync(socket).isSocket()).toBe(true);
      expect(lstatSync(socket).mode & 0o777).toBe(0o660);
      expect(statSync(target).mode & 0o777).toBe(0o644);
    } finally {
      await t.stop();
      dir.remove();
    }
  });
});

describe('mutual TLS on TCP', () => {
  const dir = makeTempDir('ipsie-mtls-');
  const ca = new TestCertificateAuthority(dir.path, 'one');
  const other = new TestCertificateAuthority(dir.path, 'other');
  const serverFiles = { cert: join(dir.path, 'tls.crt'), key: join(dir.path, 'tls.key'), ca: join(dir.path, 'ca.crt') };
  let t: TestSidecar;
  let target = '';
  const clients: TestClient[] = [];
  const client = (tls: ConstructorParameters<typeof TestClient>[1]): TestClient => {
    const c = new TestClient(target, tls);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const server = ca.server('sidecar');
    copyFileSync(server.certFile, serverFiles.cert);
    copyFileSync(server.keyFile, serverFiles.key);
    copyFileSync(ca.certFile, serverFiles.ca);
    t = await startTestSidecar({
      env: {
        IPSIE_GRPC_CALLER_TOKEN_SHA256: '',
        IPSIE_GRPC_TLS_CERT_FILE: serverFiles.cert,
        IPSIE_GRPC_TLS_KEY_FILE: serverFiles.key,
        IPSIE_GRPC_TLS_CLIENT_CA_FILE: serverFiles.ca,
        IPSIE_GRPC_TLS_RELOAD_MS: '100',
      },
    });
    target = `localhost:${String(t.sidecar.addresses.tcpPort)}`;
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await t.stop();
    dir.remove();
  });

  it('answers a client with a certificate of the CA, and refuses one without or from another CA', async () => {
    const app = ca.client('app');
    expect(await letIn(client({ tls: { ca: ca.cert, cert: app.cert, key: app.key } }))).toBe(true);

    const anonymous = client({ tls: { ca: ca.cert } });
    expect(await anonymous.failure(anonymous.check(request))).toMatchObject({ code: status.UNAVAILABLE });
    const stranger = other.client('stranger');
    const foreign = client({ tls: { ca: ca.cert, cert: stranger.cert, key: stranger.key } });
    expect(await foreign.failure(foreign.check(request))).toMatchObject({ code: status.UNAVAILABLE });
    // A plaintext client never reaches the service.
    const plain = client({});
    expect(await plain.failure(plain.check(request))).toMatchObject({ code: status.UNAVAILABLE });
  });

  it('serves a rotated certificate and client CA without a restart', async () => {
    const rotated = other.server('sidecar-2');
    copyFileSync(rotated.certFile, serverFiles.cert);
    copyFileSync(rotated.keyFile, serverFiles.key);
    copyFileSync(other.certFile, serverFiles.ca);
    const app = other.client('app-2');
    const deadline = Date.now() + 10_000;
    let accepted = false;
    while (!accepted && Date.now() < deadline) {
      // A new client each time: a connection made before the rotation keeps its session.
      accepted = await letIn(client({ tls: { ca: other.cert, cert: app.cert, key: app.key } }));
      if (!accepted) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(accepted).toBe(true);
    const old = ca.client('app-old');
    const before = client({ tls: { ca: ca.cert, cert: old.cert, key: old.key } });
    expect(await before.failure(before.check(request))).toMatchObject({ code: status.UNAVAILABLE });
  });
});

describe('TLS files at start', () => {
  it('a certificate that cannot be read stops the start with ERR_CONFIG_INVALID instead of a listener refusing every handshake', async () => {
    const dir = makeTempDir('ipsie-mtls-missing-');
    try {
      const ca = new TestCertificateAuthority(dir.path, 'one');
      await expect(
        startTestSidecar({
          env: {
            IPSIE_GRPC_CALLER_TOKEN_SHA256: '',
            IPSIE_GRPC_TLS_CERT_FILE: join(dir.path, 'absent.crt'),
            IPSIE_GRPC_TLS_KEY_FILE: join(dir.path, 'absent.key'),
            IPSIE_GRPC_TLS_CLIENT_CA_FILE: ca.certFile,
          },
        }),
      ).rejects.toMatchObject({
        code: 'ERR_CONFIG_INVALID',
        keys: ['IPSIE_GRPC_TLS_CERT_FILE', 'IPSIE_GRPC_TLS_KEY_FILE'],
      });
    } finally {
      dir.remove();
    }
  });
});
