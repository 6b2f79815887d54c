import { SidecarError } from '../errors.js';

/** No such policy version for this tenant (or nothing active to roll back from). */
export class PolicyVersionNotFoundError extends SidecarError {
  readonly code = 'ERR_CATALOG_VERSION_NOT_FOUND';
}

/** The request conflicts with the catalog's state: deleting the active version, no previous version, a race. */
export class PolicyCatalogConflictError extends SidecarError {
  readonly code = 'ERR_CATALOG_CONFLICT';
}

/** An upload that is not a policy: bad JSON shape, too many or too large modules. */
export class PolicyUploadInvalidError extends SidecarError {
  readonly code = 'ERR_CATALOG_UPLOAD_INVALID';
}

/** A stored bundle that cannot be read back (corrupt, another format). */
export class PolicyBundleInvalidError extends SidecarError {
  readonly code = 'ERR_CATALOG_BUNDLE_INVALID';
}

/** A version whose Wasm traps on a dry-run request: the upload's fault, not the gateway's. */
export class PolicyDryRunFailedError extends SidecarError {
  readonly code = 'ERR_CATALOG_DRY_RUN_FAILED';
}

/** A changed attribute catalog that the tenant's active policy does not type-check against (a breaking change). */
export class AttributeCatalogBreakingError extends SidecarError {
  readonly code = 'ERR_CATALOG_ATTRIBUTES_BREAKING';
}
