import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, PROCESS_SETTINGS, SETTING_VARIABLES, settingsReference } from '../../src/config/index.js';
import { PROJECT_ROOT } from '../harness/opa.js';

/** `IPSIE_*` names that are not process settings: streams, and the policy CLI's own variables. */
const NOT_SETTINGS = new Set([
  'IPSIE_STATE',
  'IPSIE_AUDIT',
  'IPSIE_OBSERVATIONS',
  'IPSIE_ADMIN_TOKEN',
  'IPSIE_CHECK_ADDRESS',
  'IPSIE_GATEWAY_URL',
  'IPSIE_TENANT',
]);

describe('the process settings table', () => {
  it('parseConfig reads every variable of the table, and no other', () => {
    for (const role of ['sidecar', 'gateway'] as const) {
      const read = new Set<string>();
      const env = new Proxy<Record<string, string | undefined>>(
        {},
        {
          get: (_, key) => {
            if (typeof key === 'string') read.add(key);
            return undefined;
          },
        },
      );
      parseConfig(env, undefined, role);
      expect([...read].sort()).toEqual([...SETTING_VARIABLES].sort());
    }
  });

  it('an empty value takes the default, or turns off a setting that can be off', () => {
    const config = parseConfig({
      IPSIE_STORE_PATH: '',
      IPSIE_LOG_LEVEL: '',
      IPSIE_NATS_NAME: '',
      IPSIE_GATEWAY_ADDRESS: '',
      IPSIE_HEALTH_ADDRESS: '',
      IPSIE_GRPC_SOCKET: '',
      IPSIE_GRPC_ADDRESS: '127.0.0.1:50051',
      IPSIE_GRPC_CALLER_TOKEN_SHA256: 'ab'.repeat(32),
    });
    expect(config.store.path).toBe('data/sidecar.db');
    expect(config.log.level).toBe('info');
    expect(config.nats.name).toBe('ipsie-sidecar');
    expect(config.gateway.address).toBe('127.0.0.1:8080');
    expect(config.health.address).toBeUndefined();
    expect(config.grpc.socketPath).toBeUndefined();
  });

  it('IPSIE_CONFIG_FILE takes every setting of the table but itself', () => {
    // Every one empty (its default, or off), but one gRPC listener is needed.
    const all = {
      ...Object.fromEntries(SETTING_VARIABLES.filter((v) => v !== 'IPSIE_CONFIG_FILE').map((v) => [v, ''])),
      IPSIE_GRPC_SOCKET: 'data/x.sock',
    };
    const files: Record<string, string> = {
      '/all.json': JSON.stringify(all),
      '/self.json': JSON.stringify({ IPSIE_CONFIG_FILE: '/all.json' }),
    };
    const read = (path: string): string => files[path] ?? '';
    expect(() => parseConfig({ IPSIE_CONFIG_FILE: '/all.json' }, read)).not.toThrow();
    expect(() => parseConfig({ IPSIE_CONFIG_FILE: '/self.json' }, read)).toThrow(
      expect.objectContaining({ code: 'ERR_CONFIG_INVALID', keys: ['IPSIE_CONFIG_FILE'] }),
    );
  });

  it('every setting says its type, default, roles and meaning for the reference', () => {
    for (const row of settingsReference()) {
      expect(row.type, row.variable).not.toBe('');
      expect(row.default, row.variable).not.toBe('');
      expect(row.roles.length, row.variable).toBeGreaterThan(0);
      expect(row.description.length, row.variable).toBeGreaterThan(10);
    }
    expect(Object.keys(PROCESS_SETTINGS)).toEqual(SETTING_VARIABLES);
  });

  it('every IPSIE_* variable the README, docs and deploy files name is a setting of the table', () => {
    const files = [
      'README.md',
      ...readdirSync(join(PROJECT_ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
      'deploy/Dockerfile',
      ...readdirSync(join(PROJECT_ROOT, 'deploy/kubernetes')).map((f) => `deploy/kubernetes/${f}`),
    ];
    const unknown: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(PROJECT_ROOT, file), 'utf8');
      for (const [name] of text.matchAll(/IPSIE_[A-Z0-9_]*[A-Z0-9]/g)) {
        const known = (SETTING_VARIABLES as readonly string[]).includes(name) || NOT_SETTINGS.has(name);
        // `IPSIE_GRPC_TLS_*` names a group of settings.
        if (!known && !SETTING_VARIABLES.some((v) => v.startsWith(`${name}_`))) unknown.push(`${file}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});
