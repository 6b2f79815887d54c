/**
 * What a customer-managed key costs (`npm run bench -- tenant-keys`): the same directory of tenant `acme`
 * (BENCH_USERS users with a SCIM profile: names, e-mails, phone numbers, department; one session each with
 * an ip; 3 groups each), once in clear and once sealed under the tenant's key (docs/keys.md). Prints, per
 * mode:
 *   - publish: sealing (when sealed) and encoding every change, as the gateway's publisher does, changes/s;
 *   - ingest: decoding and applying every change to a fresh store file, 500 per transaction, changes/s
 *     (what a sidecar does while replaying the stream; nothing is opened);
 *   - Check: Decider.check of a random session in process (the acme example policy, compiled to Wasm,
 *     evaluated on a worker), with the subject cache off (every Check reads and opens its user and session)
 *     and on (10,000 entries, the default).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { decodeChange, encodeChange, sealChange } from '../src/changes/index.js';
import type { Change, SealerOf } from '../src/changes/index.js';
import { Decider } from '../src/check/index.js';
import { DEFAULT_SUBJECT_TYPES } from '../src/config/index.js';
import { IdentifierResolver } from '../src/identifiers/index.js';
import { applyChange } from '../src/ingest/index.js';
import { loadTenantPolicySources, PolicyCompiler, PolicyRegistry } from '../src/policy/index.js';
import { EntitlementStore } from '../src/store/index.js';
import { TenantCipher } from '../src/tenant_keys/index.js';
import { formatRow, measure, summarize } from './stats.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const TENANT = 'acme';
const USERS = Number(process.env['BENCH_USERS'] ?? 20_000);
const GROUPS = 100;
const CHECKS = 20_000;
const BATCH = 500;

const userId = (i: number): string => `00000000-0000-4000-8000-${i.toString().padStart(12, '0')}`;
const sessionId = (i: number): string => `s-${i}`;
const random = (n: number): number => Math.floor(Math.random() * n);

function* directory(): Generator<Change> {
  const now = Math.floor(Date.now() / 1000);
  const envelope = (): { v: 1; id: string; tenant: string; at: number } => ({
    v: 1,
    id: randomUUID(),
    tenant: TENANT,
    at: Date.now(),
  });
  yield { ...envelope(), kind: 'tenant.upsert', data: { display_name: 'Acme' } };
  const groupNames = ['Engineering', 'Engineering Leads', 'Finance', 'Acme Admins'];
  for (let g = 0; g < GROUPS; g++) {
    const name = groupNames[g] ?? `Group ${g}`;
    yield { ...envelope(), kind: 'group.upsert', data: { id: `g-${g}`, display_name: name, external_id: null } };
  }
  for (let i = 0; i < USERS; i++) {
    yield {
      ...envelope(),
      kind: 'user.upsert',
      data: {
        id: userId(i),
        user_name: `user${i}@acme.example`,
        external_id: `ext-${i}`,
        active: true,
        attributes: {
          name: { givenName: `Given${i}`, familyName: `Family${i}`, formatted: `Given${i} Family${i}` },
          emails: [{ value: `user${i}@acme.example`, type: 'work', primary: true }],
          phoneNumbers: [{ value: `+1 206 555 ${(i % 10_000).toString().padStart(4, '0')}`, type: 'work' }],
          department: i % 2 === 0 ? 'R&D' : 'Sales',
          title: 'Engineer',
        },
        roles: [],
      },
    };
    yield {
      ...envelope(),
      kind: 'session.start',
      data: {
        id: sessionId(i),
        user_id: userId(i),
        issuer: 'https://idp.acme.example',
        acr: 'phr',
        amr: ['hwk'],
        auth_time: now - 60,
        expires_at: now + 86_400,
        created_at: now - 60,
        revoked_at: null,
        revoke_reason: null,
        ip: `203.0.113.${i % 250}`,
        device_id: null,
      },
    };
    for (const g of [i % GROUPS, (i + 1) % GROUPS, (i + 2) % 4]) {
      yield { ...envelope(), kind: 'member.add', data: { group_id: `g-${g}`, user_id: userId(i) } };
    }
  }
}

async function main(): Promise<void> {
  const logger = pino({ level: 'warn' });
  const compiler = new PolicyCompiler({
    opaPath: `${ROOT}.tools/bin/opa`,
    platformDir: `${ROOT}policies/ipsie`,
    timeoutMs: 60_000,
  });
  const source = (await loadTenantPolicySources(`${ROOT}policies/examples`)).find((s) => s.tenantId === TENANT);
  if (source === undefined) throw new Error('no acme example policy');
  const policies = new PolicyRegistry();
  await policies.install(await compiler.compile(source));
  const cipher = new TenantCipher(TENANT, new Map([['k1', randomBytes(32)]]), 'k1', randomBytes(32));
  const changes = [...directory()];
  console.log(`directory: ${USERS.toLocaleString('en-US')} users, ${changes.length.toLocaleString('en-US')} changes`);
  const dir = mkdtempSync(join(tmpdir(), 'ipsie-bench-keys-'));
  try {
    for (const mode of ['clear', 'sealed'] as const) {
      const sealerOf: SealerOf = (tenant) => (mode === 'sealed' && tenant === TENANT ? cipher : undefined);
      console.log(`\n${mode}:`);
      let started = performance.now();
      const wire = changes.map((change) => encodeChange(sealChange(change, sealerOf(change.tenant))));
      const publishS = (performance.now() - started) / 1000;
      const bytes = wire.reduce((sum, message) => sum + message.byteLength, 0);
      console.log(
        `  publish (seal + encode)   ${Math.round(changes.length / publishS).toLocaleString('en-US')} changes/s, ` +
          `${(bytes / changes.length).toFixed(0)} bytes/change`,
      );
      for (const cacheSize of [0, 10_000]) {
        const store = EntitlementStore.open(join(dir, `${mode}-${cacheSize}.db`), {
          sealerOf,
          subjectCacheSize: cacheSize,
        });
        if (cacheSize === 0) {
          started = performance.now();
          for (let at = 0; at < wire.length; at += BATCH) {
            store.transaction(() => {
              for (let i = at; i < Math.min(at + BATCH, wire.length); i++) {
                applyChange(store, decodeChange(wire[i]!), i + 1);
              }
            });
          }
          const ingestS = (performance.now() - started) / 1000;
          console.log(
            `  ingest (decode + apply)   ${Math.round(wire.length / ingestS).toLocaleString('en-US')} changes/s`,
          );
        } else {
          store.transaction(() => {
            for (let i = 0; i < wire.length; i++) applyChange(store, decodeChange(wire[i]!), i + 1);
          });
        }
        const decider = new Decider({
          reader: store,
          policies,
          logger,
          identifiers: new IdentifierResolver(store, new Map([[TENANT, DEFAULT_SUBJECT_TYPES]])),
        });
        const check = async (): Promise<void> => {
          await decider.check({
            tenantId: TENANT,
            subject: { kind: 'session', sessionId: sessionId(random(USERS)) },
            action: { name: 'read', properties: {} },
            resource: { type: 'document', id: 'd1', properties: {} },
            context: { ip: undefined, userAgent: undefined, deviceId: undefined, attributes: {} },
            minSequence: 0,
          });
        };
        await measure(2_000, check);
        const checks = await measure(CHECKS, check);
        console.log(formatRow(`Check, subject cache ${cacheSize === 0 ? 'off' : 'on (10,000)'}`, summarize(checks)));
        store.close();
      }
    }
  } finally {
    await policies.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
