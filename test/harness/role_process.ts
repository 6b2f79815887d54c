import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { PROJECT_ROOT } from './opa.js';

/** The real CLI, `ipsie-sidecar <role>`, in its own process, its JSON log lines kept for assertions. */
export interface RoleProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  /** Resolves with the first log line matching `predicate` (seen already or to come). */
  waitFor(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

/** Starts `ipsie-sidecar <role>` with `env` over the test's own environment, logging at `info` unless told. */
export function spawnRole(role: 'sidecar' | 'gateway', env: Record<string, string>): RoleProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/main.ts'), role], {
    cwd: PROJECT_ROOT,
    // As for in-process test sidecars (harness/sidecar.ts): a loaded machine must not turn a slow evaluation
    // into POLICY_TIMEOUT where the budget is not the subject.
    env: { ...process.env, IPSIE_LOG_LEVEL: 'info', IPSIE_POLICY_BUDGET_MS: '5000', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: {
    predicate: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    if (!text.startsWith('{')) return;
    const line = JSON.parse(text) as Record<string, unknown>;
    lines.push(line);
    for (const w of waiters.splice(0)) {
      if (w.predicate(line)) w.resolve(line);
      else waiters.push(w);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  return {
    child,
    lines,
    exited,
    waitFor: async (predicate, timeoutMs = 60_000) => {
      const seen = lines.find(predicate);
      if (seen !== undefined) return seen;
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`log line not seen within ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.push({
          predicate,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return await exited;
    },
  };
}
