export {
  AttributeCatalogBreakingError,
  PolicyBundleInvalidError,
  PolicyCatalogConflictError,
  PolicyDryRunFailedError,
  PolicyUploadInvalidError,
  PolicyVersionNotFoundError,
  PromotionInvalidError,
  PromotionNoSandboxError,
  PromotionReviewUnknownError,
  PromotionSourceForbiddenError,
  PromotionStaleError,
} from './errors.js';
export { bundleOf, compiledOf, decodeBundle, encodeBundle } from './policy_bundle.js';
export type { PolicyBundle, PromotionProvenance } from './policy_bundle.js';
export { POLICY_ACTIVE_BUCKET, POLICY_BUNDLES_BUCKET, PolicyCatalog } from './policy_catalog.js';
export type { ActivePolicy, PolicyVersionInfo } from './policy_catalog.js';
export { PolicyFollower } from './policy_follower.js';
export {
  attributeCatalogDiff,
  createPromotionRoutes,
  POLICY_PROMOTIONS_BUCKET,
  PROMOTION_REVIEW_TTL_MS,
  PromotionReviews,
} from './policy_promotion.js';
export type { AttributeCatalogDiff, PromotionReview, PromotionRoutesOptions } from './policy_promotion.js';
export { diffModules } from './source_diff.js';
export type { ModuleDiff } from './source_diff.js';
export { createPolicyAdminRoutes, UPLOAD_LIMITS } from './policy_admin_routes.js';
export type { PolicyAdminOptions } from './policy_admin_routes.js';
export type { PolicyFollowerOptions } from './policy_follower.js';
export {
  adoptCatalog,
  ATTRIBUTE_CATALOGS_BUCKET,
  AttributeCatalogVersions,
  createAttributeRoutes,
  inputSchemaOf,
} from './attribute_catalogs.js';
export type { AttributeRoutesOptions, CatalogChangeOptions, CatalogVersion } from './attribute_catalogs.js';
