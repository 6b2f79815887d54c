import { Writable } from 'node:stream';
import { createLogger } from '../../src/logging/index.js';
import type { Logger } from '../../src/logging/index.js';

/** A real pino logger whose JSON lines are kept for assertions. */
export function capturingLogger(level: 'debug' | 'info' = 'debug'): {
  logger: Logger;
  lines: Record<string, unknown>[];
} {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger(level, sink), lines };
}
