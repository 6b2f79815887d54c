import { SidecarError } from '../errors.js';

/** No such policy version for this tenant (or nothing active to roll back from). */
export class PolicyVersionNotFoundError extends SidecarError {
  readonly code = 'ERR_POLICY_VERSION_NOT_FOUND';
  readonly httpStatus = 404;
}

/** The request conflicts with the catalog's state: deleting the active version, no previous version, a race. */
export class PolicyCatalogConflictError extends SidecarError {
  readonly code = 'ERR_POLICY_CATALOG_CONFLICT';
  readonly httpStatus = 409;
}

/** An upload that is not a policy: bad JSON shape, too many or too large modules. */
export class PolicyUploadInvalidError extends SidecarError {
  readonly code = 'ERR_POLICY_UPLOAD_INVALID';
  readonly httpStatus = 400;
}

/** A stored bundle that cannot be read back (corrupt, another format). */
export class PolicyBundleInvalidError extends SidecarError {
  readonly code = 'ERR_POLICY_BUNDLE_INVALID';
}
