export { DEFAULT_STORE_CHECK_BUDGET_MS, DEFAULT_STORE_SET_ASIDE_KEPT, EntitlementStore } from './entitlement_store.js';
export type { CheckedOpenOptions, CheckedStore, EntitlementStoreOptions, SetAsideStore } from './entitlement_store.js';
export type { DirectoryReader, EntitlementReader, EntitlementWriter, ResourceReader } from './ports.js';
export type { StoreDefectReason } from './store_file.js';
export { StoreUnavailableError, TenantUnknownError } from './errors.js';
export type {
  EntityVersion,
  GroupRecord,
  GroupRef,
  IdentityBinding,
  PostureRecord,
  RelationRecord,
  RelationSubject,
  ResourceRecord,
  RevokedSidRecord,
  RevokedTokenRecord,
  SessionRecord,
  StreamOrigin,
  SubjectRead,
  SubjectRef,
  SubjectSlice,
  TenantRecord,
  UserRecord,
} from './records.js';
export {
  groupDataOf,
  groupOf,
  relationDataOf,
  relationOf,
  resourceDataOf,
  resourceOf,
  sessionDataOf,
  sessionOf,
  userDataOf,
  userOf,
} from './records.js';
