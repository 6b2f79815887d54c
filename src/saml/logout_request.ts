import type { SamlIdentityProviderSettings, SamlSettings } from '../config/index.js';
import { SamlRejectedError } from './errors.js';
import type { IdpMetadataSource } from './idp_metadata_source.js';
import { parseDom, selectElements, signedXmlOf } from './xml_dom.js';
import type { DomDocument, DomElement } from './xml_dom.js';

/** A LogoutRequest issued longer ago than this is refused (the replay window, as for logout tokens), in s. */
export const MAX_LOGOUT_REQUEST_AGE_S = 600;

const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';

/** A signed SAML LogoutRequest of a tenant's IdP: whose sessions end. */
export interface VerifiedLogoutRequest {
  readonly tenantId: string;
  readonly idp: SamlIdentityProviderSettings;
  /** The request's ID: accepted once across replicas. */
  readonly id: string;
  /** Unix s. */
  readonly issuedAt: number;
  /** The NameID logged out (every session of it when no SessionIndex is named). */
  readonly nameId: string;
  /** The IdP sessions logged out (AuthnStatement SessionIndex of the sign-ins). */
  readonly sessionIndexes: readonly string[];
}

/**
 * Verifies a LogoutRequest (HTTP-POST binding: the `SAMLRequest` form field, base64): signed on the
 * LogoutRequest element by a key of the IdP's current metadata, only the signed bytes read, Issuer one of the
 * tenant's SAML IdPs, Destination (when present) our SLO URL, issued within {@link MAX_LOGOUT_REQUEST_AGE_S}
 * and not past its NotOnOrAfter.
 *
 * @throws {SamlRejectedError}
 * @throws {SamlMetadataUnavailableError}
 */
export async function verifyLogoutRequest(
  tenantId: string,
  saml: SamlSettings,
  sources: ReadonlyMap<string, IdpMetadataSource>,
  samlRequest: string,
  decode: (base64: string) => string,
): Promise<VerifiedLogoutRequest> {
  const xml = decode(samlRequest);
  const doc = await parse(xml);
  const root = doc.documentElement;
  if (root?.localName !== 'LogoutRequest' || root.namespaceURI !== PROTOCOL_NS) {
    throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the document is not a SAML 2.0 LogoutRequest');
  }
  const issuer = text(selectElements(doc, "/*/*[local-name()='Issuer']")[0]);
  const idp = saml.idps.find((i) => i.issuer === issuer);
  const source = idp === undefined ? undefined : sources.get(idp.issuer);
  if (idp === undefined || source === undefined) {
    throw new SamlRejectedError('ERR_SAML_ISSUER_UNKNOWN', 'the logout request is not from a SAML IdP of this tenant');
  }
  const { signingCerts } = await source.current();
  let signed: string | null;
  try {
    signed = signedXmlOf(xml, root, [...signingCerts]);
  } catch (cause) {
    throw new SamlRejectedError('ERR_SAML_SIGNATURE_INVALID', 'the logout request signature is invalid', { cause });
  }
  if (signed === null) {
    throw new SamlRejectedError('ERR_SAML_SIGNATURE_INVALID', 'the logout request is not signed by the IdP');
  }
  // Only what the signature covers is read from here on.
  const request = (await parse(signed)).documentElement;
  if (request?.localName !== 'LogoutRequest' || text(child(request, 'Issuer')) !== idp.issuer) {
    throw new SamlRejectedError('ERR_SAML_SIGNATURE_INVALID', 'the signature does not cover this logout request');
  }
  const destination = request.getAttribute('Destination');
  if (destination !== null && destination !== '' && destination !== saml.sloUrl) {
    throw new SamlRejectedError('ERR_SAML_DESTINATION_INVALID', 'the logout request is not addressed to our SLO URL');
  }
  const now = Math.floor(Date.now() / 1000);
  const issuedAt = time(request.getAttribute('IssueInstant'));
  const id = request.getAttribute('ID') ?? '';
  if (issuedAt === undefined || id === '') {
    throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the logout request has no ID or IssueInstant');
  }
  if (issuedAt > now + saml.clockSkewS) {
    throw new SamlRejectedError('ERR_SAML_NOT_YET_VALID', 'the logout request is issued in the future');
  }
  const notOnOrAfter = time(request.getAttribute('NotOnOrAfter'));
  if (
    now - issuedAt > MAX_LOGOUT_REQUEST_AGE_S + saml.clockSkewS ||
    (notOnOrAfter !== undefined && now - saml.clockSkewS >= notOnOrAfter)
  ) {
    throw new SamlRejectedError('ERR_SAML_EXPIRED', 'the logout request has expired');
  }
  const nameId = text(child(request, 'NameID'));
  if (nameId === undefined || nameId === '') {
    throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the logout request names no NameID');
  }
  const sessionIndexes = selectElements(request, "./*[local-name()='SessionIndex']")
    .map((e) => text(e) ?? '')
    .filter((s) => s !== '');
  return { tenantId, idp, id, issuedAt, nameId, sessionIndexes };
}

async function parse(xml: string): Promise<DomDocument> {
  try {
    return await parseDom(xml);
  } catch (cause) {
    throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the logout request is not well-formed XML', { cause });
  }
}

function child(element: DomElement, name: string): DomElement | undefined {
  return selectElements(element, `./*[local-name()='${name}']`)[0];
}

function text(element: DomElement | undefined): string | undefined {
  return element?.textContent?.trim();
}

function time(value: string | null): number | undefined {
  if (value === null) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}
