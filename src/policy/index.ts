export { PolicyCompiler, DECISION_ENTRYPOINT } from './opa_compiler.js';
export type {
  CompiledPolicy,
  CompileOptions,
  PolicyCompilerOptions,
  TenantPolicySource,
  TestSummary,
} from './opa_compiler.js';
export { PolicyRegistry, TenantPolicy } from './policy_registry.js';
export type { PolicyRegistryOptions } from './policy_registry.js';
export { loadPolicyDirectory, loadTenantPolicySources } from './policy_sources.js';
export { POLICY_RESULT_INVALID, POLICY_TIMEOUT } from './policy_decision.js';
export { DEFAULT_EVALUATION_BUDGET_MS, EvaluationPool } from './evaluation_pool.js';
export type { EvaluationOutcome, EvaluationPoolOptions } from './evaluation_pool.js';
export { PLATFORM_POLICY_REASON_CODES } from './platform_reasons.js';
export type { PlatformPolicyReasonCode } from './platform_reasons.js';
export type { DecisionKind, PolicyDecision, Reason, StepUpChallenge } from './policy_decision.js';
export { TENANT_RULES, tenantRulesJsonSchema } from './tenant_rules_contract.js';
export type { TenantRuleName } from './tenant_rules_contract.js';
export { PolicyInputEncoder, policyInputJsonSchema } from './policy_input.js';
export type {
  EncodedPolicyInput,
  PolicyInput,
  RequestInput,
  StoredResourceInput,
  SubjectInput,
} from './policy_input.js';
export {
  OpaUnavailableError,
  PolicyCompileError,
  PolicyCompileMemoryError,
  PolicyCompileTimeoutError,
  PolicyEvaluationError,
  PolicyModuleRejectedError,
  PolicyNotLoadedError,
  PolicyOverloadedError,
  EvaluationPoolClosedError,
  PolicyTestFailedError,
} from './errors.js';
export type { CompileProblem } from './errors.js';
export { explainTrace, MAX_LISTED_RULES } from './policy_explanation.js';
export type { ExplainedReason, FiredRule, PolicyExplanation } from './policy_explanation.js';
