/** Catalog versions on a real NATS KV bucket: numbering, idempotence, and replicas racing at start-up. */
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attributeCatalog } from '../../src/attribute_catalog.js';
import type { CatalogAttribute } from '../../src/attribute_catalog.js';
import { AttributeCatalogVersions } from '../../src/distribution/index.js';
import { NatsServer } from '../harness/nats_server.js';

let nats: NatsServer;
let connections: NatsConnection[];

beforeAll(async () => {
  nats = await NatsServer.start();
  connections = await Promise.all([1, 2, 3].map(async () => await connect({ servers: nats.url })));
});

afterAll(async () => {
  for (const nc of connections) await nc.close();
  await nats.dispose();
});

const attribute = (name: string): CatalogAttribute => ({
  name,
  type: 'string',
  description: name,
  source: { claim: name },
  origin: 'tenant',
});

describe('AttributeCatalogVersions', () => {
  it('numbers changed catalogs from 1, keeps an unchanged one, and keeps every version', async () => {
    const versions = await AttributeCatalogVersions.create(connections[0]!);
    const one = attributeCatalog([attribute('a')]);
    expect((await versions.record('acme', one, 1)).version).toBe(1);
    expect((await versions.record('acme', one, 2)).version).toBe(1);
    expect((await versions.record('acme', attributeCatalog([attribute('b')]), 3)).version).toBe(2);
    expect((await versions.list('acme')).map((v) => [v.version, v.recordedAt])).toEqual([
      [2, 3],
      [1, 1],
    ]);
    expect(JSON.stringify((await versions.get('acme', 1)).document)).toContain('"name":"a"');
    // An attribute keeps the version its definition dates from; a changed one takes the new number.
    const both = await versions.record(
      'acme',
      attributeCatalog([attribute('b'), { ...attribute('c'), type: 'integer' }]),
    );
    const byName = new Map(
      (both.document['attributes'] as { name: string; version: number }[]).map((a) => [a.name, a.version]),
    );
    expect([both.version, byName.get('b'), byName.get('c'), byName.get('title')]).toEqual([3, 2, 3, 1]);
    await expect(versions.get('acme', 4)).rejects.toMatchObject({ code: 'ERR_CATALOG_VERSION_NOT_FOUND' });
    // Tenants are numbered apart.
    expect((await versions.record('globex', one)).version).toBe(1);
  });

  it('three replicas starting at once with the same new catalog record one version, not three', async () => {
    const replicas = await Promise.all(connections.map(async (nc) => await AttributeCatalogVersions.create(nc)));
    const catalog = attributeCatalog([attribute('raced')]);
    const recorded = await Promise.all(replicas.map(async (r) => await r.record('initech', catalog)));
    expect(recorded.map((r) => r.version)).toEqual([1, 1, 1]);
    expect(await replicas[0]!.list('initech')).toHaveLength(1);
  });

  it('replicas racing with different catalogs each get their own number, none lost', async () => {
    const replicas = await Promise.all(connections.map(async (nc) => await AttributeCatalogVersions.create(nc)));
    const recorded = await Promise.all(
      replicas.map(async (r, i) => await r.record('umbrella', attributeCatalog([attribute(`x${String(i)}`)]))),
    );
    expect(recorded.map((r) => r.version).sort()).toEqual([1, 2, 3]);
    const kept = await replicas[0]!.list('umbrella');
    expect(kept.map((v) => v.version)).toEqual([3, 2, 1]);
    expect(new Set(kept.map((v) => v.digest)).size).toBe(3);
  });
});
