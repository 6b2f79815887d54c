import { parseDom, selectElements, signedXmlOf } from './xml_dom.js';
import type { DomDocument } from './xml_dom.js';
import { SamlMetadataUnavailableError } from './errors.js';

/** What our SP needs of an IdP's SAML metadata. Times in Unix s. */
export interface IdpMetadata {
  readonly entityId: string;
  /** PEM certificates its Responses and assertions may be signed with (every signing key listed: rollover). */
  readonly signingCerts: readonly string[];
  /** Its SingleSignOnService for the HTTP-Redirect binding: where AuthnRequests go. */
  readonly ssoRedirectUrl: string;
  /** Its SingleLogoutService (HTTP-Redirect), if any. */
  readonly sloRedirectUrl: string | undefined;
  /** The metadata is not to be used after this. */
  readonly validUntil: number | undefined;
  /** Read it again after this long, in s (`cacheDuration`). */
  readonly cacheDurationS: number | undefined;
}

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';

/**
 * Reads an IdP's metadata (an EntityDescriptor, or an EntitiesDescriptor holding it). With `signingCert`, the
 * document's own enveloped signature must verify with it, and only the signed bytes are read (a signed
 * aggregate with an unsigned EntityDescriptor moved into it is refused, as for responses).
 *
 * @throws {SamlMetadataUnavailableError} not metadata of `entityId`, unsigned or badly signed when it must be,
 *   past its validUntil, or without a signing certificate or a redirect SSO endpoint
 */
export async function parseIdpMetadata(
  xml: string,
  entityId: string,
  signingCert: string | undefined,
  now: number,
): Promise<IdpMetadata> {
  refuseDtd(xml);
  let text = xml;
  if (signingCert !== undefined) {
    const doc = await parse(xml);
    let verified: string | null;
    try {
      verified = doc.documentElement === null ? null : signedXmlOf(xml, doc.documentElement, [signingCert]);
    } catch (cause) {
      throw new SamlMetadataUnavailableError(`the metadata of ${entityId} has an invalid signature`, { cause });
    }
    if (verified === null) {
      throw new SamlMetadataUnavailableError(
        `the metadata of ${entityId} is not signed with its configured metadata_signing_cert`,
      );
    }
    text = verified;
  }
  const doc = await parse(text);
  const root = doc.documentElement;
  if (root === null) throw new SamlMetadataUnavailableError('the metadata is empty');
  const descriptors = selectElements(doc, `//*[local-name()='EntityDescriptor' and namespace-uri()='${MD}']`).filter(
    (e) => e.getAttribute('entityID') === entityId,
  );
  const [descriptor, ...more] = descriptors;
  if (descriptor === undefined || more.length > 0) {
    throw new SamlMetadataUnavailableError(`the metadata holds no single EntityDescriptor of ${entityId}`);
  }
  const validUntil = earliest(
    [root, descriptor].map((e) => e.getAttribute('validUntil')).filter((v): v is string => v !== null && v !== ''),
  );
  if (validUntil !== undefined && validUntil <= now) {
    throw new SamlMetadataUnavailableError(`the metadata of ${entityId} is past its validUntil`);
  }
  const durations = [root, descriptor]
    .map((e) => e.getAttribute('cacheDuration'))
    .filter((v): v is string => v !== null && v !== '')
    .map(durationSeconds)
    .filter((v): v is number => v !== undefined);
  const [idp] = selectElements(descriptor, `./*[local-name()='IDPSSODescriptor' and namespace-uri()='${MD}']`);
  if (idp === undefined) throw new SamlMetadataUnavailableError(`${entityId} has no IDPSSODescriptor`);
  const signingCerts = selectElements(idp, `./*[local-name()='KeyDescriptor']`)
    .filter((k) => {
      const use = k.getAttribute('use');
      return use === null || use === '' || use === 'signing';
    })
    .flatMap((k) => selectElements(k, `.//*[local-name()='X509Certificate']`))
    .map((c) => pem((c.textContent ?? '').replace(/\s+/g, '')))
    .filter((c) => c !== '');
  if (signingCerts.length === 0) throw new SamlMetadataUnavailableError(`${entityId} lists no signing certificate`);
  const endpoint = (name: string): string | undefined =>
    selectElements(idp, `./*[local-name()='${name}']`)
      .find((e) => e.getAttribute('Binding') === REDIRECT)
      ?.getAttribute('Location') ?? undefined;
  const ssoRedirectUrl = endpoint('SingleSignOnService');
  if (ssoRedirectUrl === undefined) {
    throw new SamlMetadataUnavailableError(`${entityId} has no SingleSignOnService for HTTP-Redirect`);
  }
  return {
    entityId,
    signingCerts,
    ssoRedirectUrl,
    sloRedirectUrl: endpoint('SingleLogoutService'),
    validUntil,
    cacheDurationS: durations.length > 0 ? Math.min(...durations) : undefined,
  };
}

/** XML with a DTD is never SAML: entity expansion and external entities are refused before parsing. */
export function refuseDtd(xml: string): void {
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) {
    throw new SamlMetadataUnavailableError('the metadata has a DTD');
  }
}

async function parse(xml: string): Promise<DomDocument> {
  try {
    return await parseDom(xml);
  } catch (cause) {
    throw new SamlMetadataUnavailableError('the metadata is not well-formed XML', { cause });
  }
}

function pem(base64: string): string {
  if (base64 === '') return '';
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function earliest(dates: readonly string[]): number | undefined {
  const times = dates.map((d) => Date.parse(d) / 1000).filter((t) => Number.isFinite(t));
  return times.length > 0 ? Math.floor(Math.min(...times)) : undefined;
}

/** An xs:duration (`PT1H`, `P1DT30M`, `PT90.5S`) in whole seconds; months as 30 days, years as 365. */
export function durationSeconds(value: string): number | undefined {
  const match = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(value);
  if (match === null || value === 'P' || value.endsWith('T')) return undefined;
  const [y, mo, d, h, mi, s] = match.slice(1).map((v: string | undefined) => Number(v ?? 0));
  return Math.floor(
    (y ?? 0) * 365 * 86_400 +
      (mo ?? 0) * 30 * 86_400 +
      (d ?? 0) * 86_400 +
      (h ?? 0) * 3_600 +
      (mi ?? 0) * 60 +
      (s ?? 0),
  );
}
