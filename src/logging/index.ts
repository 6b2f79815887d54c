import { pino } from 'pino';
import type { Logger } from 'pino';
import type { LogLevel } from '../config/index.js';

export type { Logger };

/**
 * JSON logs on stdout. Credentials never reach a log line: tokens and
 * authorization headers are censored wherever they appear in a log object.
 */
export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'ipsie-sidecar' },
    redact: {
      paths: [
        'token',
        '*.token',
        'id_token',
        '*.id_token',
        'nonce',
        '*.nonce',
        'authorization',
        '*.authorization',
        'headers.authorization',
        '*.headers.authorization',
      ],
      censor: '[redacted]',
    },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}
