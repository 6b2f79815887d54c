export { createAuthzenRouter } from './authzen_router.js';
export type { AuthzenRouterOptions } from './authzen_router.js';
export {
  AuthzenRequestError,
  parseActionSearch,
  parseEvaluation,
  parseEvaluations,
  parseResourceSearch,
  parseSubjectSearch,
} from './authzen_request.js';
export type { AuthzenEvaluation, EvaluationsSemantic } from './authzen_request.js';
