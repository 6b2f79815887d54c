import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeChange, encodeChange, sealChange } from '../../src/changes/index.js';
import type { Change, DataSealer } from '../../src/changes/index.js';
import { applyChange } from '../../src/ingest/index.js';
import { EntitlementStore } from '../../src/store/index.js';
import { TenantCipher, TenantKeyError } from '../../src/tenant_keys/index.js';
import { session, user } from '../harness/changes.js';
import { makeTempDir } from '../harness/temp_dir.js';

/**
 * A tenant with a customer-managed key: its changes are sealed by the producer (as ChangePublisher does), go
 * through the wire codec and the applier untouched, and the store opens them only on read.
 */

let dir: ReturnType<typeof makeTempDir>;
let path: string;
let store: EntitlementStore;
let acme: TenantCipher;
let revoked: Set<string>;
let sequence: number;

const PROFILE = {
  name: { givenName: 'Ada', familyName: 'Lovelace' },
  emails: [{ value: 'Ada.Lovelace@acme.example', primary: true }],
  phoneNumbers: [{ value: 'tel:+1 (206) 555-0100' }],
  department: 'Analytical Engines',
};

function sealerOf(tenant: string): DataSealer | undefined {
  if (revoked.has(tenant)) throw new TenantKeyError('ERR_TENANT_KEY_REVOKED', tenant, `${tenant}'s key was revoked`);
  return tenant === 'acme' ? acme : undefined;
}

/** What a sidecar applies: the change as published (sealed for acme), decoded from its bytes. */
function ingest(change: Change): void {
  const wire = decodeChange(encodeChange(sealChange(change, sealerOf(change.tenant))));
  store.transaction(() => applyChange(store, wire, ++sequence));
}

beforeEach(() => {
  dir = makeTempDir();
  path = join(dir.path, 'store.db');
  acme = new TenantCipher('acme', new Map([['k1', randomBytes(32)]]), 'k1', randomBytes(32));
  revoked = new Set();
  sequence = 0;
  store = EntitlementStore.open(path, { sealerOf });
  for (const tenant of ['acme', 'globex']) {
    store.transaction(() =>
      applyChange(
        store,
        { v: 1, id: `t-${tenant}`, tenant, at: 1, kind: 'tenant.upsert', data: { display_name: tenant } },
        ++sequence,
      ),
    );
  }
  ingest(user('acme', 'u1', { user_name: 'Ada@acme.example', external_id: 'ext-ada', attributes: PROFILE }));
  ingest(session('acme', 's1', 'u1', { ip: '203.0.113.7', device_id: 'laptop-1' }));
  ingest(user('globex', 'u1', { user_name: 'bob@globex.example', attributes: { department: 'Sales' } }));
  ingest(posture('risk', 'u1', { level: 'high', reason: 'impossible travel from Lisbon' }));
  ingest(posture('device', 'laptop-1', { compliant: false, serial: 'C02XK1ZZJGH5' }));
});

function posture(kind: 'risk' | 'device', subjectId: string, state: Record<string, unknown>): Change {
  return {
    v: 1,
    id: randomUUID(),
    tenant: 'acme',
    at: Date.now(),
    kind: 'posture.set',
    data: { kind, subject_id: subjectId, state },
  };
}

afterEach(() => {
  store.close();
  dir.remove();
});

describe('a tenant with a customer-managed key', () => {
  it('keeps no personal value of its users and sessions in the store file', () => {
    store.close();
    const raw = new Database(path, { readonly: true });
    const rows = JSON.stringify([
      raw.prepare("SELECT * FROM users WHERE tenant_id = 'acme'").all(),
      raw.prepare("SELECT * FROM sessions WHERE tenant_id = 'acme'").all(),
      raw.prepare("SELECT * FROM posture WHERE tenant_id = 'acme'").all(),
    ]);
    raw.close();
    for (const personal of [
      'Ada',
      'ada',
      'Lovelace',
      'ext-ada',
      '555',
      '203.0.113.7',
      'Analytical',
      'Lisbon',
      'C02XK',
    ]) {
      expect(rows).not.toContain(personal);
    }
    expect(rows).toContain('s1.k1.');
    store = EntitlementStore.open(path, { sealerOf });
  });

  it('reads its users and sessions back whole, for Check and for SCIM', () => {
    const read = store.readSubject('acme', { kind: 'session', sessionId: 's1' });
    expect(read.slice?.user).toMatchObject({
      userName: 'Ada@acme.example',
      externalId: 'ext-ada',
      attributes: PROFILE,
    });
    expect(read.slice?.session).toMatchObject({ ip: '203.0.113.7', deviceId: 'laptop-1' });
    expect(store.user('acme', 'u1')?.attributes).toEqual(PROFILE);
    expect([...store.users('acme')].map((u) => u.userName)).toEqual(['Ada@acme.example']);
    expect(store.session('acme', 's1')?.ip).toBe('203.0.113.7');
    expect(read.slice?.posture).toEqual({
      risk: { level: 'high', reason: 'impossible travel from Lisbon' },
      device: { compliant: false, serial: 'C02XK1ZZJGH5' },
    });
    expect(store.posture('acme', 'risk', 'u1')).toEqual({ level: 'high', reason: 'impossible travel from Lisbon' });
  });

  it("refuses one subject's sealed posture moved onto another's", () => {
    ingest(posture('risk', 'u2', { level: 'low' }));
    store.close();
    const raw = new Database(path);
    raw.exec(
      "UPDATE posture SET sealed = (SELECT sealed FROM posture WHERE subject_id = 'u1' AND kind = 'risk') WHERE subject_id = 'u2'",
    );
    raw.close();
    store = EntitlementStore.open(path, { sealerOf });
    expect(() => store.posture('acme', 'risk', 'u2')).toThrow(
      expect.objectContaining({ code: 'ERR_TENANT_KEY_SEALED_INVALID' }) as Error,
    );
  });

  it('finds its users by userName, externalId, e-mail and phone number through their lookup hashes', () => {
    expect(store.userIdsByUserName('acme', 'ADA@acme.example')).toEqual(['u1']);
    expect(store.userIdsByExternalId('acme', 'ext-ada')).toEqual(['u1']);
    expect(store.userIdsByExternalId('acme', 'EXT-ADA')).toEqual([]);
    expect(store.userIdsByEmail('acme', 'ada.lovelace@ACME.example')).toEqual(['u1']);
    expect(store.userIdsByPhoneNumber('acme', '+12065550100')).toEqual(['u1']);
    expect(store.userIdsByUserName('acme', 'eve@acme.example')).toEqual([]);
  });

  it('fails closed once its key is revoked, cached reads included, and other tenants keep answering', () => {
    expect(store.readSubject('acme', { kind: 'user', userId: 'u1' }).slice?.user.userName).toBe('Ada@acme.example');
    revoked.add('acme');
    for (const read of [
      () => store.readSubject('acme', { kind: 'user', userId: 'u1' }),
      () => store.user('acme', 'u1'),
      () => store.userIdsByUserName('acme', 'Ada@acme.example'),
    ]) {
      expect(read).toThrow(expect.objectContaining({ code: 'ERR_TENANT_KEY_REVOKED' }) as Error);
    }
    expect(store.readSubject('globex', { kind: 'user', userId: 'u1' }).slice?.user.userName).toBe('bob@globex.example');
  });

  it("applies its changes without its key: a revoked tenant's stream does not stop the others'", () => {
    const sealed = decodeChange(encodeChange(sealChange(user('acme', 'u2', { user_name: 'eve@acme.example' }), acme)));
    revoked.add('acme');
    store.transaction(() => applyChange(store, sealed, ++sequence));
    ingest(user('globex', 'u2', { user_name: 'carol@globex.example' }));
    expect(store.user('globex', 'u2')?.userName).toBe('carol@globex.example');
    revoked.delete('acme');
    expect(store.user('acme', 'u2')?.userName).toBe('eve@acme.example');
  });

  it("refuses a sealed profile moved onto another user's row", () => {
    ingest(user('acme', 'u2', { user_name: 'eve@acme.example' }));
    store.close();
    const raw = new Database(path);
    raw.exec(
      "UPDATE users SET sealed = (SELECT sealed FROM users WHERE tenant_id = 'acme' AND id = 'u1') WHERE tenant_id = 'acme' AND id = 'u2'",
    );
    raw.close();
    store = EntitlementStore.open(path, { sealerOf });
    expect(() => store.user('acme', 'u2')).toThrow(
      expect.objectContaining({ code: 'ERR_TENANT_KEY_SEALED_INVALID' }) as Error,
    );
  });

  it('keeps a tenant without a key in clear', () => {
    store.close();
    const raw = new Database(path, { readonly: true });
    expect(JSON.stringify(raw.prepare("SELECT * FROM users WHERE tenant_id = 'globex'").all())).toContain(
      'bob@globex.example',
    );
    raw.close();
    store = EntitlementStore.open(path, { sealerOf });
  });

  it('refuses to open sealed rows once the tenant has no key configured', () => {
    store.close();
    store = EntitlementStore.open(path);
    expect(() => store.user('acme', 'u1')).toThrow(
      expect.objectContaining({ code: 'ERR_CHANGE_SEALED_WITHOUT_KEY' }) as Error,
    );
  });
});
