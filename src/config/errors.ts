import { SidecarError } from '../errors.js';

/** A configuration value is missing, malformed or contradicts another. */
export class ConfigInvalidError extends SidecarError {
  readonly code = 'ERR_CONFIG_INVALID';
  /** The offending key(s), as the operator wrote them (env var names). */
  readonly keys: readonly string[];

  constructor(keys: readonly string[], problem: string) {
    super(`invalid configuration ${keys.join(', ')}: ${problem}`);
    this.keys = keys;
  }
}
