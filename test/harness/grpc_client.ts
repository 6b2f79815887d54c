import type { ServiceError } from '@grpc/grpc-js';
import { createAuthorizationClient, errorReasonOf } from '../../src/check/index.js';
import type {
  AuthorizationClient,
  BatchCheckRequestMessage,
  BatchCheckResponseMessage,
  CheckRequestMessage,
  CheckResponseMessage,
} from '../../src/check/index.js';

/** The gRPC failure a call ended with, reduced to what tests assert on. */
export interface CallFailure {
  readonly code: number;
  readonly reason: string | undefined;
  readonly details: string;
}

/** A promise-based client of the real gRPC service. */
export class TestClient {
  readonly raw: AuthorizationClient;

  constructor(target: string) {
    this.raw = createAuthorizationClient(target);
  }

  check(request: CheckRequestMessage): Promise<CheckResponseMessage> {
    return new Promise((resolve, reject) => {
      this.raw.check(request, (error, response) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new Error('no response'));
        else resolve(response);
      });
    });
  }

  batchCheck(request: BatchCheckRequestMessage): Promise<BatchCheckResponseMessage> {
    return new Promise((resolve, reject) => {
      this.raw.batchCheck(request, (error, response) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new Error('no response'));
        else resolve(response);
      });
    });
  }

  /** Runs a call that must fail and returns its status and ErrorInfo reason. */
  async failure(call: Promise<unknown>): Promise<CallFailure> {
    try {
      await call;
    } catch (error) {
      const e = error as ServiceError;
      return { code: e.code, reason: errorReasonOf(e), details: e.details };
    }
    throw new Error('the call succeeded but was expected to fail');
  }

  close(): void {
    this.raw.close();
  }
}
