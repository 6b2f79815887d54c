/** The benchmarks' real processes: `ipsie-sidecar <role>` from dist/, stopped with SIGTERM. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** `nodeArgs` go to node itself, before the script (e.g. `--cpu-prof`). */
export function startRole(role: string, env: Record<string, string>, nodeArgs: readonly string[] = []): ChildProcess {
  return spawn(process.execPath, [...nodeArgs, join(ROOT, 'dist/main.js'), role], {
    env: { ...process.env, IPSIE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

export async function stopRole(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** Polls `probe` (a rejection counts as false) until true, or throws after `timeoutMs`. */
export async function until(probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error('not ready in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
