import { SidecarError } from '../errors.js';

/** The tenant is not provisioned in this store. */
export class TenantUnknownError extends SidecarError {
  readonly code = 'ERR_STORE_TENANT_UNKNOWN';
  readonly tenantId: string;

  constructor(tenantId: string) {
    super(`tenant "${tenantId}" is not known`);
    this.tenantId = tenantId;
  }
}

/** The store file cannot be opened or has a schema from a newer version. */
export class StoreUnavailableError extends SidecarError {
  readonly code = 'ERR_STORE_UNAVAILABLE';
}
