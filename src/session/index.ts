export { SessionAuthority, jitUserId, jitUserName } from './session_authority.js';
export type {
  AssertionClaims,
  SessionAuthorityOptions,
  SignInContext,
  StartedSession,
  StateReplica,
  TokenIdentity,
} from './session_authority.js';
export { sessionFromAssertion } from './asserted_session.js';
export type { AssertedSession } from './asserted_session.js';
export { authorizationParams, stepUpChallenge } from './step_up_challenge.js';
export type { StepUp } from './step_up_challenge.js';
export { SignInRefusedError } from './errors.js';
export type { SignInErrorCode } from './errors.js';
export type { SignInAssertion } from './asserted_session.js';
export { signInFromSaml } from './saml_sign_in.js';
