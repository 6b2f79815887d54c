import { randomUUID } from 'node:crypto';
import { SAML, SamlStatusError, ValidateInResponseTo } from '@node-saml/node-saml';
import type { CacheProvider, Profile } from '@node-saml/node-saml';
import type { SamlIdentityProviderSettings, SamlSettings, TenantSettings } from '../config/index.js';
import { SamlNotConfiguredError, SamlRejectedError } from './errors.js';
import type { SamlErrorCode } from './errors.js';
import { IdpMetadataSource } from './idp_metadata_source.js';
import type { MetadataChange } from './idp_metadata_source.js';
import { verifyLogoutRequest } from './logout_request.js';
import type { VerifiedLogoutRequest } from './logout_request.js';
import type { SamlRequestStore } from './request_store.js';
import { parseDom, selectElements } from './xml_dom.js';
import type { DomDocument } from './xml_dom.js';

/**
 * Longest SAMLResponse accepted, in base64 characters: refused as `SAML_MALFORMED` before it is decoded.
 * Responses of the IdPs we serve are 4-20 KiB; this leaves room for many attributes.
 */
export const MAX_SAML_RESPONSE_LENGTH = 256 * 1024;

const PROTOCOL_NS = 'urn:oasis:names:tc:SAML:2.0:protocol';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

/** A SAML assertion that passed every check, and what it says. Times in Unix s. */
export interface VerifiedSamlAssertion {
  readonly tenantId: string;
  readonly idp: SamlIdentityProviderSettings;
  /** The IdP's entityID (the assertion's Issuer). */
  readonly issuer: string;
  /** The NameID: with the issuer, the identity the user is bound by. */
  readonly subject: string;
  readonly nameIdFormat: string | undefined;
  /** The assertion's ID: claimed once across replicas. */
  readonly assertionId: string;
  /** The AuthnRequest it answers. */
  readonly inResponseTo: string;
  readonly issuedAt: number;
  /** The assertion is not to be accepted after this (Conditions / SubjectConfirmationData NotOnOrAfter). */
  readonly expiresAt: number;
  readonly authTime: number | undefined;
  /** AuthnStatement SessionNotOnOrAfter: the session ends by then (IPSIE SL1). */
  readonly sessionNotOnOrAfter: number | undefined;
  /** AuthnStatement SessionIndex: the IdP's session, which its LogoutRequest names. */
  readonly sessionIndex: string | undefined;
  readonly authnContextClassRef: string | undefined;
  /** The acr policies see: the class mapped by the IdP's acr_map, else the class itself. */
  readonly acr: string | undefined;
  /** Attribute name -> its string values. */
  readonly attributes: Readonly<Record<string, readonly string[]>>;
}

/** How a step-up asks the IdP for an authentication context (SAML core §3.3.2.2.1). */
export type AuthnContextComparison = 'exact' | 'minimum';

export interface AuthnRequestOptions {
  /** The IdP's entityID; may be left out when the tenant has one SAML IdP. */
  readonly idp?: string | undefined;
  readonly relayState?: string | undefined;
  /** acr values (mapped back to AuthnContextClassRefs through acr_map) for RequestedAuthnContext. */
  readonly acrValues?: readonly string[] | undefined;
  /** @defaultValue 'exact' */
  readonly comparison?: AuthnContextComparison | undefined;
  /** ForceAuthn: the IdP authenticates the user again, whatever session it has. */
  readonly forceAuthn?: boolean | undefined;
}

export interface IssuedAuthnRequest {
  /** The IdP's SSO endpoint with SAMLRequest (and RelayState): where the app redirects the browser. */
  readonly redirectUrl: string;
  /** The request's ID: the InResponseTo of its Response. */
  readonly requestId: string;
  readonly idp: string;
}

export interface SamlVerifierOptions {
  readonly tenants: readonly TenantSettings[];
  readonly requests: SamlRequestStore;
  /** Time limit for a metadata request, in ms. @defaultValue 5000 */
  readonly fetchTimeoutMs?: number;
  /**
   * Unix s, for metadata refresh only: assertion times are judged by the wall clock, as node-saml judges them.
   * @defaultValue the system clock
   */
  readonly clock?: () => number;
  /** Told when an IdP's signing certificates changed at a metadata refresh. */
  readonly onMetadataChange?: (tenantId: string, change: MetadataChange) => void;
}

interface Tenant {
  readonly saml: SamlSettings;
  readonly sources: ReadonlyMap<string, IdpMetadataSource>;
}

/**
 * SAML 2.0 Web Browser SSO for the tenants' SAML IdPs, SP-initiated only: issues AuthnRequests (their ids held
 * for every replica in `requests`), and verifies the Response the app received at its ACS with
 * `@node-saml/node-saml` - the Response or the Assertion signed with a key of the IdP's current metadata, one
 * assertion, Issuer, Audience, Destination, Recipient, NotBefore/NotOnOrAfter with the tenant's skew, and
 * `InResponseTo` naming a request we issued and have not seen answered (an unsolicited, IdP-initiated Response
 * is refused: IPSIE SL2). Only the signed bytes are read.
 */
export class SamlVerifier {
  readonly #tenants = new Map<string, Tenant>();
  readonly #requests: SamlRequestStore;
  readonly #clock: () => number;

  constructor(options: SamlVerifierOptions) {
    this.#requests = options.requests;
    this.#clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    for (const tenant of options.tenants) {
      const { saml } = tenant;
      if (saml === undefined) continue;
      const sources = new Map(
        saml.idps.map((idp) => [
          idp.issuer,
          new IdpMetadataSource(idp, {
            fetchTimeoutMs: options.fetchTimeoutMs ?? 5_000,
            clock: this.#clock,
            onChange: (change) => options.onMetadataChange?.(tenant.id, change),
          }),
        ]),
      );
      this.#tenants.set(tenant.id, { saml, sources });
    }
  }

  hasSaml(tenantId: string): boolean {
    return this.#tenants.has(tenantId);
  }

  /** Reads every IdP's metadata now (at start), so the first sign-in does not wait for it. Failures are returned. */
  async prefetch(): Promise<Error[]> {
    const failures: Error[] = [];
    for (const tenant of this.#tenants.values()) {
      for (const source of tenant.sources.values()) {
        await source.current().catch((error: unknown) => failures.push(error as Error));
      }
    }
    return failures;
  }

  /**
   * A new AuthnRequest for the HTTP-Redirect binding, remembered for the tenant's `request_ttl_s`.
   *
   * @throws {SamlNotConfiguredError} the tenant has no SAML, or no such IdP
   * @throws {SamlMetadataUnavailableError}
   */
  async authnRequest(tenantId: string, options: AuthnRequestOptions = {}): Promise<IssuedAuthnRequest> {
    const { tenant, idp, source } = this.#idp(tenantId, options.idp);
    const metadata = await source.current();
    const acrValues = options.acrValues ?? [];
    let requestId = '';
    const saml = new SAML({
      ...this.#baseOptions(tenant.saml, idp, metadata.signingCerts, tenantId),
      entryPoint: metadata.ssoRedirectUrl,
      identifierFormat: null,
      disableRequestedAuthnContext: acrValues.length === 0,
      authnContext: acrValues.map((acr) => classRefOf(idp, acr)),
      racComparison: options.comparison ?? 'exact',
      forceAuthn: options.forceAuthn === true,
      generateUniqueId: () => {
        requestId = `_${randomUUID()}`;
        return requestId;
      },
    });
    const redirectUrl = await saml.getAuthorizeUrlAsync(options.relayState ?? '', undefined, {});
    return { redirectUrl, requestId, idp: idp.issuer };
  }

  /**
   * The AuthnRequest a step-up sends a session of `issuer` back to its IdP with: RequestedAuthnContext for the
   * acr values (compared as the IdP's `requested_authn_context_comparison` says) and ForceAuthn when an
   * authentication age is demanded (SAML has no max_age: only a new authentication is surely that recent).
   *
   * @returns undefined when `issuer` is no SAML IdP of the tenant (an OIDC session)
   */
  async stepUpRequest(
    tenantId: string,
    issuer: string,
    stepUp: { readonly acrValues: readonly string[]; readonly maxAge: number | undefined },
  ): Promise<IssuedAuthnRequest | undefined> {
    const idp = this.#tenants.get(tenantId)?.saml.idps.find((i) => i.issuer === issuer);
    if (idp === undefined) return undefined;
    return await this.authnRequest(tenantId, {
      idp: issuer,
      acrValues: stepUp.acrValues,
      comparison: idp.stepUpComparison,
      forceAuthn: stepUp.maxAge !== undefined,
    });
  }

  /**
   * Verifies a SAMLResponse (base64, as the app's ACS received it) for the tenant.
   *
   * @throws {SamlRejectedError} with a code naming what is wrong
   * @throws {SamlNotConfiguredError} the tenant has no SAML sign-in
   * @throws {SamlMetadataUnavailableError} the IdP's metadata cannot be read
   */
  async verify(tenantId: string, samlResponse: string): Promise<VerifiedSamlAssertion> {
    const tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) throw new SamlNotConfiguredError(`tenant ${tenantId} has no SAML sign-in`);
    const { saml } = tenant;
    const xml = decode(samlResponse);
    const doc = await parseResponse(xml);
    const root = doc.documentElement;
    if (root?.localName !== 'Response' || root.namespaceURI !== PROTOCOL_NS) {
      throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the document is not a SAML 2.0 Response');
    }
    // Which IdP: by the (not yet verified) Issuer; the signed assertion's Issuer must be the same below.
    const issuers = selectElements(
      doc,
      `/*/*[local-name()='Issuer'] | /*/*[local-name()='Assertion']/*[local-name()='Issuer']`,
    ).map((e) => (e.textContent ?? '').trim());
    const claimed = issuers[0];
    const idp = saml.idps.find((i) => i.issuer === claimed);
    const source = idp === undefined ? undefined : tenant.sources.get(idp.issuer);
    if (idp === undefined || source === undefined || issuers.some((i) => i !== claimed)) {
      throw new SamlRejectedError('ERR_SAML_ISSUER_UNKNOWN', 'the response is not from a SAML IdP of this tenant');
    }
    // SAML bindings §3.5.5.2: a Response sent to an ACS names it; one sent to another SP is not ours to use.
    if (root.getAttribute('Destination') !== saml.acsUrl) {
      throw new SamlRejectedError('ERR_SAML_DESTINATION_INVALID', 'the response is not addressed to our ACS URL');
    }
    const inResponseTo = root.getAttribute('InResponseTo') ?? '';
    if (inResponseTo === '') {
      // IPSIE SL2: IdP-initiated (unsolicited) responses are refused: nothing ties them to this browser.
      throw new SamlRejectedError('ERR_SAML_UNSOLICITED', 'the response answers no request (IdP-initiated)');
    }
    const requestKey = keyOf(tenantId, idp.issuer, inResponseTo);
    if ((await this.#requests.get(requestKey)) === undefined) {
      throw new SamlRejectedError(
        'ERR_SAML_REQUEST_UNKNOWN',
        'the response answers no open request of ours (InResponseTo)',
      );
    }
    const metadata = await source.current();
    const verifier = new SAML({
      ...this.#baseOptions(saml, idp, metadata.signingCerts, tenantId),
      wantAuthnResponseSigned: false,
      wantAssertionsSigned: idp.requireSignedAssertion,
      idpIssuer: idp.issuer,
    });
    let profile: Profile | null;
    try {
      ({ profile } = await verifier.validatePostResponseAsync({ SAMLResponse: samlResponse }));
    } catch (error) {
      throw rejection(error);
    }
    if (profile === null) throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the response carries no assertion');
    const verified = this.#read(tenantId, saml, idp, profile, inResponseTo);
    // The request is answered once, on any replica.
    if (!(await this.#requests.take(requestKey))) {
      throw new SamlRejectedError('ERR_SAML_REQUEST_UNKNOWN', 'the request this response answers was answered already');
    }
    return verified;
  }

  /**
   * Verifies a signed LogoutRequest of one of the tenant's SAML IdPs (HTTP-POST binding: `SAMLRequest`).
   *
   * @throws {SamlRejectedError} / {SamlNotConfiguredError} / {SamlMetadataUnavailableError}
   */
  async verifyLogout(tenantId: string, samlRequest: string): Promise<VerifiedLogoutRequest> {
    const tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) throw new SamlNotConfiguredError(`tenant ${tenantId} has no SAML sign-in`);
    return await verifyLogoutRequest(tenantId, tenant.saml, tenant.sources, samlRequest, decode);
  }

  /** Our SP metadata for the tenant (entityID, ACS, SLO, NameID formats), for its IdPs. */
  spMetadata(tenantId: string): string | undefined {
    const saml = this.#tenants.get(tenantId)?.saml;
    return saml === undefined ? undefined : spMetadataXml(saml);
  }

  #idp(
    tenantId: string,
    entityId: string | undefined,
  ): { tenant: Tenant; idp: SamlIdentityProviderSettings; source: IdpMetadataSource } {
    const tenant = this.#tenants.get(tenantId);
    if (tenant === undefined) throw new SamlNotConfiguredError(`tenant ${tenantId} has no SAML sign-in`);
    const { idps } = tenant.saml;
    const idp =
      entityId === undefined || entityId === ''
        ? idps.length === 1
          ? idps[0]
          : undefined
        : idps.find((i) => i.issuer === entityId);
    const source = idp === undefined ? undefined : tenant.sources.get(idp.issuer);
    if (idp === undefined || source === undefined) {
      throw new SamlNotConfiguredError(
        entityId === undefined || entityId === ''
          ? `tenant ${tenantId} has several SAML IdPs: name one`
          : `${entityId} is not a SAML IdP of tenant ${tenantId}`,
      );
    }
    return { tenant, idp, source };
  }

  #baseOptions(
    saml: SamlSettings,
    idp: SamlIdentityProviderSettings,
    certs: readonly string[],
    tenantId: string,
  ): ConstructorParameters<typeof SAML>[0] {
    return {
      idpCert: [...certs],
      issuer: saml.entityId,
      callbackUrl: saml.acsUrl,
      audience: saml.entityId,
      acceptedClockSkewMs: saml.clockSkewS * 1000,
      maxAssertionAgeMs: idp.maxAssertionAgeS * 1000,
      validateInResponseTo: ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: saml.requestTtlS * 1000,
      cacheProvider: this.#cache(tenantId, idp.issuer, saml.requestTtlS),
      ...(saml.decryptionKey === undefined ? {} : { decryptionPvk: saml.decryptionKey }),
    };
  }

  /** node-saml's request cache over the shared store, per tenant and IdP; closing is ours (`take`), once. */
  #cache(tenantId: string, issuer: string, ttlS: number): CacheProvider {
    const requests = this.#requests;
    return {
      saveAsync: async (id, value) => {
        await requests.save(keyOf(tenantId, issuer, id), value, ttlS);
        return { value, createdAt: Date.now() };
      },
      getAsync: async (id) => (await requests.get(keyOf(tenantId, issuer, id))) ?? null,
      // node-saml drops a request after a failed response too: a forged response would close the user's real one.
      removeAsync: (id) => Promise.resolve(id),
    };
  }

  /**
   * What the signed assertion says, and the checks node-saml leaves to us: the Issuer, a bearer
   * SubjectConfirmation for our ACS (Recipient), a NameID, an AuthnStatement.
   */
  #read(
    tenantId: string,
    saml: SamlSettings,
    idp: SamlIdentityProviderSettings,
    profile: Profile,
    inResponseTo: string,
  ): VerifiedSamlAssertion {
    const assertion = (profile.getAssertion?.() as { Assertion?: XmlNode } | undefined)?.Assertion;
    if (assertion === undefined) throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the response carries no assertion');
    if (text(first(assertion, 'Issuer')) !== idp.issuer) {
      throw new SamlRejectedError('ERR_SAML_ISSUER_UNKNOWN', 'the assertion is not issued by this IdP');
    }
    const assertionId = attr(assertion, 'ID');
    const issuedAt = time(attr(assertion, 'IssueInstant'));
    if (assertionId === undefined || issuedAt === undefined) {
      throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the assertion has no ID or IssueInstant');
    }
    const subject = first(assertion, 'Subject');
    const nameId = first(subject, 'NameID');
    const nameIdValue = text(nameId);
    if (nameIdValue === undefined || nameIdValue === '') {
      throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the assertion names no subject (NameID)');
    }
    const confirmations = all(subject, 'SubjectConfirmation').filter((c) => attr(c, 'Method') === BEARER);
    const data = confirmations.map((c) => first(c, 'SubjectConfirmationData'));
    // The wall clock, as node-saml judges Conditions by it: one notion of "now" for the whole response.
    const now = Math.floor(Date.now() / 1000);
    const ours = data.filter((d) => attr(d, 'Recipient') === saml.acsUrl);
    if (ours.length === 0) {
      throw new SamlRejectedError(
        'ERR_SAML_RECIPIENT_INVALID',
        'no bearer confirmation of the assertion names our ACS',
      );
    }
    const confirmation = ours.find((d) => {
      const until = time(attr(d, 'NotOnOrAfter'));
      const answers = attr(d, 'InResponseTo');
      // SAML profiles §4.1.4.2: answering a request, the confirmation names it too. Without it, a captured
      // assertion could be re-wrapped in a Response answering the attacker's own fresh request.
      return until !== undefined && now - saml.clockSkewS < until && answers === inResponseTo;
    });
    if (confirmation === undefined) {
      if (!ours.some((d) => attr(d, 'InResponseTo') === inResponseTo)) {
        throw new SamlRejectedError(
          'ERR_SAML_REQUEST_UNKNOWN',
          'the assertion does not answer the request (InResponseTo)',
        );
      }
      // SAML profiles §4.1.4.2: a bearer confirmation has NotOnOrAfter; past it, the assertion is spent.
      throw new SamlRejectedError('ERR_SAML_EXPIRED', 'the bearer confirmation for our ACS has expired');
    }
    const conditionsUntil = time(attr(first(assertion, 'Conditions'), 'NotOnOrAfter'));
    const confirmationUntil = time(attr(confirmation, 'NotOnOrAfter')) ?? now;
    const statements = all(assertion, 'AuthnStatement');
    const [statement] = statements;
    if (statement === undefined || statements.length > 1) {
      throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the assertion must carry exactly one AuthnStatement');
    }
    const classRef = text(first(first(statement, 'AuthnContext'), 'AuthnContextClassRef'));
    return {
      tenantId,
      idp,
      issuer: idp.issuer,
      subject: nameIdValue,
      nameIdFormat: attr(nameId, 'Format'),
      assertionId,
      inResponseTo,
      issuedAt,
      expiresAt: Math.min(confirmationUntil, conditionsUntil ?? confirmationUntil),
      authTime: time(attr(statement, 'AuthnInstant')),
      sessionNotOnOrAfter: time(attr(statement, 'SessionNotOnOrAfter')),
      sessionIndex: attr(statement, 'SessionIndex'),
      authnContextClassRef: classRef,
      acr: classRef === undefined ? undefined : (idp.acrMap[classRef] ?? classRef),
      attributes: attributesOf(profile),
    };
  }
}

/** The key an issued request is held under: a request of one tenant or IdP answers nothing of another. */
function keyOf(tenantId: string, issuer: string, requestId: string): string {
  return `${tenantId}\0${issuer}\0${requestId}`;
}

/** The class a step-up asks for: the one acr_map maps to this acr, else the acr itself taken as a class. */
function classRefOf(idp: SamlIdentityProviderSettings, acr: string): string {
  return Object.entries(idp.acrMap).find(([, value]) => value === acr)?.[0] ?? acr;
}

/**
 * The Response's XML, bounded and plain: no DTD (entity expansion, external entities), and no comments - a
 * comment inside a signed value is dropped by canonicalization, so `user@evil.com<!---->.victim.com` verifies
 * while a reader of the first text node sees another user; no IdP sends comments.
 *
 * @throws {SamlRejectedError} `ERR_SAML_MALFORMED`
 */
function decode(samlResponse: string): string {
  if (samlResponse.length > MAX_SAML_RESPONSE_LENGTH) {
    throw new SamlRejectedError('ERR_SAML_MALFORMED', `the response is over ${MAX_SAML_RESPONSE_LENGTH} characters`);
  }
  if (!/^[A-Za-z0-9+/=\r\n]+$/.test(samlResponse)) {
    throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the response is not base64');
  }
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  if (/<!DOCTYPE|<!ENTITY/i.test(xml)) throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the response has a DTD');
  if (xml.includes('<!--')) throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the response has XML comments');
  return xml;
}

async function parseResponse(xml: string): Promise<DomDocument> {
  try {
    return await parseDom(xml);
  } catch (cause) {
    throw new SamlRejectedError('ERR_SAML_MALFORMED', 'the response is not well-formed XML', { cause });
  }
}

/** node-saml's refusals (plain Errors) by their message, as our codes. */
function rejection(error: unknown): SamlRejectedError {
  if (error instanceof SamlRejectedError) return error;
  if (error instanceof SamlStatusError) {
    return new SamlRejectedError('ERR_SAML_IDP_STATUS', 'the IdP answered with an error status', { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  const code: SamlErrorCode = message.includes('InResponseTo is missing')
    ? 'ERR_SAML_UNSOLICITED'
    : message.includes('InResponseTo')
      ? 'ERR_SAML_REQUEST_UNKNOWN'
      : message.includes('not yet valid')
        ? 'ERR_SAML_NOT_YET_VALID'
        : /expired|No valid subject confirmation/.test(message)
          ? 'ERR_SAML_EXPIRED'
          : /[Aa]udience/.test(message)
            ? 'ERR_SAML_AUDIENCE_INVALID'
            : /issuer/i.test(message)
              ? 'ERR_SAML_ISSUER_UNKNOWN'
              : /signature|signed|transforms|ref URI|digest/i.test(message)
                ? 'ERR_SAML_SIGNATURE_INVALID'
                : 'ERR_SAML_MALFORMED';
  return new SamlRejectedError(code, refusalMessage(code), { cause: error, detail: { library: message } });
}

function refusalMessage(code: SamlErrorCode): string {
  switch (code) {
    case 'ERR_SAML_UNSOLICITED':
      return 'the response answers no request (IdP-initiated)';
    case 'ERR_SAML_REQUEST_UNKNOWN':
      return 'the response answers no open request of ours (InResponseTo)';
    case 'ERR_SAML_NOT_YET_VALID':
      return 'the assertion is not valid yet';
    case 'ERR_SAML_EXPIRED':
      return 'the assertion has expired';
    case 'ERR_SAML_AUDIENCE_INVALID':
      return 'the assertion is not for our SP (Audience)';
    case 'ERR_SAML_ISSUER_UNKNOWN':
      return 'the response is not from this IdP';
    case 'ERR_SAML_SIGNATURE_INVALID':
      return 'no valid signature of the IdP covers the assertion';
    default:
      return 'the response is not a SAML Response we can read';
  }
}

// The xml2js shape node-saml reads the signed assertion into: children by local name, attributes in `$`,
// text in `_`.
interface XmlNode {
  readonly $?: Record<string, string>;
  readonly _?: string;
  readonly [child: string]: unknown;
}

function all(node: XmlNode | undefined, name: string): XmlNode[] {
  const children = node?.[name];
  return Array.isArray(children) ? (children as XmlNode[]) : [];
}

function first(node: XmlNode | undefined, name: string): XmlNode | undefined {
  return all(node, name)[0];
}

function attr(node: XmlNode | undefined, name: string): string | undefined {
  return node?.$?.[name];
}

function text(node: XmlNode | undefined): string | undefined {
  if (typeof node === 'string') return node;
  return node?._;
}

function time(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : undefined;
}

function attributesOf(profile: Profile): Record<string, string[]> {
  const raw = profile['attributes'];
  const out: Record<string, string[]> = {};
  if (raw === null || typeof raw !== 'object') return out;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const values = (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
    if (values.length > 0) out[name] = values;
  }
  return out;
}

function esc(value: string): string {
  return value.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Our SP metadata for a tenant's SAML settings: entityID, the ACS (HTTP-POST), the SLO endpoint, the NameID
 * formats, whether assertions must be signed, and the certificate IdPs encrypt assertions to (when a decryption
 * key is configured). AuthnRequests are not signed.
 */
export function spMetadataXml(saml: SamlSettings): string {
  const signed = saml.idps.every((i) => i.requireSignedAssertion);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="${esc(saml.entityId)}">`,
    `  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="${String(signed)}" protocolSupportEnumeration="${PROTOCOL_NS}">`,
    ...(saml.sloUrl === undefined
      ? []
      : [
          `    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(saml.sloUrl)}"/>`,
        ]),
    ...(saml.encryptionCert === undefined
      ? []
      : [
          '    <md:KeyDescriptor use="encryption"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>' +
            `<ds:X509Certificate>${esc(saml.encryptionCert.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''))}</ds:X509Certificate>` +
            '</ds:X509Data></ds:KeyInfo>' +
            '<md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/>' +
            '<md:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes256-cbc"/>' +
            '</md:KeyDescriptor>',
        ]),
    ...saml.nameIdFormats.map((f) => `    <md:NameIDFormat>${esc(f)}</md:NameIDFormat>`),
    `    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${esc(saml.acsUrl)}" index="0" isDefault="true"/>`,
    '  </md:SPSSODescriptor>',
    '</md:EntityDescriptor>',
    '',
  ].join('\n');
}
