export { AuditLog, ensureAuditStream } from './audit_log.js';
export type { AuditStreamOptions } from './audit_log.js';
export {
  acceptedSetSubject,
  acceptedSetSubjects,
  AUDIT_STREAM,
  AUDIT_SUBJECT_PREFIX,
  auditSubject,
  decisionSubject,
  decisionSubjects,
  isDecisionId,
  signInAssertionSubject,
  tenantAuditSubjects,
  verificationRequestSubject,
} from './audit_record.js';
export type { AuditKind, AuditRecord } from './audit_record.js';
export { AuditRecordExistsError, AuditRequestError, AuditSealedWithoutKeyError } from './errors.js';
export { createAuditPullRoutes } from './audit_routes.js';
export { DecisionSampler, sampledDecisionOf } from './decision_sampler.js';
export { MAX_PATH_LENGTH, RefusalRecorder } from './refusal_recorder.js';
export type { RefusalRecorderOptions, RefusedAuthentication } from './refusal_recorder.js';
export type {
  DecisionRecordData,
  DecisionSamplerOptions,
  RecordSealer,
  RecordSealerOf,
  SampledDecision,
} from './decision_sampler.js';
export type { AuditPullOptions } from './audit_routes.js';
