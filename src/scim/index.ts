export { createScimRouter, DEFAULT_MAX_BODY_BYTES, SCIM_MEDIA_TYPE, SEQUENCE_HEADER } from './scim_router.js';
export type { ScimRouterOptions } from './scim_router.js';
export { ScimService } from './scim_service.js';
export type { ScimServiceOptions } from './scim_service.js';
export { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './scim_reads.js';
export type { ListQuery, ReplicaSync, ScimContext, ScimResult } from './scim_result.js';
export { claimKey, DEFAULT_CLAIM_PENDING_MS, foldName, NAME_CLAIMS_BUCKET, NameClaims } from './name_claims.js';
export type { ClaimRegister, EntityLog, NamedResource, NameClaimsOptions } from './name_claims.js';
export { ScimAuthenticator } from './scim_authenticator.js';
export type { ScimCredentials } from './scim_authenticator.js';
export { RateLimiter } from './rate_limiter.js';
export type { RateLimit } from './rate_limiter.js';
export { ScimError, SCIM_TYPE } from './errors.js';
export type { ScimErrorCode, ScimType } from './errors.js';
export { parseFilter, matches } from './filter.js';
export type { Filter } from './filter.js';
export { applyPatch } from './patch.js';
export {
  RESOURCE_TYPES,
  USER_SCHEMA,
  GROUP_SCHEMA,
  ENTERPRISE_USER_SCHEMA,
  PATCH_OP_SCHEMA,
  LIST_RESPONSE_SCHEMA,
  ERROR_SCHEMA,
} from './schema.js';
