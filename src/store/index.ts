export { EntitlementStore, phoneNumberKey } from './entitlement_store.js';
export type {
  DirectoryReader,
  EntitlementReader,
  EntitlementStoreOptions,
  EntitlementWriter,
} from './entitlement_store.js';
export { StoreUnavailableError, TenantUnknownError } from './errors.js';
export type {
  EntityVersion,
  GroupRecord,
  GroupRef,
  IdentityBinding,
  PostureKind,
  PostureRecord,
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
