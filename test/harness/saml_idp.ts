/**
 * A test SAML IdP that signs REAL Responses and assertions (xml-crypto through node-saml's signer, RSA-SHA256,
 * exclusive c14n) with a throwaway key made by the openssl CLI, and can publish its metadata over HTTP (with
 * a key rollover). Each builder option makes one part of the response wrong, for hostile tests.
 */
import { execFileSync } from 'node:child_process';
import { createPublicKey, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { signXml } from '@node-saml/node-saml/lib/xml.js';
import { encrypt } from 'xml-encryption';
import { makeTempDir } from './temp_dir.js';

export interface SamlKeyPair {
  readonly key: string;
  readonly cert: string;
}

/** An RSA key and a self-signed certificate for it. */
export function samlKeyPair(name = 'idp'): SamlKeyPair {
  const dir = makeTempDir('ipsie-saml-');
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'k.pem',
        '-out',
        'c.pem',
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
      ],
      { cwd: dir.path, stdio: 'pipe' },
    );
    return { key: readFileSync(join(dir.path, 'k.pem'), 'utf8'), cert: readFileSync(join(dir.path, 'c.pem'), 'utf8') };
  } finally {
    dir.remove();
  }
}

export interface ResponseOptions {
  readonly inResponseTo?: string | undefined;
  readonly nameId?: string;
  readonly issuer?: string;
  readonly audience?: string;
  readonly recipient?: string;
  readonly destination?: string;
  /** Seconds from now; default -5 / +300. */
  readonly notBefore?: number;
  readonly notOnOrAfter?: number;
  readonly sessionNotOnOrAfter?: number | undefined;
  readonly authnContextClassRef?: string;
  readonly sessionIndex?: string;
  readonly attributes?: Readonly<Record<string, string | readonly string[]>>;
  readonly assertionId?: string;
  /** Which parts are signed. @defaultValue 'assertion' */
  readonly sign?: 'assertion' | 'response' | 'both' | 'none';
  /** Sign with another key than the IdP's. */
  readonly key?: SamlKeyPair;
}

const iso = (offsetS: number): string => new Date(Date.now() + offsetS * 1000).toISOString();
const esc = (v: string): string => v.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
const SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';

export class TestSamlIdp {
  readonly entityId: string;
  readonly ssoUrl: string;
  keys: SamlKeyPair;
  /** Extra certificates listed in the metadata (a rollover in progress). */
  extraCerts: SamlKeyPair[] = [];
  readonly spEntityId: string;
  readonly acsUrl: string;
  #server: Server | undefined;
  metadataFetches = 0;
  cacheDuration = 'PT1H';

  constructor(options: { entityId?: string; spEntityId: string; acsUrl: string; keys?: SamlKeyPair }) {
    this.entityId = options.entityId ?? 'https://idp.test/saml';
    this.ssoUrl = `${this.entityId}/sso`;
    this.spEntityId = options.spEntityId;
    this.acsUrl = options.acsUrl;
    this.keys = options.keys ?? samlKeyPair();
  }

  metadata(): string {
    const certs = [this.keys, ...this.extraCerts]
      .map(
        (k) =>
          `<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>${k.cert
            .replace(/-----[^-]+-----/g, '')
            .replace(/\s+/g, '')}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`,
      )
      .join('');
    return `<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="_md${randomUUID()}" entityID="${esc(this.entityId)}" cacheDuration="${this.cacheDuration}"><md:IDPSSODescriptor protocolSupportEnumeration="${SAMLP}">${certs}<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${esc(this.ssoUrl)}"/></md:IDPSSODescriptor></md:EntityDescriptor>`;
  }

  /** The metadata signed with `key` (enveloped, on the EntityDescriptor). */
  signedMetadata(key: SamlKeyPair): string {
    const xp = '//*[local-name(.)="EntityDescriptor"]';
    return signXml(
      this.metadata(),
      xp,
      { reference: xp, action: 'prepend' },
      {
        privateKey: key.key,
        publicCert: key.cert,
        signatureAlgorithm: 'sha256',
        digestAlgorithm: 'sha256',
      },
    );
  }

  /** Serves `metadata()` at /metadata; returns its URL. */
  async serveMetadata(): Promise<string> {
    this.#server = createServer((_request, res) => {
      this.metadataFetches += 1;
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(this.metadata());
    });
    await new Promise<void>((resolve) => this.#server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/metadata`;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
  }

  /** The unsigned assertion XML. */
  assertion(o: ResponseOptions = {}): string {
    const id = o.assertionId ?? `_a${randomUUID()}`;
    const inResponseTo = o.inResponseTo === undefined ? '' : ` InResponseTo="${esc(o.inResponseTo)}"`;
    const attributes = Object.entries(o.attributes ?? {})
      .map(
        ([name, value]) =>
          `<saml:Attribute Name="${esc(name)}">${(Array.isArray(value) ? value : [value])
            .map((v: string) => `<saml:AttributeValue>${esc(v)}</saml:AttributeValue>`)
            .join('')}</saml:Attribute>`,
      )
      .join('');
    const session = o.sessionNotOnOrAfter === undefined ? '' : ` SessionNotOnOrAfter="${iso(o.sessionNotOnOrAfter)}"`;
    return (
      `<saml:Assertion xmlns:saml="${SAML}" ID="${id}" Version="2.0" IssueInstant="${iso(0)}">` +
      `<saml:Issuer>${esc(o.issuer ?? this.entityId)}</saml:Issuer>` +
      `<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">${o.nameId ?? 'alice-pid'}</saml:NameID>` +
      `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="${iso(o.notOnOrAfter ?? 300)}" Recipient="${esc(o.recipient ?? this.acsUrl)}"${inResponseTo}/></saml:SubjectConfirmation></saml:Subject>` +
      `<saml:Conditions NotBefore="${iso(o.notBefore ?? -5)}" NotOnOrAfter="${iso(o.notOnOrAfter ?? 300)}"><saml:AudienceRestriction><saml:Audience>${esc(o.audience ?? this.spEntityId)}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
      `<saml:AuthnStatement AuthnInstant="${iso(-1)}" SessionIndex="${esc(o.sessionIndex ?? `_s${randomUUID()}`)}"${session}><saml:AuthnContext><saml:AuthnContextClassRef>${esc(o.authnContextClassRef ?? 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport')}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
      (attributes === '' ? '' : `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>`) +
      `</saml:Assertion>`
    );
  }

  /** A signed assertion alone (for moving it around in XSW tests). */
  signedAssertion(o: ResponseOptions = {}): string {
    return this.#sign(this.assertion(o), 'Assertion', o.key ?? this.keys);
  }

  /** A whole Response as XML, signed as `sign` says. */
  responseXml(o: ResponseOptions = {}, assertionXml?: string): string {
    const sign = o.sign ?? 'assertion';
    let assertion = assertionXml ?? this.assertion(o);
    if (assertionXml === undefined && (sign === 'assertion' || sign === 'both')) {
      assertion = this.#sign(assertion, 'Assertion', o.key ?? this.keys);
    }
    const inResponseTo = o.inResponseTo === undefined ? '' : ` InResponseTo="${esc(o.inResponseTo)}"`;
    const response =
      `<samlp:Response xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="_r${randomUUID()}" Version="2.0" IssueInstant="${iso(0)}" Destination="${esc(o.destination ?? this.acsUrl)}"${inResponseTo}>` +
      `<saml:Issuer>${esc(o.issuer ?? this.entityId)}</saml:Issuer>` +
      `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
      assertion +
      `</samlp:Response>`;
    return sign === 'response' || sign === 'both' ? this.#sign(response, 'Response', o.key ?? this.keys) : response;
  }

  /** A LogoutRequest (HTTP-POST binding: base64), signed on its root unless `sign` is 'none'. */
  logoutRequest(o: {
    nameId: string;
    sessionIndex?: string;
    destination?: string;
    issuedAgoS?: number;
    sign?: 'request' | 'none';
    key?: SamlKeyPair;
    issuer?: string;
  }): string {
    const xml =
      `<samlp:LogoutRequest xmlns:samlp="${SAMLP}" xmlns:saml="${SAML}" ID="_l${randomUUID()}" Version="2.0" IssueInstant="${iso(-(o.issuedAgoS ?? 0))}"${o.destination === undefined ? '' : ` Destination="${esc(o.destination)}"`}>` +
      `<saml:Issuer>${esc(o.issuer ?? this.entityId)}</saml:Issuer>` +
      `<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">${esc(o.nameId)}</saml:NameID>` +
      (o.sessionIndex === undefined ? '' : `<samlp:SessionIndex>${esc(o.sessionIndex)}</samlp:SessionIndex>`) +
      `</samlp:LogoutRequest>`;
    return b64(o.sign === 'none' ? xml : this.#sign(xml, 'LogoutRequest', o.key ?? this.keys));
  }

  /** A Response as the app's ACS receives it: base64. */
  response(o: ResponseOptions = {}): string {
    return b64(this.responseXml(o));
  }

  #sign(xml: string, element: 'Assertion' | 'Response' | 'LogoutRequest', key: SamlKeyPair): string {
    const xp = `/*[local-name(.)="${element}"]`;
    return signXml(
      xml,
      xp,
      { reference: `${xp}/*[local-name(.)="Issuer"]`, action: 'after' },
      {
        privateKey: key.key,
        publicCert: key.cert,
        signatureAlgorithm: 'sha256',
        digestAlgorithm: 'sha256',
      },
    );
  }
}

/** An assertion encrypted to `cert` (AES-256-GCM, RSA-OAEP key transport), as an IdP encrypts to our SP. */
export async function encryptedAssertion(assertionXml: string, cert: string): Promise<string> {
  const data = await new Promise<string>((resolve, reject) => {
    encrypt(
      assertionXml,
      {
        rsa_pub: createPublicKey(cert).export({ type: 'spki', format: 'pem' }).toString(),
        pem: cert,
        encryptionAlgorithm: 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
        keyEncryptionAlgorithm: 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
      },
      // Typed as always an Error; at run time it is null on success.
      (error: Error | null, result) => {
        if (error === null) resolve(result);
        else reject(error);
      },
    );
  });
  return `<saml:EncryptedAssertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">${data}</saml:EncryptedAssertion>`;
}

export function b64(xml: string): string {
  return Buffer.from(xml, 'utf8').toString('base64');
}

/** The request id in an AuthnRequest redirect URL (SAMLRequest, deflated). */
export async function requestIdOf(redirectUrl: string): Promise<string> {
  return /ID="([^"]+)"/.exec(await authnRequestXml(redirectUrl))?.[1] ?? '';
}

export async function authnRequestXml(redirectUrl: string): Promise<string> {
  const { inflateRawSync } = await import('node:zlib');
  const encoded = new URL(redirectUrl).searchParams.get('SAMLRequest') ?? '';
  return inflateRawSync(Buffer.from(encoded, 'base64')).toString('utf8');
}
