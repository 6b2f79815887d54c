import { SidecarError } from '../errors.js';
import type { CodesOf, SidecarErrorOptions } from '../errors.js';

/** A tenant's keys refused to seal or open: revoked, not loaded, or the value is not theirs. */
export class TenantKeyError extends SidecarError {
  readonly code: CodesOf<'ERR_TENANT_KEY_'>;
  readonly tenant: string;

  constructor(code: CodesOf<'ERR_TENANT_KEY_'>, tenant: string, message: string, options?: SidecarErrorOptions) {
    super(message, options);
    this.code = code;
    this.tenant = tenant;
  }
}
