import type { ServiceError } from '@grpc/grpc-js';
import { createAuthorizationClient, errorReasonOf } from '../../src/check/index.js';
import type {
  AuthorizationClient,
  AuthorizationClientOptions,
  BatchCheckRequestMessage,
  BatchCheckResponseMessage,
  CheckRequestMessage,
  CheckResponseMessage,
  CreateSamlRequestMessage,
  CreateSamlResponseMessage,
  SessionEventMessage,
  StartSessionRequestMessage,
  StartSessionResponseMessage,
  WatchSessionsRequestMessage,
} from '../../src/check/index.js';

/** A live WatchSessions call. */
export interface Watch {
  /** Resolves when the server has confirmed the watch (response headers). */
  readonly ready: Promise<void>;
  readonly events: SessionEventMessage[];
  /** Resolves with the next event not yet returned, or rejects with the call's error. */
  next(timeoutMs?: number): Promise<SessionEventMessage>;
  /** Resolves with the call's final failure. */
  readonly ended: Promise<CallFailure | undefined>;
  cancel(): void;
}

/** The gRPC failure a call ended with, reduced to what tests assert on. */
export interface CallFailure {
  readonly code: number;
  readonly reason: string | undefined;
  readonly details: string;
}

/** A promise-based client of the real gRPC service. */
export class TestClient {
  readonly raw: AuthorizationClient;

  constructor(target: string, options: AuthorizationClientOptions = {}) {
    this.raw = createAuthorizationClient(target, options);
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

  /** `deadlineMs`: the call's gRPC deadline from now (DEADLINE_EXCEEDED after it). @defaultValue none */
  startSession(
    request: StartSessionRequestMessage,
    options: { deadlineMs?: number } = {},
  ): Promise<StartSessionResponseMessage> {
    const callOptions = options.deadlineMs === undefined ? {} : { deadline: Date.now() + options.deadlineMs };
    return new Promise((resolve, reject) => {
      this.raw.startSession(request, callOptions, (error, response) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new Error('no response'));
        else resolve(response);
      });
    });
  }

  createSamlRequest(request: CreateSamlRequestMessage): Promise<CreateSamlResponseMessage> {
    return new Promise((resolve, reject) => {
      this.raw.createSamlRequest(request, (error, response) => {
        if (error !== null) reject(error);
        else if (response === undefined) reject(new Error('no response'));
        else resolve(response);
      });
    });
  }

  watch(request: WatchSessionsRequestMessage): Watch {
    const call = this.raw.watchSessions(request);
    const events: SessionEventMessage[] = [];
    let taken = 0;
    let wake: (() => void) | undefined;
    let failure: CallFailure | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      call.once('metadata', () => {
        resolve();
      });
      call.once('error', reject);
    });
    // A watch that fails at once is observed through `ended`; `ready` need not be awaited.
    ready.catch(() => undefined);
    const ended = new Promise<CallFailure | undefined>((resolve) => {
      call.on('error', (error: ServiceError) => {
        failure = { code: error.code, reason: errorReasonOf(error), details: error.details };
        wake?.();
        resolve(failure);
      });
      call.on('end', () => {
        wake?.();
        resolve(undefined);
      });
    });
    call.on('data', (event: SessionEventMessage) => {
      events.push(event);
      wake?.();
    });
    const next = async (timeoutMs = 10_000): Promise<SessionEventMessage> => {
      const deadline = Date.now() + timeoutMs;
      while (events.length <= taken) {
        if (failure !== undefined) throw new Error(`watch failed: ${failure.reason ?? failure.details}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no session event in time');
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, left);
        });
      }
      return events[taken++]!;
    };
    return {
      ready,
      events,
      next,
      ended,
      cancel: () => {
        call.cancel();
      },
    };
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
