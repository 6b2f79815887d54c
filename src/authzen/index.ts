export { createAuthzenRouter } from './authzen_router.js';
export type { AuthzenRouterOptions } from './authzen_router.js';
export { AuthzenPdpUnknownError, AuthzenRequestError, AuthzenUnauthorizedError } from './errors.js';
export {
  parseActionSearch,
  parseEvaluation,
  parseEvaluations,
  parseResourceSearch,
  parseSubjectSearch,
} from './authzen_request.js';
export type { AuthzenEvaluation, EvaluationsSemantic } from './authzen_request.js';
