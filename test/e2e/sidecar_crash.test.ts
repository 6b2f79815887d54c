import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Change } from '../../src/changes/index.js';
import { StateIngestor } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { connectNats } from '../../src/stream/index.js';
import { change, user } from '../harness/changes.js';
import { capturingLogger } from '../harness/log_capture.js';
import { NatsServer } from '../harness/nats_server.js';
import { PROJECT_ROOT } from '../harness/opa.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

const CHANGES = 30_000;

let nats: NatsServer;
let producer: TestProducer;
let dir: ReturnType<typeof makeTempDir>;
let last: number;
let published: number;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  dir = makeTempDir();
  const changes: Change[] = [change('acme', 'tenant.upsert', { display_name: 'Acme' })];
  for (let i = 0; changes.length < CHANGES; i++) {
    changes.push(user('acme', `u${i}`, { attributes: { n: i } }));
    changes.push(change('acme', 'member.add', { group_id: `g${i % 50}`, user_id: `u${i}` }));
  }
  // Distinct subjects, so publishing in parallel keeps every change.
  for (let i = 0; i < changes.length; i += 1_000) {
    await Promise.all(changes.slice(i, i + 1_000).map(async (c) => await producer.publish(c)));
  }
  last = await producer.lastSequence();
  published = changes.length;
}, 120_000);

afterAll(async () => {
  await producer.close();
  await nats.dispose();
  dir.remove();
});

interface SidecarProcess {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  /** Resolves with the first log line matching `predicate`. */
  waitFor(predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  readonly exited: Promise<number | null>;
}

/** The real CLI, `ipsie-sidecar sidecar`, in its own process, logging at debug level. */
function startProcess(storePath: string): SidecarProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(PROJECT_ROOT, 'src/main.ts'), 'sidecar'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      IPSIE_STORE_PATH: storePath,
      IPSIE_NATS_URL: nats.url,
      IPSIE_GRPC_ADDRESS: '',
      IPSIE_GRPC_SOCKET: join(dir.path, 'crash.sock'),
      IPSIE_LOG_LEVEL: 'debug',
    },
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
          reject(new Error('log line not seen in time'));
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
  };
}

/** The [first, last] sequence ranges the process reports having committed. */
const appliedRanges = (lines: readonly Record<string, unknown>[]): [number, number][] =>
  lines.filter((l) => l['msg'] === 'applied').map((l) => [l['first_sequence'] as number, l['last_sequence'] as number]);

describe('a sidecar process killed mid-stream', () => {
  it('resumes after SIGKILL and ends having applied every change exactly once', async () => {
    const storePath = join(dir.path, 'crash.db');
    const first = startProcess(storePath);
    await first.waitFor((l) => l['msg'] === 'applied' && (l['last_sequence'] as number) >= CHANGES / 6);
    first.child.kill('SIGKILL');
    await first.exited;
    const before = appliedRanges(first.lines);
    const lastLogged = before[before.length - 1]![1];
    expect(lastLogged).toBeLessThan(last); // it really was cut off mid-stream

    const second = startProcess(storePath);
    const resumedFrom = (await second.waitFor((l) => l['msg'] === 'consuming the state stream'))[
      'from_sequence'
    ] as number;
    // A commit whose log line the kill swallowed is not re-applied: resume is past it.
    expect(resumedFrom).toBeGreaterThan(lastLogged);
    await second.waitFor((l) => l['msg'] === 'applied' && l['last_sequence'] === last);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);

    // No sequence is in two committed ranges, across both lifetimes.
    const ranges = [...before, ...appliedRanges(second.lines)].sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThan(ranges[i - 1]![1]);
    const applied = [...first.lines, ...second.lines]
      .filter((l) => l['msg'] === 'applied')
      .reduce((n, l) => n + (l['applied'] as number), 0);
    expect(last).toBe(published);
    expect(applied).toBeLessThanOrEqual(published);

    // And the result is the state an uninterrupted sidecar reaches.
    const crashed = EntitlementStore.open(storePath);
    const reference = EntitlementStore.open(join(dir.path, 'reference.db'));
    const { logger } = capturingLogger('info');
    const ingestor = new StateIngestor({
      store: reference,
      logger,
      staleAfterMs: 30_000,
      connect: async () => await connectNats({ servers: [nats.url], name: 'reference' }, logger),
    });
    ingestor.start();
    try {
      expect(await ingestor.waitForSequence(last, 60_000)).toBe(true);
      expect(crashed.appliedSequence()).toBe(last);
      expect(crashed.digest('acme')).toBe(reference.digest('acme'));
    } finally {
      await ingestor.stop();
      crashed.close();
      reference.close();
    }
  }, 180_000);
});
