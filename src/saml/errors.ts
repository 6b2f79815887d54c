import { SidecarError } from '../errors.js';

/** Every way a SAML Response is refused at sign-in; each is a stable gRPC reason (`SAML_SIGNATURE_INVALID`). */
export const SAML_ERROR_CODES = [
  'ERR_SAML_MALFORMED',
  'ERR_SAML_SIGNATURE_INVALID',
  'ERR_SAML_ISSUER_UNKNOWN',
  'ERR_SAML_AUDIENCE_INVALID',
  'ERR_SAML_RECIPIENT_INVALID',
  'ERR_SAML_DESTINATION_INVALID',
  'ERR_SAML_EXPIRED',
  'ERR_SAML_NOT_YET_VALID',
  'ERR_SAML_UNSOLICITED',
  'ERR_SAML_REQUEST_UNKNOWN',
  'ERR_SAML_IDP_STATUS',
] as const;

export type SamlErrorCode = (typeof SAML_ERROR_CODES)[number];

/** A SAML Response this tenant's IdPs did not issue for us, in answer to one of our requests, now. */
export class SamlRejectedError extends SidecarError {
  readonly code: SamlErrorCode;

  constructor(code: SamlErrorCode, message: string, options?: { cause?: unknown; detail?: Record<string, unknown> }) {
    super(message, options);
    this.code = code;
  }
}

/** The tenant has no SAML sign-in, or not with this IdP: a request naming one is wrong. */
export class SamlNotConfiguredError extends SidecarError {
  readonly code = 'ERR_SAML_NOT_CONFIGURED';
}

/** The IdP's metadata could not be read (or is past its validUntil): not the response's fault, retry. */
export class SamlMetadataUnavailableError extends SidecarError {
  readonly code = 'ERR_SAML_METADATA_UNAVAILABLE';
}
