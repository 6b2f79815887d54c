import { SidecarError } from '../errors.js';

/** A claimed audit subject is taken: the thing it records happened already (a replayed SET). */
export class AuditRecordExistsError extends SidecarError {
  readonly code = 'ERR_AUDIT_RECORD_EXISTS';
}

/** A record sealed under the tenant's key, read where the tenant has no key. */
export class AuditSealedWithoutKeyError extends SidecarError {
  readonly code = 'ERR_AUDIT_SEALED_WITHOUT_KEY';
}

/** A malformed pull (cursor or limit). */
export class AuditRequestError extends SidecarError {
  readonly code = 'ERR_AUDIT_REQUEST_INVALID';
}
