import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { EvaluationPoolClosedError, PolicyEvaluationError, PolicyOverloadedError } from './errors.js';
import { evaluationWorkerMain } from './evaluation_worker.js';
import type { EvaluationAnswer, FromWorker, ToWorker, WorkerData } from './evaluation_worker.js';

/** Wasm pages (64 KiB each): start small, cap what one tenant's policy may take. */
const MEMORY = { initial: 8, maximum: 2048 };

export const DEFAULT_EVALUATION_BUDGET_MS = 50;
/** Heap of one worker: a builtin that allocates past it ends the worker (which is replaced), not the process. */
const WORKER_HEAP_MB = 256;
/** How long a tenant whose evaluation ran out of budget or failed is held to one evaluation at a time. */
const PENALTY_MS = 10_000;
/**
 * A tenant that ran out of budget twice within {@link PENALTY_MS} may use this share of one worker's time,
 * measured as the evaluation time it is charged (a timed-out evaluation: its budget and what replacing
 * the worker costs, counted as a second budget): its heavy requests cannot keep the pool replacing workers.
 */
const THROTTLED_SHARE = 0.05;
/** Evaluations one tenant may have waiting; more are refused (RESOURCE_EXHAUSTED). */
const MAX_QUEUED_PER_TENANT = 1_024;

export interface EvaluationPoolOptions {
  /** Worker threads. @defaultValue the number of cores */
  readonly size?: number;
  /** Longest one evaluation may run, in ms, unless the tenant has its own. @defaultValue 50 */
  readonly budgetMs?: number;
  /** A tenant's own budget, in ms, when it has one. */
  readonly tenantBudgetMs?: (tenantId: string) => number | undefined;
  /** Told of every evaluation abandoned for running out of budget (logs, metrics). */
  readonly onTimeout?: (tenantId: string, budgetMs: number) => void;
  /** Told when a worker dies on its own (logs). */
  readonly onWorkerError?: (error: unknown) => void;
  /** The `@open-policy-agent/opa-wasm` entry the workers load. @defaultValue the installed one */
  readonly sdkPath?: string;
}

/** Workers dying this often (within {@link WORKER_FAILURE_WINDOW_MS}) are not replaced: the pool fails closed. */
const MAX_WORKER_FAILURES = 5;
const WORKER_FAILURE_WINDOW_MS = 10_000;

/** What one evaluation came to. */
export type EvaluationOutcome =
  | { readonly kind: 'result'; readonly resultSet: unknown }
  /** The SDK or the Wasm refused (a Rego conflict, a trap): its message. */
  | { readonly kind: 'failed'; readonly message: string; readonly origin: 'abort' | 'builtin' | 'worker' }
  /**
   * It ran longer than its budget: its worker was ended and replaced. `throttled`: it never ran; its
   * tenant keeps running out of budget, and its share of a worker did not allow it within one budget.
   */
  | { readonly kind: 'timeout'; readonly budgetMs: number; readonly throttled?: true };

interface Task {
  readonly id: number;
  readonly tenantId: string;
  readonly key: string;
  readonly entrypoint: string;
  readonly input: ArrayBuffer;
  /** performance.now() when it was queued. */
  readonly queuedAt: number;
  readonly resolve: (outcome: EvaluationOutcome) => void;
  readonly reject: (error: unknown) => void;
}

interface Slot {
  worker: Worker;
  /** Where the worker answers evaluations: read at once when the budget timer fires. */
  answers: MessagePort;
  /** Resolves once every loaded policy is in this worker. */
  ready: Promise<void>;
  task: Task | undefined;
  timer: NodeJS.Timeout | undefined;
  /** When the slot's evaluation was handed to its worker (performance.now()). */
  startedAt: number;
}

/** A compiled `WebAssembly.Module`: workers receive it by structured clone and instantiate it. */
export interface CompiledWasm {
  readonly __brand: 'WebAssembly.Module';
}

/** Node's global WebAssembly (not in the ES library this project compiles against). */
const wasmRuntime = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<CompiledWasm> } })
  .WebAssembly;

interface Loaded {
  /** Compiled once, shared by every worker (each instantiates it: no compile per worker or replacement). */
  readonly module: CompiledWasm;
  readonly data: Record<string, unknown>;
}

/** A throttled tenant's evaluation time: what it may still use, in ms, as of `at`. */
interface Allowance {
  credit: number;
  at: number;
}

/**
 * Evaluates tenant policies on worker threads, never on the event loop that
 * answers every tenant's calls. Each worker holds every loaded policy; an
 * evaluation is sent with its encoded input (transferred, not copied) and
 * must finish within its budget, or its worker is terminated and replaced and
 * the evaluation answers `timeout`. One tenant never holds every worker: it
 * may run at most `size - 1` evaluations at once (one, for a while after it
 * ran out of budget), and waiting tenants are served in turn.
 */
export class EvaluationPool {
  readonly size: number;
  readonly #budgetMs: number;
  readonly #tenantBudgetMs: (tenantId: string) => number | undefined;
  readonly #onTimeout: (tenantId: string, budgetMs: number) => void;
  readonly #onWorkerError: (error: unknown) => void;
  readonly #workerFailures: number[] = [];
  /** Set when workers keep dying: every evaluation fails with it rather than spin up more. */
  #broken: PolicyEvaluationError | undefined;
  readonly #slots: Slot[] = [];
  readonly #loaded = new Map<string, Loaded>();
  /** Waiting tasks per tenant, served round-robin. */
  readonly #queues = new Map<string, Task[]>();
  readonly #running = new Map<string, number>();
  readonly #penalizedUntil = new Map<string, number>();
  /** When each tenant last ran out of budget: a second time within the penalty throttles it. */
  readonly #lastTimeout = new Map<string, number>();
  readonly #allowances = new Map<string, Allowance>();
  /** Set while a dispatch waits for a throttled tenant's allowance to refill. */
  #refill: NodeJS.Timeout | undefined;
  readonly #source: string;
  readonly #sdkPath: string;
  #nextId = 1;
  #closed = false;

  constructor(options: EvaluationPoolOptions = {}) {
    const size = options.size ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1) throw new TypeError('size must be a positive integer');
    const budgetMs = options.budgetMs ?? DEFAULT_EVALUATION_BUDGET_MS;
    if (!(budgetMs > 0)) throw new TypeError('budgetMs must be positive');
    this.size = size;
    this.#budgetMs = budgetMs;
    this.#tenantBudgetMs = options.tenantBudgetMs ?? (() => undefined);
    this.#onTimeout = options.onTimeout ?? (() => undefined);
    this.#onWorkerError = options.onWorkerError ?? (() => undefined);
    // Run from TypeScript through tsx/esbuild, the function's text calls esbuild's `__name` helper (keepNames):
    // define it, as the identity, for the worker's own copy.
    this.#source = `const __name = (target) => target;\n(${evaluationWorkerMain.toString()})();`;
    this.#sdkPath = options.sdkPath ?? createRequire(import.meta.url).resolve('@open-policy-agent/opa-wasm');
    for (let i = 0; i < size; i++) this.#slots.push(this.#start());
  }

  /**
   * Loads a compiled policy into every worker under `key`.
   *
   * @throws {PolicyEvaluationError} the Wasm does not load
   */
  async load(key: string, wasm: Uint8Array, data: Record<string, unknown>): Promise<void> {
    if (this.#broken !== undefined) throw this.#broken;
    let module: CompiledWasm;
    try {
      module = await wasmRuntime.compile(wasm);
    } catch (error) {
      throw new PolicyEvaluationError(`the compiled policy ${key} does not load`, { detail: { error: String(error) } });
    }
    const loaded = { module, data };
    this.#loaded.set(key, loaded);
    try {
      await Promise.all(this.#slots.map((slot) => this.#loadInto(slot.worker, key, loaded)));
    } catch (error) {
      this.unload(key);
      throw error;
    }
  }

  unload(key: string): void {
    if (!this.#loaded.delete(key)) return;
    for (const slot of this.#slots) slot.worker.postMessage({ type: 'unload', key } satisfies ToWorker);
  }

  /**
   * Evaluates `entrypoint` of the policy loaded under `key`. `input` (JSON
   * bytes) is transferred to the worker: the caller must not use it again.
   *
   * @throws {PolicyOverloadedError} too many of this tenant's evaluations are waiting
   */
  evaluate(tenantId: string, key: string, entrypoint: string, input: ArrayBuffer): Promise<EvaluationOutcome> {
    if (this.#closed) return Promise.reject(new EvaluationPoolClosedError('the evaluation pool is closed'));
    if (this.#broken !== undefined) return Promise.reject(this.#broken);
    const queue = this.#queues.get(tenantId) ?? [];
    if (queue.length >= MAX_QUEUED_PER_TENANT) {
      return Promise.reject(
        new PolicyOverloadedError(`too many evaluations of tenant "${tenantId}" are waiting; retry later`),
      );
    }
    return new Promise((resolve, reject) => {
      queue.push({
        id: this.#nextId++,
        tenantId,
        key,
        entrypoint,
        input,
        queuedAt: performance.now(),
        resolve,
        reject,
      });
      this.#queues.set(tenantId, queue);
      this.#dispatch();
    });
  }

  /** Ends every worker; evaluations running or waiting fail. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#refill);
    const closed = (): EvaluationPoolClosedError => new EvaluationPoolClosedError('the evaluation pool is closed');
    for (const queue of this.#queues.values()) for (const task of queue) task.reject(closed());
    this.#queues.clear();
    for (const slot of this.#slots) {
      clearTimeout(slot.timer);
      slot.task?.reject(closed());
      slot.task = undefined;
    }
    await Promise.all(this.#slots.map(async (slot) => await slot.worker.terminate()));
  }

  #start(): Slot {
    const slot: Slot = { ...this.#spawn(), task: undefined, timer: undefined, startedAt: 0 };
    this.#listen(slot);
    return slot;
  }

  /** A new worker, loading every policy loaded so far. */
  #spawn(): { worker: Worker; answers: MessagePort; ready: Promise<void> } {
    const channel = new MessageChannel();
    const worker = new Worker(this.#source, {
      eval: true,
      workerData: { sdkPath: this.#sdkPath, answers: channel.port2 } satisfies WorkerData,
      transferList: [channel.port2],
      // The SDK's JavaScript builtins (sprintf, ...) allocate outside the Wasm memory cap: bound the worker's heap.
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB, maxYoungGenerationSizeMb: 32 },
    });
    // Not kept alive by its workers: the process ends when the rest of it does.
    worker.unref();
    channel.port1.unref();
    const ready = Promise.all([...this.#loaded].map(([key, loaded]) => this.#loadInto(worker, key, loaded))).then(
      () => undefined,
    );
    // A failed load surfaces through the evaluations that wait for `ready`.
    ready.catch(() => undefined);
    return { worker, answers: channel.port1, ready };
  }

  /** Answers the slot's evaluation from its current worker; a worker that dies is replaced. */
  #listen(slot: Slot): void {
    const { worker, answers } = slot;
    answers.on('message', (message: EvaluationAnswer) => {
      if (slot.worker === worker) this.#answered(slot, message);
    });
    worker.on('error', (error) => {
      if (slot.worker !== worker) return;
      this.#onWorkerError(error);
      // Died on its own (out of memory, a crash): its evaluation fails, and a fresh worker takes its place,
      // unless workers keep dying (they cannot start): then evaluations fail rather than respawn forever.
      const now = performance.now();
      this.#workerFailures.push(now);
      while ((this.#workerFailures[0] ?? now) < now - WORKER_FAILURE_WINDOW_MS) this.#workerFailures.shift();
      if (this.#workerFailures.length >= MAX_WORKER_FAILURES) this.#break(error);
      const task = slot.task;
      this.#replace(slot);
      task?.resolve({ kind: 'failed', message: `the evaluation worker failed: ${String(error)}`, origin: 'worker' });
    });
  }

  #loadInto(worker: Worker, key: string, loaded: Loaded): Promise<void> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromWorker): void => {
        if (message.key !== key) return;
        done();
        if (message.error === undefined) resolve();
        else
          reject(
            new PolicyEvaluationError(`the compiled policy ${key} does not load`, { detail: { error: message.error } }),
          );
      };
      const onExit = (): void => {
        done();
        reject(new PolicyEvaluationError(`the evaluation worker ended before loading ${key}`));
      };
      const done = (): void => {
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('exit', onExit);
      // The compiled module is shared, not copied: each worker instantiates it with its own memory.
      worker.postMessage({
        type: 'load',
        key,
        wasm: loaded.module,
        data: loaded.data,
        memory: MEMORY,
      } satisfies ToWorker);
    });
  }

  /** Starts waiting tasks on idle workers, taking tenants in turn and within their limits. */
  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.task !== undefined) continue;
      const task = this.#next();
      if (task === undefined) return;
      this.#run(slot, task);
    }
  }

  #next(): Task | undefined {
    const now = performance.now();
    let refillIn = Infinity;
    for (const [tenantId, queue] of this.#queues) {
      const limit = (this.#penalizedUntil.get(tenantId) ?? 0) > now ? 1 : Math.max(1, this.size - 1);
      if ((this.#running.get(tenantId) ?? 0) >= limit) continue;
      const waitMs = this.#throttledFor(tenantId, now);
      if (waitMs > 0) {
        // A throttled tenant's requests wait one budget for its share, then are answered without evaluation:
        // its callers learn at once, and its queue never holds them for seconds.
        const budgetMs = this.#tenantBudgetMs(tenantId) ?? this.#budgetMs;
        for (let head = queue[0]; head !== undefined && now - head.queuedAt >= budgetMs; head = queue[0]) {
          queue.shift();
          head.resolve({ kind: 'timeout', budgetMs, throttled: true });
        }
        if (queue.length === 0) {
          this.#queues.delete(tenantId);
          continue;
        }
        refillIn = Math.min(refillIn, waitMs, (queue[0]?.queuedAt ?? now) + budgetMs - now);
        continue;
      }
      const task = queue.shift();
      // Round-robin: the tenant just served goes to the back.
      this.#queues.delete(tenantId);
      if (queue.length > 0) this.#queues.set(tenantId, queue);
      if (task !== undefined) return task;
    }
    if (refillIn < Infinity && this.#refill === undefined && !this.#closed) {
      this.#refill = setTimeout(() => {
        this.#refill = undefined;
        this.#dispatch();
      }, Math.ceil(refillIn));
      this.#refill.unref();
    }
    return undefined;
  }

  /** How long a throttled tenant waits before its next evaluation may start; 0 when it may now. */
  #throttledFor(tenantId: string, now: number): number {
    const allowance = this.#allowances.get(tenantId);
    if (allowance === undefined) return 0;
    if ((this.#penalizedUntil.get(tenantId) ?? 0) <= now) {
      this.#allowances.delete(tenantId);
      return 0;
    }
    const budgetMs = this.#tenantBudgetMs(tenantId) ?? this.#budgetMs;
    allowance.credit = Math.min(budgetMs, allowance.credit + (now - allowance.at) * THROTTLED_SHARE);
    allowance.at = now;
    return allowance.credit >= 0 ? 0 : -allowance.credit / THROTTLED_SHARE;
  }

  /** Charges a throttled tenant's evaluation time to its allowance. */
  #charge(tenantId: string, ms: number): void {
    const allowance = this.#allowances.get(tenantId);
    if (allowance !== undefined) allowance.credit -= ms;
  }

  #run(slot: Slot, task: Task): void {
    slot.task = task;
    this.#running.set(task.tenantId, (this.#running.get(task.tenantId) ?? 0) + 1);
    const budgetMs = this.#tenantBudgetMs(task.tenantId) ?? this.#budgetMs;
    void slot.ready.then(
      () => {
        if (slot.task !== task) return;
        slot.startedAt = performance.now();
        slot.timer = setTimeout(() => {
          this.#timedOut(slot, task, budgetMs);
        }, budgetMs);
        slot.worker.postMessage(
          {
            type: 'evaluate',
            id: task.id,
            key: task.key,
            entrypoint: task.entrypoint,
            input: task.input,
          } satisfies ToWorker,
          [task.input],
        );
      },
      (error: unknown) => {
        this.#finish(slot, task.id, { kind: 'failed', message: String(error), origin: 'worker' });
      },
    );
  }

  #finish(slot: Slot, id: number, outcome: EvaluationOutcome): void {
    const task = slot.task;
    if (task?.id !== id) return;
    // A tenant whose policy fails (a conflict, memory exhausted) is held to one evaluation at a time for a while.
    if (outcome.kind === 'failed') this.#penalizedUntil.set(task.tenantId, performance.now() + PENALTY_MS);
    this.#charge(task.tenantId, performance.now() - slot.startedAt);
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.task = undefined;
    this.#release(task.tenantId);
    task.resolve(outcome);
    this.#dispatch();
  }

  #answered(slot: Slot, message: EvaluationAnswer): void {
    this.#finish(
      slot,
      message.id,
      message.type === 'result'
        ? { kind: 'result', resultSet: message.resultSet }
        : { kind: 'failed', message: message.message, origin: message.origin },
    );
  }

  #timedOut(slot: Slot, task: Task, budgetMs: number): void {
    // The timer is read before the worker's answer when this thread was held up (a long request, a GC
    // pause): an answer already given is taken, not discarded as late.
    for (let m = receiveMessageOnPort(slot.answers); m !== undefined; m = receiveMessageOnPort(slot.answers)) {
      this.#answered(slot, m.message as EvaluationAnswer);
    }
    if (slot.task !== task) return;
    const now = performance.now();
    const previous = this.#lastTimeout.get(task.tenantId) ?? -Infinity;
    this.#lastTimeout.set(task.tenantId, now);
    this.#penalizedUntil.set(task.tenantId, now + PENALTY_MS);
    // A second timeout within the penalty: not a fluke (a starved machine can make one), so the tenant is
    // throttled to its share; each timeout is charged its budget and the worker it costs.
    if (now - previous < PENALTY_MS && !this.#allowances.has(task.tenantId)) {
      this.#allowances.set(task.tenantId, { credit: budgetMs, at: now });
    }
    this.#charge(task.tenantId, 2 * budgetMs);
    this.#replace(slot);
    this.#onTimeout(task.tenantId, budgetMs);
    task.resolve({ kind: 'timeout', budgetMs });
  }

  /** Ends a worker (mid-evaluation, if need be) and puts a fresh one, with every policy, in its place. */
  #replace(slot: Slot): void {
    const task = slot.task;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    slot.task = undefined;
    if (task !== undefined) this.#release(task.tenantId);
    void slot.worker.terminate();
    slot.answers.close();
    if (this.#closed || this.#broken !== undefined) return;
    const fresh = this.#spawn();
    slot.worker = fresh.worker;
    slot.answers = fresh.answers;
    slot.ready = fresh.ready;
    this.#listen(slot);
    this.#dispatch();
  }

  #break(error: unknown): void {
    this.#broken = new PolicyEvaluationError('the policy evaluation workers keep failing', {
      detail: { error: String(error) },
    });
    for (const queue of this.#queues.values()) for (const task of queue) task.reject(this.#broken);
    this.#queues.clear();
  }

  #release(tenantId: string): void {
    const running = (this.#running.get(tenantId) ?? 1) - 1;
    if (running <= 0) this.#running.delete(tenantId);
    else this.#running.set(tenantId, running);
  }
}
