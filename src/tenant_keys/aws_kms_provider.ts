import { DecryptCommand, GenerateDataKeyCommand, KMSClient, ReEncryptCommand } from '@aws-sdk/client-kms';
import { TenantKeyError } from './errors.js';
import type { GeneratedDataKey, KeyContext, KeyProvider } from './key_provider.js';
import { KEY_BYTES } from './tenant_cipher.js';

export interface AwsKmsProviderOptions {
  /** The KMS endpoint; undefined: the SDK's (`AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`, or AWS's for the region). */
  readonly endpoint?: string | undefined;
  /** The region; undefined: the SDK's (`AWS_REGION`, the shared config file). */
  readonly region?: string | undefined;
  /** Longest one KMS request may take, in ms. @defaultValue 5000 */
  readonly requestTimeoutMs?: number;
  /** Attempts per call, retries of throttling and transport errors included. @defaultValue 3 */
  readonly maxAttempts?: number;
}

/**
 * Customer-managed keys in AWS KMS (or a KMS-compatible server), through the
 * official SDK: GenerateDataKey (AES_256), Decrypt and ReEncrypt, each with
 * the context as the encryption context (KMS authenticates it and records it
 * in CloudTrail). Credentials come from the SDK's standard chain.
 */
export class AwsKmsProvider implements KeyProvider {
  readonly kind = 'aws_kms';
  readonly #client: KMSClient;

  constructor(options: AwsKmsProviderOptions = {}) {
    this.#client = new KMSClient({
      ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
      ...(options.region === undefined ? {} : { region: options.region }),
      maxAttempts: options.maxAttempts ?? 3,
      requestHandler: { requestTimeout: options.requestTimeoutMs ?? 5_000, connectionTimeout: 2_000 },
    });
  }

  async generateDataKey(keyId: string, context: KeyContext): Promise<GeneratedDataKey> {
    const answer = await this.#send(
      context,
      async () =>
        await this.#client.send(
          new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } }),
        ),
    );
    if (answer.Plaintext?.byteLength !== KEY_BYTES || answer.CiphertextBlob === undefined) {
      throw failed(context, 'KMS GenerateDataKey answered without a 32-byte key');
    }
    return { plaintext: answer.Plaintext, wrapped: Buffer.from(answer.CiphertextBlob).toString('base64') };
  }

  async unwrap(keyId: string, wrapped: string, context: KeyContext): Promise<Uint8Array> {
    const answer = await this.#send(
      context,
      async () =>
        await this.#client.send(
          new DecryptCommand({
            KeyId: keyId,
            CiphertextBlob: Buffer.from(wrapped, 'base64'),
            EncryptionContext: { ...context },
          }),
        ),
    );
    if (answer.Plaintext?.byteLength !== KEY_BYTES) throw failed(context, 'KMS Decrypt answered without a 32-byte key');
    return answer.Plaintext;
  }

  async rewrap(wrapped: string, fromKeyId: string, toKeyId: string, context: KeyContext): Promise<string> {
    const answer = await this.#send(
      context,
      async () =>
        await this.#client.send(
          new ReEncryptCommand({
            CiphertextBlob: Buffer.from(wrapped, 'base64'),
            SourceKeyId: fromKeyId,
            SourceEncryptionContext: { ...context },
            DestinationKeyId: toKeyId,
            DestinationEncryptionContext: { ...context },
          }),
        ),
    );
    if (answer.CiphertextBlob === undefined) throw failed(context, 'KMS ReEncrypt answered without a wrapped key');
    return Buffer.from(answer.CiphertextBlob).toString('base64');
  }

  /** Stops the client's connections. */
  destroy(): void {
    this.#client.destroy();
  }

  async #send<T>(context: KeyContext, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (cause) {
      throw kmsError(context, cause);
    }
  }
}

/** KMS exceptions that mean the key cannot be used by us: the tenant's data is unreadable until restored. */
const REVOKED = new Set([
  'DisabledException',
  'KMSInvalidStateException',
  'NotFoundException',
  'AccessDeniedException',
  'InvalidKeyUsageException',
]);
/** Transient: the service, the key's HSMs or the network, or our own rate. */
const UNAVAILABLE = new Set([
  'KeyUnavailableException',
  'DependencyTimeoutException',
  'KMSInternalException',
  'ThrottlingException',
  'LimitExceededException',
  'RequestLimitExceeded',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
]);
/** Node's socket errors: nothing answered. */
const TRANSPORT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
]);

function kmsError(context: KeyContext, cause: unknown): TenantKeyError {
  const error = (typeof cause === 'object' && cause !== null ? cause : {}) as {
    name?: unknown;
    code?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const name = typeof error.name === 'string' ? error.name : '';
  const code = typeof error.code === 'string' ? error.code : '';
  const status = error.$metadata?.httpStatusCode;
  const message = `KMS: ${name || code || 'error'}`;
  if (REVOKED.has(name)) return new TenantKeyError('ERR_TENANT_KEY_REVOKED', context.tenant, message, { cause });
  if (
    UNAVAILABLE.has(name) ||
    TRANSPORT.has(code) ||
    (typeof status === 'number' && (status >= 500 || status === 429)) ||
    // Refused before reaching KMS with no status: a socket that never answered (the SDK names those variously).
    (status === undefined && (name === 'Error' || name === 'AbortError' || TRANSPORT.has(name)))
  ) {
    return new TenantKeyError('ERR_TENANT_KEY_UNAVAILABLE', context.tenant, message, { cause, retryAfterS: 5 });
  }
  return failed(context, message, cause);
}

function failed(context: KeyContext, message: string, cause?: unknown): TenantKeyError {
  return new TenantKeyError(
    'ERR_TENANT_KEY_PROVIDER_FAILED',
    context.tenant,
    message,
    cause === undefined ? undefined : { cause },
  );
}
