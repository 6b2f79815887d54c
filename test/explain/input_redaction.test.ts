import { describe, expect, it } from 'vitest';
import { REDACTED, redactInput } from '../../src/explain/index.js';

describe('redactInput', () => {
  it('keeps what decided (groups, roles, session strength, posture, the request) and hides who the person is', () => {
    const input = {
      tenant: 'acme',
      subject: {
        id: 'u1',
        user_name: 'ann@acme.example',
        external_id: 'pid-1',
        active: true,
        attributes: { department: 'R&D', emails: [{ value: 'ann@acme.example' }], displayName: 'Ann', title: 'Eng' },
        roles: ['approver'],
        groups: [{ id: 'g1', display_name: 'Engineering' }],
      },
      session: { id: 's1', acr: 'phr', ip: '198.51.100.7' },
      posture: { risk: { level: 'low' } },
      action: { name: 'approve' },
      resource: { type: 'deployment', id: 'd-9' },
      context: { ip: '198.51.100.7', user_agent: 'curl/8', device_id: 'laptop' },
    };
    const redacted = redactInput(input);
    expect(redacted).toEqual({
      ...input,
      subject: {
        ...input.subject,
        user_name: REDACTED,
        external_id: REDACTED,
        attributes: { department: 'R&D', emails: REDACTED, displayName: REDACTED, title: 'Eng' },
      },
      session: { id: 's1', acr: 'phr', ip: REDACTED },
      context: { ip: REDACTED, user_agent: REDACTED, device_id: 'laptop' },
    });
    expect(JSON.stringify(redacted)).not.toMatch(/ann@|198\.51|curl/);
    // The input itself is left as it was.
    expect(input.subject.user_name).toBe('ann@acme.example');
  });

  it('leaves absent values absent and what is not an input as it is', () => {
    expect(redactInput({ subject: { external_id: null }, session: null })).toEqual({
      subject: { external_id: null },
      session: null,
    });
    expect(redactInput('x')).toBe('x');
    expect(redactInput(null)).toBeNull();
  });
});
