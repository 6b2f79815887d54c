export { TxnKeysUnavailableError } from './errors.js';
export {
  maintained,
  readPublicJwks,
  signingKeyAt,
  TXN_KEYS_BUCKET,
  TXN_KEYS_BUCKET_OPTIONS,
  TXN_TOKEN_ALGORITHM,
  TxnKeyRing,
} from './txn_key_ring.js';
export type { StoredTxnKey, StoredTxnKeys, TxnKeyRingOptions, TxnKeyStore, TxnSigningKey } from './txn_key_ring.js';
export { TXN_TOKEN_TYPE, TxnTokenService, withinScope } from './txn_token_service.js';
export type { TxnGrant, TxnScope, TxnTokenServiceOptions, VerifiedTxnToken } from './txn_token_service.js';
export { createTxnJwksRoute, TXN_JWKS_PATH } from './txn_jwks_route.js';
