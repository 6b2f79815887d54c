/** The stream consumer after NATS loses its consumers: it resumes at once, not after missed heartbeats. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateIngestor } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { connectNats } from '../../src/stream/index.js';
import { change, user } from '../harness/changes.js';
import { capturingLogger } from '../harness/log_capture.js';
import { NatsServer } from '../harness/nats_server.js';
import { TestProducer } from '../harness/stream.js';
import { makeTempDir } from '../harness/temp_dir.js';

let nats: NatsServer;
let producer: TestProducer;
let dir: ReturnType<typeof makeTempDir>;

beforeAll(async () => {
  nats = await NatsServer.start();
  producer = await TestProducer.connect(nats.url);
  dir = makeTempDir();
});

afterAll(async () => {
  await producer.close();
  await nats.dispose();
  dir.remove();
});

describe('StateIngestor across a NATS restart', () => {
  for (const crash of [true, false]) {
    it(`applies changes published after a ${crash ? 'SIGKILL' : 'SIGTERM'} restart within 2 s, however few it had received before`, async () => {
      const store = EntitlementStore.open(join(dir.path, `${crash ? 'kill' : 'term'}.db`));
      const { logger } = capturingLogger();
      const ingestor = new StateIngestor({
        store,
        logger,
        staleAfterMs: 30_000,
        connect: async () => await connectNats({ servers: [nats.url], name: 'recovery' }, logger),
      });
      ingestor.start();
      try {
        const tenant = crash ? 'kill' : 'term';
        await producer.publish(change(tenant, 'tenant.upsert', { display_name: tenant }));
        const before = await producer.publishAll([user(tenant, 'a'), user(tenant, 'b')]);
        expect(await ingestor.waitForSequence(before, 10_000)).toBe(true);

        await nats.stop(crash);
        await nats.restart();
        // More changes than the consumer had received before: what a recreated consumer "still owed" is not enough.
        const after = await producer.publishAll(Array.from({ length: 10 }, (_, i) => user(tenant, `new${i}`)));
        const stored = Date.now();
        expect(await ingestor.waitForSequence(after, 2_000)).toBe(true);
        expect(Date.now() - stored).toBeLessThan(2_000);
        expect(store.user(tenant, 'new9')?.active).toBe(true);
      } finally {
        await ingestor.stop();
        store.close();
      }
    });
  }
});
