import { describe, expect, it } from 'vitest';
import { healthReport, policyReadiness } from '../../src/observability/health_report.js';

const OK = { ok: true, detail: 'ok' };

describe('healthReport', () => {
  it('is ready when every component is', () => {
    expect(healthReport({ store: OK, policies: OK, stream: OK })).toEqual({
      ready: true,
      components: { store: OK, policies: OK, stream: OK },
    });
  });

  it('is not ready when any one component is not, and names each component’s state', () => {
    const stale = { ok: false, detail: 'stream 42 s behind' };
    const report = healthReport({ store: OK, policies: OK, stream: stale });
    expect(report.ready).toBe(false);
    expect(report.components['stream']).toBe(stale);
  });

  it('is ready with no components (nothing to wait for)', () => {
    expect(healthReport({}).ready).toBe(true);
  });
});

describe('policyReadiness', () => {
  const versions: Record<string, string> = { acme: 'sha256:1' };
  const version = (t: string): string | undefined => versions[t];

  it('a tenant without a policy is not ready, but the policies component stays up for the others', () => {
    const state = policyReadiness(['acme', 'globex'], version);
    expect(state.component).toEqual({ ok: true, detail: 'no policy for globex (the other tenants are served)' });
    expect(state.tenants).toEqual({
      acme: { ready: true, detail: 'policy sha256:1' },
      globex: { ready: false, detail: 'no policy: its decisions fail closed' },
    });
  });

  it('is down when the store knows tenants and none has a policy; up when it knows none', () => {
    expect(policyReadiness(['globex'], version).component.ok).toBe(false);
    expect(policyReadiness([], version).component).toEqual({ ok: true, detail: 'every tenant has a policy' });
  });
});
