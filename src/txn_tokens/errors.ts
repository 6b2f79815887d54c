import { SidecarError } from '../errors.js';

/** The tenant's transaction-token keys cannot be read or stored now (NATS away, or no NATS at all): retry. */
export class TxnKeysUnavailableError extends SidecarError {
  readonly code = 'ERR_TXN_KEYS_UNAVAILABLE';
}
