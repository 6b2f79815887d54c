import Router from '@koa/router';
import type { Context } from 'koa';
import { readJsonObject } from '../http/index.js';
import type { Logger } from '../logging/index.js';
import { TenantKeyError } from './errors.js';
import type { TenantKeyring } from './tenant_keyring.js';

export interface TenantKeyRoutesOptions {
  readonly keys: Pick<TenantKeyring, 'status' | 'rotate' | 'revoke'>;
  readonly logger: Logger;
  /** Largest request body, in bytes. @defaultValue 4096 */
  readonly maxBodyBytes?: number;
}

/**
 * `/admin/v1/<tenant>/keys` (nested in the admin router, behind the tenant's admin credentials):
 *
 * - `GET` — the tenant's key status: provider, key id, data key ids and dates (never key material);
 * - `POST rotate` — `{"data_key": true}` (a new data key seals from now on) and/or `{"key_id": "<new CMK>"}`
 *   (every key re-wrapped under it);
 * - `POST revoke` — crypto-shredding, irreversible: `{"confirm": "<tenant>"}` must name the tenant.
 *
 * Rotations and revocations are recorded on the tenant's audit trail (`tenant_key.*`) by the keyring.
 */
export function createTenantKeyRoutes(options: TenantKeyRoutesOptions): Router<{ tenant: string }> {
  const { keys, logger } = options;
  const limit = options.maxBodyBytes ?? 4_096;
  const router = new Router<{ tenant: string }>({ prefix: '/keys' });
  const body = async (
    ctx: Context & { state: { tenant: string } },
    allowed: readonly string[],
  ): Promise<Record<string, unknown>> => {
    const tenant = ctx.state.tenant;
    const value = await readJsonObject(ctx, { limit, invalid: (message) => invalid(tenant, message) });
    const unknown = Object.keys(value).filter((k) => !allowed.includes(k));
    if (unknown.length > 0) {
      throw invalid(tenant, `unknown fields: ${unknown.join(', ')} (known: ${allowed.join(', ')})`);
    }
    return value;
  };
  router.get('/', async (ctx) => {
    ctx.body = await keys.status(ctx.state.tenant);
  });
  router.post('/rotate', async (ctx) => {
    const tenant = ctx.state.tenant;
    const value = await body(ctx, ['data_key', 'key_id']);
    const dataKey = value['data_key'];
    const keyId = value['key_id'];
    if (dataKey !== undefined && dataKey !== true) throw invalid(tenant, '"data_key" must be true when present');
    if (keyId !== undefined && (typeof keyId !== 'string' || !KEY_ID.test(keyId))) {
      throw invalid(tenant, '"key_id" must be a key id, ARN or alias (1 to 2048 printable characters)');
    }
    if (dataKey === undefined && keyId === undefined)
      throw invalid(tenant, 'name what to rotate: "data_key": true and/or "key_id"');
    const status = await keys.rotate(tenant, {
      ...(dataKey === true ? { dataKey: true } : {}),
      ...(typeof keyId === 'string' ? { keyId } : {}),
    });
    logger.info({ tenant, data_key: dataKey === true, key_id: keyId }, 'tenant keys rotated');
    ctx.body = status;
  });
  router.post('/revoke', async (ctx) => {
    const tenant = ctx.state.tenant;
    const value = await body(ctx, ['confirm']);
    if (value['confirm'] !== tenant) {
      throw invalid(tenant, `revocation destroys the tenant's keys for good: confirm with {"confirm": "${tenant}"}`);
    }
    const status = await keys.revoke(tenant);
    logger.warn({ tenant }, 'tenant keys revoked (crypto-shredded) by a tenant administrator');
    ctx.body = status;
  });
  return router;
}

/** A KMS key id, ARN or alias: printable ASCII, no spaces. */
const KEY_ID = /^[\x21-\x7e]{1,2048}$/;

function invalid(tenant: string, message: string): TenantKeyError {
  return new TenantKeyError('ERR_TENANT_KEY_REQUEST_INVALID', tenant, message);
}
