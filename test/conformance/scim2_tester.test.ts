/**
 * scim2-tester (PyPI, pinned in scripts/lib.sh, installed by scripts/setup.sh into .tools/venv), a
 * third-party SCIM 2.0 compliance checker, against a real gateway: every check passes, or is one of the
 * few listed here - and in docs/scim.md - with why it does not apply.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, startTestGateway } from '../harness/gateway.js';
import type { TestGateway } from '../harness/gateway.js';
import { NatsServer } from '../harness/nats_server.js';
import { PROJECT_ROOT } from '../harness/opa.js';

interface CheckResult {
  readonly title: string;
  readonly status: 'SUCCESS' | 'ERROR' | 'CRITICAL' | 'SKIPPED' | 'WARNING';
  readonly reason: string | null;
  readonly resource_type: string | null;
}

/** Checks that do not apply to this service provider, and why (docs/scim.md keeps the same list). */
const NOT_APPLICABLE: readonly { title: string; type: string | null; reason: RegExp; why: string }[] = [
  {
    title: 'check_remove_attribute',
    type: 'User',
    reason: /did not remove attribute 'active'/,
    why: 'a removed active flag reads back as active: false - only an explicit true activates an account',
  },
  {
    title: 'check_add_attribute',
    type: 'Group',
    reason: /'members' was not added or has unexpected value/,
    why: "the server fills members[].display with the member's userName, which the checker did not send",
  },
  {
    title: 'check_replace_attribute',
    type: 'Group',
    reason: /'members' was not replaced or has unexpected value/,
    why: "the server fills members[].display with the member's userName, which the checker did not send",
  },
  {
    title: 'search_with_attributes',
    type: 'User',
    reason: /searching several resource types at once is not supported/,
    why: 'POST /.search over every resource type is answered 501 (RFC 7644 §3.12); per-type .search works',
  },
  {
    title: 'search_with_attributes',
    type: 'Group',
    reason: /searching several resource types at once is not supported/,
    why: 'as above',
  },
];

const PYTHON = join(PROJECT_ROOT, '.tools/venv/bin/python');
let nats: NatsServer;
let gw: TestGateway;

beforeAll(async () => {
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run "npm test" (scripts/setup.sh makes it)`);
  nats = await NatsServer.start();
  gw = await startTestGateway(nats.url, {
    acme: {
      scim: { bearer_token_sha256: [sha256('checker')], rate_limit: { requests_per_second: 1000, burst: 1000 } },
    },
  });
});

afterAll(async () => {
  await gw.stop();
  await nats.dispose();
});

function runChecker(baseUrl: string, token: string): Promise<CheckResult[]> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [join(PROJECT_ROOT, 'test/conformance/scim/run_scim2_tester.py'), baseUrl, token],
      { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`scim2-tester failed: ${stderr || error.message}`));
        else
          resolve(
            stdout
              .trim()
              .split('\n')
              .map((line) => JSON.parse(line) as CheckResult),
          );
      },
    );
  });
}

describe('scim2-tester against the gateway', () => {
  it('every check passes or is one that does not apply, listed with why', { timeout: 180_000 }, async () => {
    const results = await runChecker(`${gw.origin}/scim/v2/acme`, 'checker');
    const unexpected = results.filter(
      (r) =>
        r.status !== 'SUCCESS' &&
        !NOT_APPLICABLE.some((n) => n.title === r.title && n.type === r.resource_type && n.reason.test(r.reason ?? '')),
    );
    expect(unexpected).toEqual([]);
    // The pinned checker runs this many checks; fewer passing means one that passed no longer does.
    expect(results.filter((r) => r.status === 'SUCCESS').length).toBeGreaterThanOrEqual(128);
  });
});
