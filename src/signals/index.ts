export {
  LogoutTokenRefusedError,
  LogoutUnavailableError,
  SetAlreadyAcceptedError,
  SetRefusedError,
  StreamAdminRequestError,
  StreamManagementError,
  StreamOperationUnavailableError,
  TransmitterNotFoundError,
  TransmitterUnavailableError,
  VerificationTimeoutError,
} from './errors.js';
export { createStreamAdminRoutes } from './stream_admin_routes.js';
export { POLL_DELIVERY, PUSH_DELIVERY, StreamClient } from './stream_client.js';
export type { StreamConfiguration, StreamStatus } from './stream_client.js';
export type { SetErrorCode } from './errors.js';
export { CAEP_EVENT, RISC_EVENT, SSF_EVENT } from './security_event.js';
export type { SecurityEvent, SecurityEventType } from './security_event.js';
export { SetVerifier } from './set_verifier.js';
export type { VerifiedSet } from './set_verifier.js';
export { SignalReceiver } from './signal_receiver.js';
export type { AcceptedSet, Delivery } from './signal_receiver.js';
export type { SetArchive } from './claimed_publish.js';
export { TransmitterDirectory, ssfConfigurationUrl } from './transmitter_directory.js';
export type { StreamIdStore, TransmitterMetadata } from './transmitter_directory.js';
export { createPushRouter, pushPath } from './push_router.js';
export { KvStreamIdStore, SSF_STREAMS_BUCKET } from './stream_id_store.js';
export { KvPollLeases, POLL_LEASES_BUCKET } from './poll_lease.js';
export type { PollLease } from './poll_lease.js';
export { SetPoller } from './set_poller.js';
export type { PollerStatus } from './set_poller.js';
export { BACKCHANNEL_LOGOUT_EVENT, LogoutTokenVerifier } from './logout_token_verifier.js';
export type { VerifiedLogoutToken } from './logout_token_verifier.js';
export { LogoutReceiver } from './logout_receiver.js';
export type { IdpLogout } from './logout_receiver.js';
export type { AcceptedLogout } from './logout_receiver.js';
export { createLogoutRouter, logoutPath } from './logout_router.js';
