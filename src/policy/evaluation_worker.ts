/**
 * The body of one policy-evaluation worker thread (evaluation_pool.ts).
 *
 * It runs from its own source text (`new Worker(text, { eval: true })`), so
 * the same code starts whether the process runs the compiled JavaScript or
 * the TypeScript sources: it must be self-contained. Everything it needs
 * arrives through `workerData` (the SDK's resolved path) and messages; it
 * reaches modules with `require`, which an eval worker has.
 */

import type * as OpaWasm from '@open-policy-agent/opa-wasm';
import type * as Path from 'node:path';
import type { CompiledWasm } from './evaluation_pool.js';
import type * as WorkerThreads from 'node:worker_threads';

/** Main thread -> worker. */
export type ToWorker =
  | {
      readonly type: 'load';
      readonly key: string;
      /** Compiled by the pool, shared by its workers. */
      readonly wasm: CompiledWasm;
      readonly data: Record<string, unknown>;
      readonly memory: { readonly initial: number; readonly maximum: number };
    }
  | { readonly type: 'unload'; readonly key: string }
  | {
      readonly type: 'evaluate';
      readonly id: number;
      readonly key: string;
      readonly entrypoint: string;
      readonly input: ArrayBuffer;
    };

/** Worker -> main thread, on the worker's own port. */
export interface FromWorker {
  readonly type: 'loaded';
  readonly key: string;
  readonly error: string | undefined;
}

/** Worker -> main thread, on the `answers` port: the outcome of one evaluation. */
export type EvaluationAnswer =
  | { readonly type: 'result'; readonly id: number; readonly resultSet: unknown }
  /**
   * `builtin`: a builtin the JavaScript SDK implements threw (e.g. sprintf on a bad format): the policy asked
   * for something invalid. `abort`: the Wasm runtime aborted (a Rego conflict, memory exhausted).
   */
  | { readonly type: 'failed'; readonly id: number; readonly message: string; readonly origin: 'abort' | 'builtin' };

export interface WorkerData {
  /** Absolute path of `@open-policy-agent/opa-wasm`'s CommonJS entry. */
  readonly sdkPath: string;
  /**
   * Where evaluation outcomes go: a port of their own, which the main thread can read synchronously
   * (`receiveMessageOnPort`) when an evaluation's budget timer fires.
   */
  readonly answers: WorkerThreads.MessagePort;
}

/* eslint-disable @typescript-eslint/no-require-imports -- an eval worker is CommonJS: require is its import */
export function evaluationWorkerMain(): void {
  const threads = require('node:worker_threads') as typeof WorkerThreads;
  const port = threads.parentPort;
  const { sdkPath, answers } = threads.workerData as WorkerData;
  const sdk = require(sdkPath) as typeof OpaWasm;
  // sprintf runs as JavaScript (sprintf-js), outside the Wasm memory cap, and a width such as %300000000s
  // allocates that much at once (a process-wide out-of-memory, which no worker heap limit catches). The SDK
  // looks builtins up at call time in this object: bound sprintf's widths and precisions there.
  const path = require('node:path') as typeof Path;
  const builtins = require(path.join(path.dirname(sdkPath), 'builtins', 'index.js')) as Record<
    string,
    ((...args: unknown[]) => unknown) | undefined
  >;
  const sprintf = builtins['sprintf'];
  if (sprintf === undefined) throw new Error(`the policy SDK at ${sdkPath} has no sprintf builtin where expected`);
  builtins['sprintf'] = (format: unknown, values: unknown): unknown => {
    if (typeof format === 'string' && /%[^a-zA-Z%]*\d{4,}/.test(format)) {
      throw new Error('sprintf: widths and precisions above 999 are not allowed');
    }
    return sprintf(format, values);
  };
  type Loaded = Extract<ToWorker, { type: 'load' }> & { instance: OpaWasm.LoadedPolicy };
  const policies = new Map<string, Loaded>();
  /** Policies being instantiated afresh after a failed evaluation: their evaluations wait. */
  const renewing = new Map<string, Promise<void>>();
  if (port === null) return;
  const reply = (message: FromWorker): void => {
    port.postMessage(message);
  };
  const answer = (message: EvaluationAnswer): void => {
    answers.postMessage(message);
  };
  const instantiate = async (load: Extract<ToWorker, { type: 'load' }>): Promise<Loaded> => {
    const instance = await sdk.loadPolicy(load.wasm, load.memory);
    instance.setData(load.data);
    return { ...load, instance };
  };
  const evaluate = (message: Extract<ToWorker, { type: 'evaluate' }>): void => {
    const waiting = renewing.get(message.key);
    if (waiting !== undefined) {
      void waiting.then(() => {
        evaluate(message);
      });
      return;
    }
    const policy = policies.get(message.key);
    if (policy === undefined) {
      answer({ type: 'failed', id: message.id, message: `no policy ${message.key} in this worker`, origin: 'abort' });
      return;
    }
    try {
      answer({
        type: 'result',
        id: message.id,
        resultSet: policy.instance.evaluate(message.input, message.entrypoint),
      });
    } catch (error) {
      // The SDK throws strings for Rego aborts ("authz.rego:5:1: var assignment conflict", "opa_malloc: failed").
      answer({
        type: 'failed',
        id: message.id,
        message: typeof error === 'string' ? error : error instanceof Error ? error.message : String(error),
        // The runtime aborts with a string; the SDK's JavaScript builtins throw Errors.
        origin: typeof error === 'string' ? 'abort' : 'builtin',
      });
      // A failed evaluation may leave its instance's memory grown to the maximum: start it afresh.
      renewing.set(
        message.key,
        instantiate(policy)
          .then((fresh) => {
            if (policies.get(message.key) === policy) policies.set(message.key, fresh);
          })
          .catch(() => undefined)
          .finally(() => renewing.delete(message.key)),
      );
    }
  };
  port.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'load':
        instantiate(message)
          .then((loaded) => {
            policies.set(message.key, loaded);
            reply({ type: 'loaded', key: message.key, error: undefined });
          })
          .catch((error: unknown) => {
            reply({ type: 'loaded', key: message.key, error: String(error) });
          });
        return;
      case 'unload':
        policies.delete(message.key);
        return;
      case 'evaluate':
        evaluate(message);
        return;
    }
  });
}
/* eslint-enable @typescript-eslint/no-require-imports */
