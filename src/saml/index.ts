export { SamlVerifier, MAX_SAML_RESPONSE_LENGTH, spMetadataXml } from './saml_verifier.js';
export { createSamlLogoutRoutes, createSamlMetadataRoutes, samlLogoutPath, samlMetadataPath } from './saml_routes.js';
export type { SamlLogoutRoutesOptions } from './saml_routes.js';
export type {
  AuthnContextComparison,
  AuthnRequestOptions,
  IssuedAuthnRequest,
  SamlVerifierOptions,
  VerifiedSamlAssertion,
} from './saml_verifier.js';
export { parseIdpMetadata, durationSeconds } from './idp_metadata.js';
export type { IdpMetadata } from './idp_metadata.js';
export type { MetadataChange } from './idp_metadata_source.js';
export { MemorySamlRequestStore } from './request_store.js';
export type { SamlRequestStore } from './request_store.js';
export { KvSamlRequestStore, SAML_REQUESTS_BUCKET } from './kv_request_store.js';
export { SamlMetadataUnavailableError, SamlNotConfiguredError, SamlRejectedError, SAML_ERROR_CODES } from './errors.js';
export type { SamlErrorCode } from './errors.js';
export type { VerifiedLogoutRequest } from './logout_request.js';
export { MAX_LOGOUT_REQUEST_AGE_S } from './logout_request.js';
