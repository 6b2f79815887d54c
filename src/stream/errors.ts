import { SidecarError } from '../errors.js';

/** The existing stream's configuration conflicts with what this build needs and cannot be updated. */
export class StreamConfigConflictError extends SidecarError {
  readonly code = 'ERR_STREAM_CONFIG_CONFLICT';
}

/** A change was not stored: JetStream refused it or did not answer in time. */
export class ChangePublishError extends SidecarError {
  readonly code = 'ERR_STREAM_PUBLISH_FAILED';
}

/**
 * Optimistic concurrency: the entity's subject moved on since the caller
 * read it (SCIM `If-Match` and read-modify-write rely on this).
 */
export class SequenceConflictError extends SidecarError {
  readonly code = 'ERR_STREAM_SEQUENCE_CONFLICT';
}
