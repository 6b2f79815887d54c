import { SidecarError } from '../errors.js';

/** `IPSIE_SSF_SIGNING_KEYS_FILE` cannot be read or holds no usable private signing key. */
export class SigningKeysInvalidError extends SidecarError {
  readonly code = 'ERR_SSF_SIGNING_KEYS_INVALID';
}
