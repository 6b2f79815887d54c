/**
 * The policy CLI's own logic - arguments, credentials, the requests it
 * sends and how it reports answers - against a loopback HTTP server that
 * records each request and answers as the gateway would. The whole flow
 * against a real gateway is test/e2e/policy_cli.test.ts.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runPolicyCli } from '../../src/cli/index.js';
import { makeTempDir } from '../harness/temp_dir.js';

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly authorization: string | undefined;
  readonly body: unknown;
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly type?: string;
}

let server: Server;
let gateway: string;
const recorded: Recorded[] = [];
let answers: Answer[] = [];

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void bodyOf(req).then((body) => {
      recorded.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      const answer = answers.shift() ?? { status: 500, body: '{"code":"UNEXPECTED","detail":"no answer queued"}' };
      res.writeHead(answer.status, { 'content-type': answer.type ?? 'application/json' });
      res.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  gateway = `http://127.0.0.1:${address.port}/`;
});

const dirs: (() => void)[] = [];
afterAll(async () => {
  for (const remove of dirs) remove();
  await new Promise<void>((resolve) =>
    server.close(() => {
      resolve();
    }),
  );
});

function tempDir(): string {
  const dir = makeTempDir('ipsie-cli-');
  dirs.push(dir.remove);
  return dir.path;
}

beforeEach(() => {
  recorded.length = 0;
  answers = [];
});

async function cli(
  argv: string[],
  env: Record<string, string | undefined> = {},
): Promise<{ status: number; out: string[]; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await runPolicyCli(argv, {
    env: { IPSIE_GATEWAY_URL: gateway, IPSIE_TENANT: 'acme', IPSIE_ADMIN_TOKEN: 'tok', ...env },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { status, out, err: err.join('\n') };
}

const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body) });

describe('policy CLI arguments', () => {
  it.each([
    [[], 'a command is required'],
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['list', '--gateway'], '--gateway needs a value'],
    [['diff', 'v1'], 'diff needs <version> <file>'],
    [['activate'], 'activate needs <version>'],
    [['push'], 'push needs <dir>'],
    [['test'], 'test needs <dir>'],
  ])('%j exits 2 with the usage and what is missing, sending nothing', async (argv, problem) => {
    const r = await cli(argv);
    expect(r.status).toBe(2);
    expect(r.err).toContain(problem);
    expect(r.err).toContain('usage: ipsie-sidecar policy');
    expect(recorded).toEqual([]);
  });

  it.each([
    ['IPSIE_GATEWAY_URL', 'the gateway URL is required'],
    ['IPSIE_TENANT', 'the tenant is required'],
    ['IPSIE_ADMIN_TOKEN', 'the admin token is required'],
  ])('without %s it exits 2 and sends nothing', async (variable, problem) => {
    const r = await cli(['list'], { [variable]: undefined });
    expect(r.status).toBe(2);
    expect(r.err).toContain(problem);
    expect(recorded).toEqual([]);
  });

  it('refuses an empty token file as no token, rather than sending "Bearer "', async () => {
    const dir = tempDir();
    await writeFile(join(dir, 'token'), '\n');
    const r = await cli(['list', '--token-file', join(dir, 'token')], { IPSIE_ADMIN_TOKEN: undefined });
    expect(r.status).toBe(2);
    expect(recorded).toEqual([]);
  });
});

describe('policy CLI requests', () => {
  it('sends the token file’s token, trimmed, in preference to the variable', async () => {
    const dir = tempDir();
    await writeFile(join(dir, 'token'), '  from-file\n');
    answers = [json(200, { versions: [] })];
    const r = await cli(['list', '--token-file', join(dir, 'token')]);
    expect(r).toMatchObject({ status: 0, out: ['no versions'] });
    expect(recorded).toEqual([
      { method: 'GET', url: '/admin/v1/acme/policies', authorization: 'Bearer from-file', body: undefined },
    ]);
  });

  it('puts a tenant and a version into the path as one segment each, whatever they contain', async () => {
    answers = [json(200, { version: 'x', previous: 'y', revision: 2 })];
    await cli(['activate', '../v1?all=1'], { IPSIE_TENANT: 'acme/../globex' });
    expect(recorded[0]?.url).toBe('/admin/v1/acme%2F..%2Fglobex/policies/..%2Fv1%3Fall%3D1/activate');
  });

  it.each(['..', '.'])('refuses %j as a version: URL parsing would take it as a path step', async (version) => {
    const r = await cli(['activate', version]);
    expect(r.status).toBe(2);
    expect(recorded).toEqual([]);
  });

  it('lists versions, marking the active one', async () => {
    answers = [
      json(200, {
        versions: [
          { version: 'v2', created_at: Date.UTC(2026, 0, 2), active: true },
          { version: 'v1', created_at: Date.UTC(2026, 0, 1), active: false },
        ],
      }),
    ];
    expect((await cli(['list'])).out).toEqual(['* v2  2026-01-02T00:00:00.000Z', '  v1  2026-01-01T00:00:00.000Z']);
  });

  it('diff posts the requests file as the dry-run and prints only the decisions that change', async () => {
    const dir = tempDir();
    const requests = [{ action: { name: 'read' } }, { action: { name: 'delete' } }];
    await writeFile(join(dir, 'requests.json'), JSON.stringify(requests));
    answers = [
      json(200, {
        outcomes: [
          {
            request: requests[0],
            changed: false,
            current: { decision: 'ALLOW', reasons: [] },
            candidate: { decision: 'ALLOW', reasons: [] },
          },
          {
            request: requests[1],
            changed: true,
            current: null,
            candidate: { decision: 'DENY', reasons: ['POLICY_DENIED'] },
          },
        ],
        changed: 1,
        current: 'v1',
        candidate: 'v2',
      }),
    ];
    const r = await cli(['diff', 'v2', join(dir, 'requests.json')]);
    expect(recorded[0]).toMatchObject({
      method: 'POST',
      url: '/admin/v1/acme/policies/v2/dry-run',
      body: { requests },
    });
    expect(r.out).toEqual([
      '~ {"action":{"name":"delete"}}: none -> DENY POLICY_DENIED',
      '1 of 2 decisions change (v1 -> v2)',
    ]);
  });

  it('push --activate does not activate a refused upload, and prints each located problem', async () => {
    const dir = tempDir();
    await writeFile(join(dir, 'policy.rego'), 'package tenants.acme\n\nallow if {\n');
    answers = [
      json(422, {
        code: 'POLICY_COMPILE_FAILED',
        detail: 'the policy does not compile',
        problems: [{ file: 'policy.rego', row: 3, col: 10, code: 'rego_parse_error', message: 'unexpected eof' }],
      }),
    ];
    const r = await cli(['push', dir, '--activate']);
    expect(r.status).toBe(1);
    expect(r.err.split('\n')).toEqual([
      'POLICY_COMPILE_FAILED: the policy does not compile',
      '  policy.rego:3:10: rego_parse_error: unexpected eof',
    ]);
    expect(recorded.map((q) => q.url)).toEqual(['/admin/v1/acme/policies']);
  });

  it('push --activate activates exactly the version the upload returned', async () => {
    const dir = tempDir();
    await writeFile(join(dir, 'policy.rego'), 'package tenants.acme\n');
    answers = [
      json(201, { version: 'v7', stored: 'created', tests: { passed: 3 } }),
      json(200, { version: 'v7', revision: 4 }),
    ];
    const r = await cli(['push', dir, '--activate']);
    expect(r).toMatchObject({ status: 0, out: ['v7 (created; 3 tests pass)', 'active: v7 (revision 4)'] });
    expect(recorded.map((q) => `${q.method} ${q.url}`)).toEqual([
      'POST /admin/v1/acme/policies',
      'POST /admin/v1/acme/policies/v7/activate',
    ]);
    expect(recorded[0]?.body).toMatchObject({ modules: { 'policy.rego': 'package tenants.acme\n' }, data: {} });
  });

  it('reports an answer that is not JSON (a proxy’s error page) by its status, exit 1', async () => {
    answers = [{ status: 502, body: '<html>Bad Gateway</html>', type: 'text/html' }];
    const r = await cli(['rollback']);
    expect(r.status).toBe(1);
    expect(r.err).toBe('502: <html>Bad Gateway</html>');
  });
});
