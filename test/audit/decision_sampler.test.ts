import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecisionSampler, sampledDecisionOf } from '../../src/audit/index.js';
import type { AuditRecord, DecisionRecordData, RecordSealer } from '../../src/audit/index.js';
import { TenantCipher, TenantKeyError } from '../../src/tenant_keys/index.js';

const DATA: DecisionRecordData = {
  decision_id: '0b5f4bd0-6a8e-4d3f-9f7e-2a1f8c6d4e21',
  decision: 'allow',
  reasons: [],
  subject: { kind: 'session' },
  action: 'read',
  resource: { type: 'document', id: 'd1' },
  policy_version: 'v1',
  sequence: 7,
};
const INPUT = { subject: { user: { user_name: 'ada@acme.example', attributes: { phone: '+1 206 555 0100' } } } };

async function recorded(sealerOf?: (tenant: string) => RecordSealer | undefined): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  const sampler = new DecisionSampler({
    rate: 1,
    publish: async (record) => {
      records.push(record);
      await Promise.resolve();
    },
    ...(sealerOf === undefined ? {} : { sealerOf }),
  });
  sampler.record('acme', DATA, () => INPUT);
  await Promise.resolve();
  return records;
}

describe('DecisionSampler with a customer-managed key', () => {
  const acme = new TenantCipher('acme', new Map([['k1', randomBytes(32)]]), 'k1', randomBytes(32));

  it("records the tenant's input sealed, and the reading opens it", async () => {
    const [record] = await recorded((tenant) => (tenant === 'acme' ? acme : undefined));
    expect(JSON.stringify(record)).not.toContain('ada@acme.example');
    expect(record?.data['input']).toBeUndefined();
    expect(sampledDecisionOf(record!, () => acme).input).toEqual(INPUT);
  });

  it('keeps a tenant without a key in clear', async () => {
    const [record] = await recorded(() => undefined);
    expect(sampledDecisionOf(record!).input).toEqual(INPUT);
  });

  it('records nothing rather than the input in clear when the key cannot seal', async () => {
    const records = await recorded(() => {
      throw new TenantKeyError('ERR_TENANT_KEY_REVOKED', 'acme', 'revoked');
    });
    expect(records).toEqual([]);
  });

  it("refuses to read a sealed input as another decision's, or without the key", async () => {
    const [record] = await recorded(() => acme);
    const moved = { ...record!, data: { ...record!.data, decision_id: '5a1e0c7e-0000-4000-8000-000000000000' } };
    expect(() => sampledDecisionOf(moved, () => acme)).toThrow(
      expect.objectContaining({ code: 'ERR_TENANT_KEY_SEALED_INVALID' }) as Error,
    );
    expect(() => sampledDecisionOf(record!)).toThrow(
      expect.objectContaining({ code: 'ERR_AUDIT_SEALED_WITHOUT_KEY' }) as Error,
    );
  });
});
