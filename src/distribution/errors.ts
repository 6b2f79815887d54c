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

/** The tenant has no sandbox to promote from (none declared, or the tenant is a sandbox itself). */
export class PromotionNoSandboxError extends SidecarError {
  readonly code = 'ERR_CATALOG_PROMOTION_NO_SANDBOX';
}

/** A promotion naming a source other than the tenant's own sandbox: another tenant's, or production itself. */
export class PromotionSourceForbiddenError extends SidecarError {
  readonly code = 'ERR_CATALOG_PROMOTION_SOURCE_FORBIDDEN';
}

/** No such review of this tenant: never made, made for another tenant, used already, or expired. */
export class PromotionReviewUnknownError extends SidecarError {
  readonly code = 'ERR_CATALOG_PROMOTION_REVIEW_UNKNOWN';
}

/** Production's active version changed since the review was made: what was shown is no longer what would change. */
export class PromotionStaleError extends SidecarError {
  readonly code = 'ERR_CATALOG_PROMOTION_STALE';
}

/** A promotion request that is not one: no review digest, a bad `recorded` window. */
export class PromotionInvalidError extends SidecarError {
  readonly code = 'ERR_CATALOG_PROMOTION_INVALID';
}
