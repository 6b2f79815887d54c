/** One module's change between two versions' sources. */
export interface ModuleDiff {
  readonly file: string;
  readonly change: 'added' | 'removed' | 'changed' | 'same';
  /** Changed lines with `CONTEXT` lines around them, `-`/`+`/` ` prefixed, hunks headed `@@ -a,n +b,m @@`. */
  readonly diff?: string;
}

const CONTEXT = 3;
/** Past this many line pairs (after the common head and tail), the middle is shown as removed then added. */
const MAX_CELLS = 4_000_000;

/** Every module of either version, by file name, with a unified line diff of those that differ. */
export function diffModules(
  before: Readonly<Record<string, string>>,
  after: Readonly<Record<string, string>>,
): ModuleDiff[] {
  const files = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return files.map((file): ModuleDiff => {
    const a = before[file];
    const b = after[file];
    if (a === undefined) return { file, change: 'added', diff: unified([], lines(b ?? '')) };
    if (b === undefined) return { file, change: 'removed', diff: unified(lines(a), []) };
    return a === b ? { file, change: 'same' } : { file, change: 'changed', diff: unified(lines(a), lines(b)) };
  });
}

function lines(text: string): string[] {
  const split = text.split('\n');
  if (split[split.length - 1] === '') split.pop();
  return split;
}

type Edit = readonly [' ' | '-' | '+', string];

/** The edit script from `a` to `b`: common head and tail kept, the middle by longest common subsequence. */
function edits(a: readonly string[], b: readonly string[]): Edit[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const middle: Edit[] = [];
  if ((x.length + 1) * (y.length + 1) > MAX_CELLS) {
    for (const line of x) middle.push(['-', line]);
    for (const line of y) middle.push(['+', line]);
  } else {
    // lcs[i][j]: the longest common subsequence of x[i..] and y[j..].
    const width = y.length + 1;
    const lcs = new Uint32Array((x.length + 1) * width);
    for (let i = x.length - 1; i >= 0; i--) {
      for (let j = y.length - 1; j >= 0; j--) {
        lcs[i * width + j] =
          x[i] === y[j]
            ? (lcs[(i + 1) * width + j + 1] ?? 0) + 1
            : Math.max(lcs[(i + 1) * width + j] ?? 0, lcs[i * width + j + 1] ?? 0);
      }
    }
    let i = 0;
    let j = 0;
    while (i < x.length || j < y.length) {
      if (i < x.length && j < y.length && x[i] === y[j]) {
        middle.push([' ', x[i] ?? '']);
        i++;
        j++;
      } else if (i < x.length && (j === y.length || (lcs[(i + 1) * width + j] ?? 0) >= (lcs[i * width + j + 1] ?? 0))) {
        // Removals before additions, as diff(1) shows a replaced line.
        middle.push(['-', x[i] ?? '']);
        i++;
      } else {
        middle.push(['+', y[j] ?? '']);
        j++;
      }
    }
  }
  return [
    ...a.slice(0, head).map((line): Edit => [' ', line]),
    ...middle,
    ...a.slice(a.length - tail).map((line): Edit => [' ', line]),
  ];
}

/** The edit script as unified diff hunks. */
function unified(a: readonly string[], b: readonly string[]): string {
  const script = edits(a, b);
  const out: string[] = [];
  let k = 0;
  while (k < script.length) {
    if (script[k]?.[0] === ' ') {
      k++;
      continue;
    }
    // A hunk: from CONTEXT before the first change to CONTEXT after the last change within 2 * CONTEXT.
    const start = Math.max(0, k - CONTEXT);
    let end = k;
    let quiet = 0;
    for (let m = k; m < script.length; m++) {
      if (script[m]?.[0] === ' ') {
        quiet++;
        if (quiet > 2 * CONTEXT) break;
      } else {
        quiet = 0;
        end = m;
      }
    }
    const stop = Math.min(script.length, end + 1 + CONTEXT);
    const hunk = script.slice(start, stop);
    const before = script.slice(0, start);
    const aStart = before.filter((e) => e[0] !== '+').length + 1;
    const bStart = before.filter((e) => e[0] !== '-').length + 1;
    const aCount = hunk.filter((e) => e[0] !== '+').length;
    const bCount = hunk.filter((e) => e[0] !== '-').length;
    // An empty range names the line before it (diff(1)): `+0,0` for a file that is gone.
    out.push(`@@ -${aCount === 0 ? aStart - 1 : aStart},${aCount} +${bCount === 0 ? bStart - 1 : bStart},${bCount} @@`);
    for (const [op, line] of hunk) out.push(`${op}${line}`);
    k = stop;
  }
  return out.join('\n');
}
