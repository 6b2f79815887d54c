export { TokenVerifier } from './token_verifier.js';
export type { IdpChange, TokenVerifierOptions, VerifiedToken, VerifyPurpose } from './token_verifier.js';
export { IdentityProviderUnavailableError, TokenRejectedError } from './errors.js';
export { TOKEN_ERROR_CODES } from './errors.js';
export type { TokenErrorCode } from './errors.js';
