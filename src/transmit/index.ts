export { SigningKeysInvalidError } from './errors.js';
export { SigningKeyRing } from './signing_keys.js';
export type { SigningKey } from './signing_keys.js';
export { SessionChangeTransmitter, TRANSMITTER_CONSUMER } from './session_change_transmitter.js';
export type { SessionChangeTransmitterOptions } from './session_change_transmitter.js';
export { createTransmitterRoutes, TRANSMITTER_JWKS_PATH } from './transmitter_routes.js';
