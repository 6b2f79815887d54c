import { describe, expect, it } from 'vitest';
import { capturingLogger } from '../harness/log_capture.js';

describe('logger', () => {
  it('never writes credentials, wherever they sit in a log object', () => {
    const { logger, lines } = capturingLogger('info');
    logger.info(
      {
        token: 'eyJhbGciOi.secret.sig',
        request: { id_token: 'eyJ.id.sig', nonce: 'n-123', headers: { authorization: 'Bearer s3cr3t' } },
        authorization: 'Bearer s3cr3t',
      },
      'request',
    );
    const text = JSON.stringify(lines);
    for (const secret of ['eyJhbGciOi', 'eyJ.id', 's3cr3t', 'n-123']) expect(text).not.toContain(secret);
    expect(lines[0]).toMatchObject({ token: '[redacted]', request: { id_token: '[redacted]' } });
  });
});
