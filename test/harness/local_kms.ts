import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  KMSClient,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms';
import { freePort } from './nats_server.js';
import { PROJECT_ROOT } from './opa.js';
import { makeTempDir } from './temp_dir.js';

/** The region and the (dummy) credentials the tests sign KMS requests with; local-kms checks neither. */
export const LOCAL_KMS_REGION = 'eu-west-2';
export const LOCAL_KMS_CREDENTIALS = { accessKeyId: 'AKIDLOCALKMS', secretAccessKey: 'local-kms-secret' };

/** The AWS SDK's standard environment for a process that talks to `kms` (a role process started by a test). */
export function awsEnvironment(kms: LocalKms): Record<string, string> {
  return {
    AWS_REGION: LOCAL_KMS_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_KMS_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_KMS_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_KMS: kms.url,
  };
}

/** The pinned local-kms that scripts/setup.sh builds. */
export function localKmsPath(): string {
  const path = `${PROJECT_ROOT}.tools/bin/local-kms`;
  if (!existsSync(path)) throw new Error(`${path} is missing: run "npm test" (scripts/setup.sh builds it)`);
  return path;
}

/**
 * A real `local-kms` (the AWS KMS API, real AES) on a free port with its
 * database in a temp dir. Readiness is a KMS call answering, never a sleep.
 * `stop()` then `start()` keeps the port and the keys: the service going
 * away and coming back.
 */
export class LocalKms {
  readonly port: number;
  readonly #dir: ReturnType<typeof makeTempDir>;
  #process: ChildProcess | undefined;
  readonly client: KMSClient;

  private constructor(port: number, dir: ReturnType<typeof makeTempDir>) {
    this.port = port;
    this.#dir = dir;
    this.client = new KMSClient({
      endpoint: this.url,
      region: LOCAL_KMS_REGION,
      credentials: LOCAL_KMS_CREDENTIALS,
      maxAttempts: 1,
    });
  }

  static async start(): Promise<LocalKms> {
    const kms = new LocalKms(await freePort(), makeTempDir('ipsie-kms-'));
    await kms.start();
    return kms;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** A new symmetric key (`ENCRYPT_DECRYPT`); its id. */
  async createKey(): Promise<string> {
    const created = await this.client.send(new CreateKeyCommand({ Description: 'ipsie-sidecar test' }));
    const id = created.KeyMetadata?.KeyId;
    if (id === undefined) throw new Error('CreateKey answered no key id');
    return id;
  }

  async disableKey(keyId: string): Promise<void> {
    await this.client.send(new DisableKeyCommand({ KeyId: keyId }));
  }

  async enableKey(keyId: string): Promise<void> {
    await this.client.send(new EnableKeyCommand({ KeyId: keyId }));
  }

  async scheduleDeletion(keyId: string): Promise<void> {
    await this.client.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }));
  }

  /** Starts the service; nothing when it runs already. */
  async start(): Promise<void> {
    if (this.#process !== undefined && this.#process.exitCode === null) return;
    const child = spawn(localKmsPath(), [], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        PORT: String(this.port),
        KMS_REGION: LOCAL_KMS_REGION,
        KMS_ACCOUNT_ID: '111122223333',
        KMS_DATA_PATH: join(this.#dir.path, 'data'),
        KMS_SEED_PATH: join(this.#dir.path, 'no-seed.yaml'),
      },
    });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-4000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.#process = child;
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`local-kms exited with ${child.exitCode}: ${output}`);
      try {
        // Any KMS answer (here: the key does not exist) means it serves.
        const response = await fetch(this.url, {
          method: 'POST',
          headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'TrentService.ListKeys' },
          body: '{}',
        });
        if (response.status < 500) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`local-kms not answering after 15 s: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Stops the service (SIGTERM) and waits for it to exit; its keys stay on disk. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (child?.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    this.#process = undefined;
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.client.destroy();
    this.#dir.remove();
  }
}
