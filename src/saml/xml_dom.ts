import * as xml from '@node-saml/node-saml/lib/xml.js';

// node-saml's XML helpers are typed with the DOM lib's types, which this project (Node only) does not load:
// the little of the DOM we read, typed here once.

export interface DomElement {
  readonly localName: string;
  readonly namespaceURI: string | null;
  readonly textContent: string | null;
  getAttribute(name: string): string | null;
}

export interface DomDocument {
  readonly documentElement: DomElement | null;
}

/** Elements an XPath selects (xmldom + xpath, as node-saml runs them). */
export const selectElements = xml.xpath.selectElements as unknown as (
  node: DomDocument | DomElement,
  path: string,
) => DomElement[];

/** Parses XML as node-saml does (xmldom; a parse error throws). */
export const parseDom = xml.parseDomFromString as unknown as (text: string) => Promise<DomDocument>;

/**
 * The bytes an enveloped signature on `node` covers, canonicalized, when it verifies with one of `pems`; else
 * null. Throws on signatures node-saml refuses outright (several, too many transforms).
 */
export const signedXmlOf = xml.getVerifiedXml as unknown as (
  fullXml: string,
  node: DomElement,
  pems: string[],
) => string | null;
