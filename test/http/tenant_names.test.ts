/**
 * A sandbox's name in a request path (`/scim/v2/acme.sandbox/…`) becomes its key (`acme-sandbox`) before any
 * router or recorder reads the path, at the tenant's place only, over real HTTP on loopback.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUTHZEN_TENANT_PATHS, GATEWAY_TENANT_PATHS, tenantNamesInPaths } from '../../src/http/index.js';

let origin = '';
const server = createServer();

beforeAll(async () => {
  const app = new Koa();
  app.use(tenantNamesInPaths([...GATEWAY_TENANT_PATHS, ...AUTHZEN_TENANT_PATHS]));
  app.use((ctx) => {
    ctx.body = { path: ctx.path };
  });
  const handle = app.callback();
  server.on('request', (request, response) => {
    void handle(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

async function seen(path: string): Promise<string> {
  return ((await (await fetch(`${origin}${path}`)).json()) as { path: string }).path;
}

describe('tenantNamesInPaths', () => {
  it.each([
    ['/scim/v2/acme.sandbox/Users', '/scim/v2/acme-sandbox/Users'],
    ['/admin/v1/acme.sandbox/policies/sha256:1/activate', '/admin/v1/acme-sandbox/policies/sha256:1/activate'],
    ['/admin/v1/acme%2Esandbox/policies', '/admin/v1/acme-sandbox/policies'],
    ['/ssf/v1/acme.sandbox/events', '/ssf/v1/acme-sandbox/events'],
    ['/resources/v1/acme.sandbox/resources/doc/1', '/resources/v1/acme-sandbox/resources/doc/1'],
    ['/acme.sandbox/access/v1/evaluation', '/acme-sandbox/access/v1/evaluation'],
    ['/.well-known/authzen-configuration/acme.sandbox', '/.well-known/authzen-configuration/acme-sandbox'],
  ])('names the sandbox by its key: %s', async (path, expected) => {
    expect(await seen(path)).toBe(expected);
  });

  it.each([
    ['a production tenant', '/scim/v2/acme/Users'],
    ['a user id that looks like a sandbox name', '/scim/v2/acme/Users/bob.sandbox'],
    ['a sandbox of a sandbox', '/scim/v2/acme.sandbox.sandbox/Users'],
    ['another suffix', '/admin/v1/acme.staging/policies'],
    ['a path of no tenant API', '/other/v1/acme.sandbox/x'],
    ['a malformed escape', '/admin/v1/acme%E0.sandbox/policies'],
  ])('leaves %s as it is', async (_what, path) => {
    expect(await seen(path)).toBe(path);
  });
});
