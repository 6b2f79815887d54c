import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files of one certificate and its key. */
export interface IssuedCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

function openssl(dir: string, args: readonly string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/**
 * A throwaway certificate authority made with the openssl CLI (EC P-256),
 * issuing server certificates for 127.0.0.1 and client certificates.
 */
export class TestCertificateAuthority {
  readonly certFile: string;
  readonly cert: Buffer;
  readonly #dir: string;
  readonly #name: string;
  readonly #keyFile: string;

  constructor(dir: string, name: string) {
    this.#dir = dir;
    this.#name = name;
    this.#keyFile = join(dir, `${name}-ca.key`);
    this.certFile = join(dir, `${name}-ca.crt`);
    openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', this.#keyFile]);
    openssl(dir, [
      'req',
      '-x509',
      '-new',
      '-key',
      this.#keyFile,
      '-days',
      '2',
      '-subj',
      `/CN=${name} test CA`,
      '-out',
      this.certFile,
    ]);
    this.cert = readFileSync(this.certFile);
  }

  /** A server certificate for 127.0.0.1 and localhost. */
  server(name: string): IssuedCertificate {
    return this.#issue(name, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth');
  }

  client(name: string): IssuedCertificate {
    return this.#issue(name, 'extendedKeyUsage=clientAuth');
  }

  #issue(name: string, extensions: string): IssuedCertificate {
    const base = join(this.#dir, `${this.#name}-${name}`);
    const extFile = `${base}.ext`;
    execFileSync('sh', ['-c', `printf '%s\\n' "$1" > "$2"`, 'sh', extensions, extFile]);
    openssl(this.#dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${base}.key`]);
    openssl(this.#dir, ['req', '-new', '-key', `${base}.key`, '-subj', `/CN=${name}`, '-out', `${base}.csr`]);
    openssl(this.#dir, [
      'x509',
      '-req',
      '-in',
      `${base}.csr`,
      '-CA',
      this.certFile,
      '-CAkey',
      this.#keyFile,
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      extFile,
      '-out',
      `${base}.crt`,
    ]);
    return {
      certFile: `${base}.crt`,
      keyFile: `${base}.key`,
      cert: readFileSync(`${base}.crt`),
      key: readFileSync(`${base}.key`),
    };
  }
}
