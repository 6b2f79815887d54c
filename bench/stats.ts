/** Latency summaries for the benchmarks (milliseconds in, formatted out). */
export interface Summary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

export function summarize(latenciesMs: readonly number[]): Summary {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { count: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? Number.NaN };
}

/** Microseconds under 1 ms, milliseconds above. */
export function formatMs(ms: number): string {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

export function formatRow(label: string, s: Summary, perSecond?: number): string {
  const rate = perSecond === undefined ? '' : `  ${Math.round(perSecond).toLocaleString('en-US')}/s`;
  return `  ${label.padEnd(44)} n=${String(s.count).padStart(6)}  p50 ${formatMs(s.p50).padStart(9)}  p99 ${formatMs(s.p99).padStart(9)}  max ${formatMs(s.max).padStart(9)}${rate}`;
}

/** Runs `once` `n` times one after the other; the latency of each run, in ms. */
export async function measure(n: number, once: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once(i);
    out.push(performance.now() - t0);
  }
  return out;
}
