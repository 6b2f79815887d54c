/**
 * A REAL SAML IdP: SimpleSAMLphp from Debian's package (scripts/setup.sh installs it), started with
 * `php -S` on loopback over its www directory with a generated configuration - the exampleauth static users,
 * a hosted SAML 2.0 IdP signing with a throwaway key, and our SP as its one remote SP. `signIn` walks the real
 * browser flow over HTTP: AuthnRequest -> login form -> POST of the credentials -> the auto-submitting form
 * carrying the SAMLResponse to our ACS.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { samlKeyPair } from './saml_idp.js';
import { makeTempDir } from './temp_dir.js';

export const SIMPLESAMLPHP_WWW = '/usr/share/simplesamlphp/www';

/** Whether SimpleSAMLphp and PHP are installed here (scripts/setup.sh installs both). */
export function simpleSamlPhpAvailable(): boolean {
  return existsSync(join(SIMPLESAMLPHP_WWW, 'saml2/idp/SSOService.php')) && existsSync('/usr/bin/php');
}

export interface SspUser {
  readonly password: string;
  readonly attributes: Readonly<Record<string, readonly string[]>>;
}

export interface SspOptions {
  readonly spEntityId: string;
  readonly acsUrl: string;
  readonly sloUrl?: string;
  /** username -> password and attributes (uid names the persistent NameID). */
  readonly users: Readonly<Record<string, SspUser>>;
  readonly authnContextClassRef?: string;
  /** A second SP the IdP encrypts assertions to (`assertion.encryption`), with the certificate to use. */
  readonly encryptingSp?: { readonly spEntityId: string; readonly acsUrl: string; readonly cert: string };
}

const php = (value: unknown): string => JSON.stringify(value).replace(/\$/g, '\\$');

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

export class SimpleSamlPhp {
  readonly origin: string;
  readonly entityId: string;
  readonly metadataUrl: string;
  readonly #process: ChildProcess;
  readonly #dir: { path: string; remove: () => void };
  #stderr = '';

  private constructor(origin: string, process: ChildProcess, dir: { path: string; remove: () => void }) {
    this.origin = origin;
    this.entityId = `${origin}/saml2/idp/metadata.php`;
    this.metadataUrl = this.entityId;
    this.#process = process;
    this.#dir = dir;
    process.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-20_000);
    });
  }

  static async start(options: SspOptions): Promise<SimpleSamlPhp> {
    const dir = makeTempDir('ipsie-ssp-');
    const port = await freePort();
    const origin = `http://127.0.0.1:${port}`;
    for (const sub of ['cert', 'log', 'data', 'tmp', 'metadata', 'sessions']) mkdirSync(join(dir.path, sub));
    const keys = samlKeyPair('simplesamlphp-idp');
    writeFileSync(join(dir.path, 'cert', 'idp.key'), keys.key);
    writeFileSync(join(dir.path, 'cert', 'idp.crt'), keys.cert);
    const p = (sub: string): string => `${join(dir.path, sub)}/`;
    writeFileSync(
      join(dir.path, 'config.php'),
      `<?php
$config = [
  'baseurlpath' => ${php(`${origin}/`)},
  'certdir' => ${php(p('cert'))},
  'loggingdir' => ${php(p('log'))},
  'datadir' => ${php(p('data'))},
  'tempdir' => ${php(join(dir.path, 'tmp'))},
  'metadatadir' => ${php(p('metadata'))},
  'technicalcontact_name' => 'Test',
  'technicalcontact_email' => 'test@example.org',
  'secretsalt' => ${php(randomBytes(16).toString('hex'))},
  'auth.adminpassword' => ${php(randomBytes(16).toString('hex'))},
  'admin.protectindexpage' => false,
  'admin.protectmetadata' => false,
  'timezone' => 'UTC',
  'logging.level' => SimpleSAML\\Logger::WARNING,
  'logging.handler' => 'errorlog',
  'enable.saml20-idp' => true,
  'module.enable' => ['exampleauth' => true, 'core' => true, 'saml' => true],
  'session.cookie.secure' => false,
  'session.phpsession.cookiename' => 'SSPSESSID',
  'store.type' => 'phpsession',
  'metadata.sources' => [['type' => 'flatfile']],
  'language.default' => 'en',
];
`,
    );
    const users = Object.fromEntries(
      Object.entries(options.users).map(([name, u]) => [`${name}:${u.password}`, u.attributes]),
    );
    writeFileSync(
      join(dir.path, 'authsources.php'),
      `<?php
$config = [
  'admin' => ['core:AdminPassword'],
  'example-userpass' => array_merge(['exampleauth:UserPass'], json_decode(${php(JSON.stringify(users))}, true)),
];
`,
    );
    writeFileSync(
      join(dir.path, 'metadata', 'saml20-idp-hosted.php'),
      `<?php
$metadata['__DYNAMIC:1__'] = [
  'host' => '__DEFAULT__',
  'privatekey' => 'idp.key',
  'certificate' => 'idp.crt',
  'auth' => 'example-userpass',
  'saml20.sign.assertion' => true,
  'AuthnContextClassRef' => ${php(options.authnContextClassRef ?? 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport')},
];
`,
    );
    writeFileSync(
      join(dir.path, 'metadata', 'saml20-sp-remote.php'),
      `<?php
$metadata[${php(options.spEntityId)}] = [
  'AssertionConsumerService' => ${php(options.acsUrl)},
  ${
    options.sloUrl === undefined
      ? ''
      : `'SingleLogoutService' => [['Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST', 'Location' => ${php(options.sloUrl)}]],`
  }
  'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  'simplesaml.nameidattribute' => 'uid',
  'simplesaml.attributes' => true,
  'sign.logout' => true,
];
${
  options.encryptingSp === undefined
    ? ''
    : `$metadata[${php(options.encryptingSp.spEntityId)}] = [
  'AssertionConsumerService' => ${php(options.encryptingSp.acsUrl)},
  'NameIDFormat' => 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  'simplesaml.nameidattribute' => 'uid',
  'simplesaml.attributes' => true,
  'assertion.encryption' => true,
  'certData' => ${php(options.encryptingSp.cert.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''))},
];`
}
`,
    );
    const child = spawn(
      'php',
      ['-d', `session.save_path=${join(dir.path, 'sessions')}`, '-S', `127.0.0.1:${port}`, '-t', SIMPLESAMLPHP_WWW],
      { env: { ...process.env, SIMPLESAMLPHP_CONFIG_DIR: dir.path }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const idp = new SimpleSamlPhp(origin, child, dir);
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const response = await fetch(idp.metadataUrl);
        if (response.ok && (await response.text()).includes('IDPSSODescriptor')) return idp;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline || child.exitCode !== null) {
        await idp.stop();
        throw new Error(`SimpleSAMLphp did not start: ${idp.#stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** What PHP wrote to stderr lately (for failing tests). */
  get log(): string {
    return this.#stderr;
  }

  /**
   * A browser: follows `redirectUrl` (our AuthnRequest), logs in on the IdP's own form when it shows it (with a
   * live IdP session it does not, unless ForceAuthn), and returns the form the IdP posts to our ACS.
   */
  async signIn(
    redirectUrl: string,
    credentials: { username: string; password: string },
    cookies = new Map<string, string>(),
  ): Promise<{ samlResponse: string; relayState: string | undefined; action: string; loginFormShown: boolean }> {
    let url = redirectUrl;
    let init: RequestInit = {};
    let loginFormShown = false;
    for (let hop = 0; hop < 20; hop++) {
      const response = await fetch(url, {
        ...init,
        redirect: 'manual',
        headers: { ...(init.headers as Record<string, string> | undefined), cookie: cookieHeader(cookies) },
      });
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair?.indexOf('=') ?? -1;
        if (pair !== undefined && eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        url = new URL(location, url).toString();
        init = {};
        continue;
      }
      const html = await response.text();
      const samlResponse = inputValue(html, 'SAMLResponse');
      if (samlResponse !== undefined) {
        return {
          samlResponse,
          relayState: inputValue(html, 'RelayState'),
          action: decodeHtml(/<form[^>]*action="([^"]*)"/i.exec(html)?.[1] ?? ''),
          loginFormShown,
        };
      }
      const authState = inputValue(html, 'AuthState');
      if (authState !== undefined && html.includes('name="password"')) {
        if (loginFormShown) throw new Error('the IdP refused the credentials');
        loginFormShown = true;
        init = {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            username: credentials.username,
            password: credentials.password,
            AuthState: authState,
          }).toString(),
        };
        continue;
      }
      throw new Error(`unexpected IdP page (HTTP ${response.status}) at ${url}: ${html.slice(0, 500)} ${this.#stderr}`);
    }
    throw new Error('too many hops');
  }

  /**
   * IdP-initiated Single Logout in the browser that holds `cookies`: returns the signed LogoutRequest the IdP
   * posts (HTTP-POST binding) to our SP's SingleLogoutService.
   */
  async logout(cookies: Map<string, string>): Promise<{ samlRequest: string; action: string }> {
    let url = `${this.origin}/saml2/idp/SingleLogoutService.php?ReturnTo=${encodeURIComponent(`${this.origin}/logged-out`)}`;
    for (let hop = 0; hop < 20; hop++) {
      const response = await fetch(url, { redirect: 'manual', headers: { cookie: cookieHeader(cookies) } });
      for (const line of response.headers.getSetCookie()) {
        const [pair] = line.split(';');
        const eq = pair?.indexOf('=') ?? -1;
        if (pair !== undefined && eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        url = new URL(location, url).toString();
        continue;
      }
      const html = await response.text();
      const samlRequest = inputValue(html, 'SAMLRequest');
      if (samlRequest !== undefined) {
        return { samlRequest, action: decodeHtml(/<form[^>]*action="([^"]*)"/i.exec(html)?.[1] ?? '') };
      }
      // A page that loads the SPs' logouts in frames: follow the first.
      const frame = /<iframe[^>]*src="([^"]+)"/i.exec(html)?.[1];
      if (frame !== undefined) {
        url = new URL(decodeHtml(frame), url).toString();
        continue;
      }
      throw new Error(
        `unexpected IdP logout page (HTTP ${response.status}) at ${url}: ${html.slice(0, 800)} ${this.#stderr}`,
      );
    }
    throw new Error('too many hops');
  }

  async stop(): Promise<void> {
    if (this.#process.exitCode === null) {
      const exited = new Promise((resolve) => this.#process.once('exit', resolve));
      this.#process.kill('SIGTERM');
      await exited;
    }
    this.#dir.remove();
  }
}

function cookieHeader(cookies: Map<string, string>): string {
  return [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
}

function inputValue(html: string, name: string): string | undefined {
  const tag = new RegExp(`<input[^>]*name="${name}"[^>]*>`, 'i').exec(html)?.[0];
  const value = tag === undefined ? undefined : /value="([^"]*)"/i.exec(tag)?.[1];
  return value === undefined ? undefined : decodeHtml(value);
}

function decodeHtml(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#0*39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#x([0-9a-f]+);/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_m, d: string) => String.fromCharCode(Number(d)))
    .replace(/&amp;/g, '&');
}
