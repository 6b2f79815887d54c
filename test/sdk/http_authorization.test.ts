import { describe, expect, it } from 'vitest';
import { refusalFor } from '../../sdk/src/index.js';
import type { CheckResult } from '../../sdk/src/index.js';

const decided = { decisionId: 'd-1', policyVersion: 'v1', sequence: 7 };

describe('refusalFor', () => {
  it('answers a STALE_DATA deny with 503 and Retry-After: the sidecar fails closed, the user is not refused', () => {
    const stale: CheckResult = {
      ...decided,
      decision: 'DENY',
      reasons: [{ code: 'STALE_DATA', message: 'cut off' }],
    };
    expect(refusalFor(stale, 5)).toEqual({
      status: 503,
      headers: { 'retry-after': '5' },
      body: { error: 'authorization_unavailable', reason: 'STALE_DATA' },
    });
  });

  it('builds the RFC 9470 challenge itself when the sidecar sent none', () => {
    const stepUp: CheckResult = {
      ...decided,
      decision: 'STEP_UP',
      reasons: [{ code: 'AUTHN_TOO_OLD', message: '' }],
      stepUp: { acrValues: ['phr', 'mfa'], maxAge: 0, authorizationParams: { prompt: 'login' }, wwwAuthenticate: '' },
    };
    expect(refusalFor(stepUp)?.headers).toEqual({
      'www-authenticate': 'Bearer error="insufficient_user_authentication", acr_values="phr mfa", max_age="0"',
    });
  });

  it('lets an ALLOW through', () => {
    expect(refusalFor({ ...decided, decision: 'ALLOW', reasons: [] })).toBeUndefined();
  });
});
