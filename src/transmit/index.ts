export {
  SigningKeysInvalidError,
  StreamExistsError,
  StreamNotFoundError,
  StreamReceiverUnauthorizedError,
  StreamRequestInvalidError,
  VerificationTooFrequentError,
} from './errors.js';
export { SigningKeyRing } from './signing_keys.js';
export type { SigningKey } from './signing_keys.js';
export { SessionChangeTransmitter, TRANSMITTER_CONSUMER } from './session_change_transmitter.js';
export type { SessionChangeTransmitterOptions } from './session_change_transmitter.js';
export { createTransmitterRoutes, TRANSMITTER_JWKS_PATH } from './transmitter_routes.js';
export { OFFERED_STREAMS_BUCKET, OfferedStreams } from './offered_streams.js';
export type { OfferedStream, OfferedStreamStatus } from './offered_streams.js';
export { StreamManagement } from './stream_management.js';
export type { StreamConfigurationView, StreamManagementOptions, StreamStatusView } from './stream_management.js';
export { createStreamManagementRoutes, STREAM_MANAGEMENT_PATHS } from './stream_management_routes.js';
