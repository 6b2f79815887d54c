/** `ipsie-sidecar policy …` against a real gateway (and the real `opa` for `test`). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runPolicyCli } from '../../src/cli/index.js';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { ScimClient } from '../harness/scim_client.js';
import { EXAMPLE_POLICY_DIR, opaPath, PLATFORM_POLICY_DIR } from '../harness/opa.js';
import { makeTempDir } from '../harness/temp_dir.js';

const TOKEN = 'globex-admin';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
let nats: NatsServer;
let gw: TestGateway;
const dir = makeTempDir('ipsie-cli-');

beforeAll(async () => {
  nats = await NatsServer.start();
  gw = await startTestGateway(nats.url, {
    globex: {
      admin: { bearer_token_sha256: [sha256(TOKEN)] },
      scim: { bearer_token_sha256: [sha256('globex-scim')] },
    },
  });
});

afterAll(async () => {
  await gw.stop();
  await nats.dispose();
  dir.remove();
});

async function cli(...args: (string | Record<string, string>)[]): Promise<{ code: number; out: string; err: string }> {
  const argv = args.filter((a): a is string => typeof a === 'string');
  const extra = Object.assign({}, ...args.filter((a) => typeof a !== 'string')) as Record<string, string>;
  const out: string[] = [];
  const err: string[] = [];
  const code = await runPolicyCli(argv, {
    env: {
      IPSIE_GATEWAY_URL: gw.origin,
      IPSIE_TENANT: 'globex',
      IPSIE_ADMIN_TOKEN: TOKEN,
      IPSIE_OPA_PATH: opaPath(),
      IPSIE_PLATFORM_POLICY_DIR: PLATFORM_POLICY_DIR,
      ...extra,
    },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('ipsie-sidecar policy', () => {
  const globex = join(EXAMPLE_POLICY_DIR, 'globex');

  it('test: compiles and runs the tests locally; a failing test exits 1 with its location', async () => {
    expect(await cli('test', globex)).toMatchObject({
      code: 0,
      out: expect.stringMatching(/^ok sha256:\w+: compiles, \d+ tests pass$/) as unknown,
    });
    const broken = join(dir.path, 'broken');
    mkdirSync(broken);
    writeFileSync(join(broken, 'authz.rego'), 'package tenants.globex\n\nallow := false\n');
    writeFileSync(
      join(broken, 'authz_test.rego'),
      'package tenants_test.globex\n\nimport data.tenants.globex\n\ntest_allow if globex.allow\n',
    );
    const failed = await cli('test', broken);
    expect(failed.code).toBe(1);
    expect(failed.err).toMatch(/ERR_POLICY_TEST_FAILED/);
    expect(failed.err).toMatch(/authz_test\.rego:5:1: test_failed/);
  });

  it("test: with a tenants file declaring the tenant's attribute catalog, a misspelt attribute exits 1 with its location", async () => {
    const tenantsFile = join(dir.path, 'tenants.json');
    const attributes = [
      { name: 'clearance_level', type: 'integer', description: 'clearance', source: { claim: 'clearance_level' } },
    ];
    writeFileSync(tenantsFile, JSON.stringify({ tenants: { globex: { attribute_catalog: { attributes } } } }));
    const typo = join(dir.path, 'typo');
    mkdirSync(typo);
    writeFileSync(
      join(typo, 'authz.rego'),
      'package tenants.globex\n\nallow if {\n\tinput.subject.attributes.clearence_level > 1\n}\n',
    );
    const typed = await cli('test', typo, { IPSIE_TENANTS_FILE: tenantsFile });
    expect(typed.code).toBe(1);
    expect(typed.err).toContain(
      'authz.rego:4:2: rego_type_error: undefined ref: input.subject.attributes.clearence_level',
    );
    // Without the tenants file the same policy is untyped.
    expect((await cli('test', typo)).code).toBe(0);
  });

  it('push --activate, list, diff, activate, rollback', async () => {
    const pushed = await cli('push', globex, '--activate');
    expect(pushed.code).toBe(0);
    const v1 = /^(sha256:\w+) \(new/.exec(pushed.out)?.[1] ?? '';
    expect(pushed.out).toContain(`active: ${v1}`);

    const strict = join(dir.path, 'strict');
    mkdirSync(strict);
    writeFileSync(
      join(strict, 'authz.rego'),
      'package tenants.globex\n\nallow if input.action.name in data.static.actions\n',
    );
    writeFileSync(join(strict, 'data.json'), JSON.stringify({ actions: ['list'] }));
    const second = await cli('push', strict);
    expect(second.code).toBe(0);
    const v2 = /^(sha256:\w+) /.exec(second.out)?.[1] ?? '';
    expect((await cli('list')).out.split('\n')).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^\\* ${v1}`)),
        expect.stringMatching(new RegExp(`^  ${v2}`)),
      ]) as unknown,
    );

    // A user of R&D: v1 lets her read R&D documents and not list them; v2 the other way round.
    const created = await new ScimClient(gw.origin, 'globex', 'globex-scim').post('/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
      userName: 'rd@globex.example',
      [ENTERPRISE]: { department: 'R&D' },
    });
    const rd = String(created.body?.['id']);
    const document = { type: 'document', properties: { department: 'R&D' } };
    const requests = join(dir.path, 'requests.json');
    const read = { subject: { user_id: rd }, action: { name: 'read' }, resource: document };
    const list = { subject: { user_id: rd }, action: { name: 'list' }, resource: document };
    const unknown = { subject: { user_id: 'nobody' }, action: { name: 'list' }, resource: document };
    writeFileSync(requests, JSON.stringify([read, list, unknown]));
    const diff = await cli('diff', v2, requests);
    expect(diff).toMatchObject({ code: 0 });
    expect(diff.out.split('\n')).toEqual([
      `~ ${JSON.stringify(read)}: allow POLICY_ALLOWED -> deny POLICY_DENIED`,
      `~ ${JSON.stringify(list)}: deny POLICY_DENIED -> allow POLICY_ALLOWED`,
      `2 of 3 decisions change (${v1} -> ${v2})`,
    ]);

    expect((await cli('activate', v2)).out).toBe(`active: ${v2} (was ${v1}, revision 2)`);
    expect((await cli('rollback')).out).toBe(`active: ${v1} (rolled back from ${v2})`);
  });

  it('a refused upload exits 1 with the compiler’s located message; usage errors exit 2', async () => {
    const bad = join(dir.path, 'bad');
    mkdirSync(bad);
    writeFileSync(join(bad, 'authz.rego'), 'package tenants.globex\n\nallow if {\n');
    const refused = await cli('push', bad);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/ERR_POLICY_COMPILE_FAILED/);
    expect(refused.err).toMatch(/authz\.rego:\d+:\d+: rego_parse_error/);
    expect((await cli('activate')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
  });
});
