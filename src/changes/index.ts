export {
  CHANGE_DATA,
  CHANGE_KINDS,
  CHANGE_VERSION,
  changeJsonSchema,
  JIT_USER_NAME_PREFIX,
  PARENT_RELATION,
  RELATION_SUBJECT_KINDS,
  RESOURCE_NAME_PATTERN,
  RESOURCE_NAME_RULE,
  POSTURE_KIND_REGISTRY,
  POSTURE_KINDS,
  retentionOf,
  USER_POSTURE_KINDS,
} from './change.js';
export type {
  Change,
  ChangeEnvelope,
  ChangeKind,
  ChangeOf,
  DataOf,
  GroupData,
  PostureKind,
  RelationData,
  RelationSubjectKind,
  ResourceData,
  SessionData,
  SidRevocationData,
  UserData,
} from './change.js';
export { decodeChange, encodeChange } from './change_codec.js';
export {
  CLEAR_DATA,
  emailLookup,
  externalIdLookup,
  foldedName,
  openChange,
  openPostureState,
  openSessionData,
  openUserData,
  phoneNumberKey,
  phoneNumberLookup,
  sealChange,
  sealSessionData,
  sealUserData,
  userNameLookup,
} from './sealed_data.js';
export type { DataSealer, SealerOf } from './sealed_data.js';
export { ChangeRejectedError } from './errors.js';
export type { ChangeRejectedCode } from './errors.js';
export {
  ALL_STATE_SUBJECTS,
  STATE_STREAM,
  STATE_SUBJECT_PREFIX,
  sidRevocationOfSubject,
  subjectOf,
  tenantSubjects,
  token,
} from './subjects.js';
export type { SessionEvent, SessionEventKind } from './session_event.js';
