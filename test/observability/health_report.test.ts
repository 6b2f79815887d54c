import { describe, expect, it } from 'vitest';
import { healthReport } from '../../src/observability/health_report.js';

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
