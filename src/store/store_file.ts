import { spawn } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { StoreUnavailableError } from './errors.js';
import { SchemaMismatchError } from './schema.js';

/** Why a store file was not used: each is a label value of `ipsie_store_set_aside_total`. */
export type StoreDefectReason = 'corrupt' | 'not_a_database' | 'schema' | 'check_timeout';

export interface StoreDefect {
  readonly reason: StoreDefectReason;
  /** What SQLite or the check said, for the log. */
  readonly detail: string;
}

/** Most problems `quick_check` lists before it stops: the first is enough to reject the file. */
const CHECK_MAX_ERRORS = 10;

/**
 * Runs in a child process so that the time budget is a hard bound: SQLite
 * cannot be interrupted from JavaScript, but a process can be killed. Read-only,
 * so the file set aside is exactly the file that failed (no checkpoint on close).
 */
const CHECK_SCRIPT = `
const [driver, file, maxErrors] = process.argv.slice(1);
const Database = require(driver);
let db;
let result;
try {
  db = new Database(file, { readonly: true, fileMustExist: true });
  const problems = db.pragma('quick_check(' + Number(maxErrors) + ')').map((row) => row.quick_check);
  result = problems.length === 1 && problems[0] === 'ok' ? { ok: true } : { ok: false, problems };
} catch (error) {
  result = { ok: false, code: error.code, message: error.message };
}
try { db?.close(); } catch {}
process.stdout.write(JSON.stringify(result));
`;

interface CheckResult {
  readonly ok: boolean;
  readonly problems?: string[];
  readonly code?: string;
  readonly message?: string;
}

/**
 * Runs SQLite's `PRAGMA quick_check` over the file (b-tree structure, page
 * and cell bounds, record formats, NOT NULL and type constraints: not the
 * agreement of indexes with their tables) within `budgetMs`.
 *
 * @returns undefined when the file passes, else why it cannot be used.
 * @throws {StoreUnavailableError} `ERR_STORE_UNAVAILABLE` when the file cannot be read
 *   at all for reasons of its surroundings (permissions, I/O, locks): moving it would not help.
 */
export async function checkStoreFile(path: string, budgetMs: number): Promise<StoreDefect | undefined> {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const child = spawn(process.execPath, ['-e', CHECK_SCRIPT, driver, path, String(CHECK_MAX_ERRORS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err = (err + chunk.toString()).slice(-2_000)));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve({ code, signal });
    });
  });
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<'spent'>((resolve) => (timer = setTimeout(resolve, budgetMs, 'spent')));
  const first = await Promise.race([exited, budget]);
  clearTimeout(timer);
  if (first === 'spent') {
    child.kill('SIGKILL');
    // Gone before the file is moved: it must hold nothing open on it.
    await exited;
    return { reason: 'check_timeout', detail: `quick_check did not finish within ${budgetMs} ms` };
  }
  const exit = first;
  let result: CheckResult;
  try {
    result = JSON.parse(out) as CheckResult;
  } catch {
    // SQLite brought the process down: the file is what made it.
    return {
      reason: 'corrupt',
      detail: `the integrity check ended with ${exit.signal ?? String(exit.code)}: ${err.trim()}`,
    };
  }
  if (result.ok) return undefined;
  if (result.problems !== undefined) return { reason: 'corrupt', detail: result.problems.join('; ') };
  const defect = defectOfSqliteCode(result.code, result.message ?? '');
  if (defect !== undefined) return defect;
  throw new StoreUnavailableError(`cannot read the entitlement store at ${path}: ${result.message ?? ''}`, {
    detail: { sqlite_code: result.code },
  });
}

/**
 * What an SQLite error code says about the file itself; undefined when it is
 * about the file's surroundings (permissions, I/O, disk full, locks).
 */
export function defectOfSqliteCode(code: string | undefined, message: string): StoreDefect | undefined {
  if (code === 'SQLITE_NOTADB') return { reason: 'not_a_database', detail: message };
  if (code?.startsWith('SQLITE_CORRUPT') === true) return { reason: 'corrupt', detail: message };
  return undefined;
}

/**
 * Moves the store file (and its `-wal`, `-shm`) to `<path>.bad-<UTC time>`
 * for an operator to inspect, then deletes the oldest such sets beyond `kept`.
 * Nothing is copied: a rename, so it costs nothing whatever the size.
 *
 * @returns the new path of the file.
 */
export function setAsideStoreFile(path: string, kept: number, now: Date = new Date()): string {
  if (!Number.isSafeInteger(kept) || kept < 1) throw new TypeError('kept must be a positive integer');
  const stamped = `${path}.bad-${now.toISOString().replace(/[-:.]/g, '')}`;
  let target = stamped;
  for (let n = 2; existsSync(target); n++) target = `${stamped}-${n}`;
  // The WAL first: a crash between the renames then leaves the main file alone at the path (checked again
  // next start), never a WAL beside the store opened in its place.
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(`${path}${suffix}`)) renameSync(`${path}${suffix}`, `${target}${suffix}`);
  }
  renameSync(path, target);
  const prefix = `${basename(path)}.bad-`;
  const setAside = readdirSync(dirname(path))
    .filter((name) => name.startsWith(prefix) && !name.endsWith('-wal') && !name.endsWith('-shm'))
    .sort()
    .reverse();
  for (const old of setAside.slice(kept)) {
    for (const suffix of ['', '-wal', '-shm']) rmSync(join(dirname(path), `${old}${suffix}`), { force: true });
  }
  return target;
}

/**
 * What a failure to open says about the file itself: corrupt, not SQLite, or
 * a schema this build cannot use (newer, or tables that are not ours: an SQL
 * error while migrating or preparing). Undefined when it is about the file's
 * surroundings.
 */
export function defectOfOpenError(error: unknown): StoreDefect | undefined {
  const cause = error instanceof StoreUnavailableError ? error.cause : error;
  if (cause instanceof SchemaMismatchError) return { reason: 'schema', detail: cause.message };
  if (!(cause instanceof Database.SqliteError)) return undefined;
  if (cause.code === 'SQLITE_ERROR') return { reason: 'schema', detail: cause.message };
  return defectOfSqliteCode(cause.code, cause.message);
}
