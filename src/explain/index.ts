export { DecisionExplainer } from './decision_explainer.js';
export type { DecisionExplainerOptions, Explanation } from './decision_explainer.js';
export { createExplainRoutes } from './explain_routes.js';
export { DecisionUnknownError, ExplainBusyError, ExplainRequestError } from './errors.js';
export { REDACTED, redactInput } from './input_redaction.js';
