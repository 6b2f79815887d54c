/**
 * SAML Response verification against a test IdP that signs real assertions: what a good response yields, and
 * each hostile variant refused with its stable code (signature wrapping, comment injection, unsolicited,
 * unknown or replayed requests, wrong Audience / Recipient / Destination / Issuer, expired, unsigned).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseTenantSettings } from '../../src/config/tenant_settings.js';
import { MemorySamlRequestStore, SamlVerifier } from '../../src/saml/index.js';
import type { SamlErrorCode } from '../../src/saml/index.js';
import {
  authnRequestXml,
  b64,
  encryptedAssertion,
  requestIdOf,
  samlKeyPair,
  TestSamlIdp,
} from '../harness/saml_idp.js';
import type { ResponseOptions, SamlKeyPair } from '../harness/saml_idp.js';

const SP = 'https://app.test/saml/acme';
const ACS = 'https://app.test/saml/acme/acs';
let idp: TestSamlIdp;
let attacker: SamlKeyPair;

beforeAll(() => {
  idp = new TestSamlIdp({ spEntityId: SP, acsUrl: ACS });
  attacker = samlKeyPair('attacker');
});

function verifierFor(
  extra: Record<string, unknown> = {},
  saml: Record<string, unknown> = {},
  secrets: Record<string, string> = {},
): SamlVerifier {
  const tenants = parseTenantSettings(
    JSON.stringify({
      tenants: {
        acme: {
          saml: {
            entity_id: SP,
            acs_url: ACS,
            idps: [
              {
                entity_id: idp.entityId,
                metadata_xml: idp.metadata(),
                acr_map: { 'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport': 'pwd' },
                ...extra,
              },
            ],
            ...saml,
          },
        },
        other: {
          saml: {
            entity_id: 'https://other.test',
            acs_url: 'https://other.test/acs',
            idps: [{ entity_id: idp.entityId, metadata_xml: idp.metadata() }],
          },
        },
      },
    }),
    'IPSIE_TENANTS_FILE',
    (path) => secrets[path] ?? '',
  );
  return new SamlVerifier({ tenants, requests: new MemorySamlRequestStore() });
}

async function issued(verifier: SamlVerifier, tenant = 'acme'): Promise<string> {
  return await requestIdOf((await verifier.authnRequest(tenant, { relayState: 'rs-1' })).redirectUrl);
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code: string }).code;
  }
  return 'accepted';
}

describe('SAML Response verification', () => {
  it('a signed assertion answering our AuthnRequest yields its NameID, acr, session end, attributes', async () => {
    const verifier = verifierFor();
    const request = await verifier.authnRequest('acme', { relayState: 'back-to/x' });
    expect(new URL(request.redirectUrl).origin + new URL(request.redirectUrl).pathname).toBe(idp.ssoUrl);
    expect(new URL(request.redirectUrl).searchParams.get('RelayState')).toBe('back-to/x');
    const id = await requestIdOf(request.redirectUrl);
    expect(id).toBe(request.requestId);
    const verified = await verifier.verify(
      'acme',
      idp.response({
        inResponseTo: id,
        sessionNotOnOrAfter: 1800,
        attributes: { mail: 'alice@acme.test', groups: ['a', 'b'] },
      }),
    );
    expect(verified.subject).toBe('alice-pid');
    expect(verified.issuer).toBe(idp.entityId);
    expect(verified.acr).toBe('pwd');
    expect(verified.inResponseTo).toBe(id);
    expect(verified.sessionNotOnOrAfter).toBeGreaterThan(Date.now() / 1000 + 1700);
    expect(verified.attributes).toEqual({ mail: ['alice@acme.test'], groups: ['a', 'b'] });
  });

  it('a signed Response (assertion unsigned inside it) is accepted; both signed too', async () => {
    const verifier = verifierFor();
    for (const sign of ['response', 'both'] as const) {
      const id = await issued(verifier);
      expect((await verifier.verify('acme', idp.response({ inResponseTo: id, sign }))).subject).toBe('alice-pid');
    }
  });

  it('require_signed_assertion refuses a Response whose assertion only the Response signature covers', async () => {
    const verifier = verifierFor({ require_signed_assertion: true });
    const id = await issued(verifier);
    expect(await refusal(verifier.verify('acme', idp.response({ inResponseTo: id, sign: 'response' })))).toBe(
      'ERR_SAML_SIGNATURE_INVALID',
    );
  });

  it('an unsigned response, or one signed by another key, is refused', async () => {
    const verifier = verifierFor();
    expect(
      await refusal(verifier.verify('acme', idp.response({ inResponseTo: await issued(verifier), sign: 'none' }))),
    ).toBe('ERR_SAML_SIGNATURE_INVALID');
    expect(
      await refusal(
        verifier.verify('acme', idp.response({ inResponseTo: await issued(verifier), key: attacker, sign: 'both' })),
      ),
    ).toBe('ERR_SAML_SIGNATURE_INVALID');
  });

  it('an IdP-initiated (unsolicited) response is refused, and so is one answering a request we never issued', async () => {
    const verifier = verifierFor();
    expect(await refusal(verifier.verify('acme', idp.response({})))).toBe('ERR_SAML_UNSOLICITED');
    expect(await refusal(verifier.verify('acme', idp.response({ inResponseTo: '_never-issued' })))).toBe(
      'ERR_SAML_REQUEST_UNKNOWN',
    );
  });

  it("a request is answered once, and another tenant's request answers nothing here", async () => {
    const verifier = verifierFor();
    const id = await issued(verifier);
    await verifier.verify('acme', idp.response({ inResponseTo: id }));
    expect(await refusal(verifier.verify('acme', idp.response({ inResponseTo: id })))).toBe('ERR_SAML_REQUEST_UNKNOWN');
    const others = await issued(verifier, 'other');
    expect(await refusal(verifier.verify('acme', idp.response({ inResponseTo: others })))).toBe(
      'ERR_SAML_REQUEST_UNKNOWN',
    );
  });

  it('the SubjectConfirmation must answer the same request as the Response', async () => {
    const verifier = verifierFor();
    const mine = await issued(verifier);
    const other = await issued(verifier);
    const xml = idp.responseXml({ inResponseTo: mine }, idp.signedAssertion({ inResponseTo: other }));
    expect(await refusal(verifier.verify('acme', b64(xml)))).toBe('ERR_SAML_REQUEST_UNKNOWN');
    // A captured assertion answering no request, re-wrapped in a Response answering a fresh one.
    const rewrapped = idp.responseXml({ inResponseTo: await issued(verifier) }, idp.signedAssertion({}));
    expect(await refusal(verifier.verify('acme', b64(rewrapped)))).toBe('ERR_SAML_REQUEST_UNKNOWN');
  });

  it.each<[string, ResponseOptions, SamlErrorCode]>([
    ['wrong Audience', { audience: 'https://evil.test/sp' }, 'ERR_SAML_AUDIENCE_INVALID'],
    ['wrong Recipient', { recipient: 'https://evil.test/acs' }, 'ERR_SAML_RECIPIENT_INVALID'],
    ['wrong Destination', { destination: 'https://evil.test/acs' }, 'ERR_SAML_DESTINATION_INVALID'],
    ['expired', { notBefore: -900, notOnOrAfter: -600 }, 'ERR_SAML_EXPIRED'],
    ['not yet valid', { notBefore: 600, notOnOrAfter: 900 }, 'ERR_SAML_NOT_YET_VALID'],
    ['another issuer', { issuer: 'https://evil.test/idp' }, 'ERR_SAML_ISSUER_UNKNOWN'],
  ])('%s is refused', async (_name, options, code) => {
    const verifier = verifierFor();
    expect(
      await refusal(verifier.verify('acme', idp.response({ inResponseTo: await issued(verifier), ...options }))),
    ).toBe(code);
  });

  it('a small clock skew is accepted (NotOnOrAfter 30 s ago with 60 s skew)', async () => {
    const verifier = verifierFor();
    const id = await issued(verifier);
    // The confirmation expired 30 s ago: within the default 60 s skew.
    expect(
      (await verifier.verify('acme', idp.response({ inResponseTo: id, notBefore: -120, notOnOrAfter: -30 }))).subject,
    ).toBe('alice-pid');
  });

  it('a malformed, oversized, DTD-carrying or non-Response document is refused as malformed', async () => {
    const verifier = verifierFor();
    expect(await refusal(verifier.verify('acme', 'not base64 !'))).toBe('ERR_SAML_MALFORMED');
    expect(await refusal(verifier.verify('acme', 'A'.repeat(300 * 1024)))).toBe('ERR_SAML_MALFORMED');
    expect(await refusal(verifier.verify('acme', b64('<x'))).then((c) => c)).toBe('ERR_SAML_MALFORMED');
    expect(
      await refusal(
        verifier.verify('acme', b64(`<!DOCTYPE r [<!ENTITY e "x">]>${idp.responseXml({ inResponseTo: '_x' })}`)),
      ),
    ).toBe('ERR_SAML_MALFORMED');
    expect(await refusal(verifier.verify('acme', b64(idp.signedAssertion())))).toBe('ERR_SAML_MALFORMED');
  });
});

describe('encrypted assertions', () => {
  it('an assertion encrypted to our key is decrypted and verified; one to another key is refused', async () => {
    const sp = samlKeyPair('sp-encryption');
    const verifier = verifierFor({}, { decryption_key_file: '/k.pem', encryption_cert: sp.cert }, { '/k.pem': sp.key });
    expect(verifier.spMetadata('acme')).toContain('<md:KeyDescriptor use="encryption">');
    const id = await issued(verifier);
    const signed = idp.signedAssertion({ inResponseTo: id, nameId: 'enc-user' });
    const response = idp.responseXml({ inResponseTo: id, sign: 'none' }, await encryptedAssertion(signed, sp.cert));
    expect((await verifier.verify('acme', b64(response))).subject).toBe('enc-user');
    const id2 = await issued(verifier);
    const other = await encryptedAssertion(idp.signedAssertion({ inResponseTo: id2 }), samlKeyPair('other').cert);
    expect(
      await refusal(verifier.verify('acme', b64(idp.responseXml({ inResponseTo: id2, sign: 'none' }, other)))),
    ).not.toBe('accepted');
    // Encrypted but unsigned (inside an unsigned Response): refused.
    const id3 = await issued(verifier);
    const unsigned = await encryptedAssertion(idp.assertion({ inResponseTo: id3 }), sp.cert);
    expect(
      await refusal(verifier.verify('acme', b64(idp.responseXml({ inResponseTo: id3, sign: 'none' }, unsigned)))),
    ).toBe('ERR_SAML_SIGNATURE_INVALID');
  });

  it('an EncryptedAssertion is refused (no decryption key is configured)', async () => {
    const verifier = verifierFor();
    const id = await issued(verifier);
    const encrypted =
      '<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedAssertion>';
    expect(
      await refusal(verifier.verify('acme', b64(idp.responseXml({ inResponseTo: id, sign: 'response' }, encrypted)))),
    ).toBe('ERR_SAML_MALFORMED');
  });
});

describe('XML signature wrapping and comment injection', () => {
  it('comment injection in NameID (user@evil.com<!---->.victim.com) is refused', async () => {
    const verifier = verifierFor();
    const id = await issued(verifier);
    const signed = idp.signedAssertion({ inResponseTo: id, nameId: 'user@evil.com.victim.com' });
    const injected = signed.replace('user@evil.com.victim.com', 'user@evil.com<!---->.victim.com');
    expect(await refusal(verifier.verify('acme', b64(idp.responseXml({ inResponseTo: id }, injected))))).toBe(
      'ERR_SAML_MALFORMED',
    );
  });

  it('XSW: an unsigned evil assertion beside the signed one is refused', async () => {
    const verifier = verifierFor();
    const id = await issued(verifier);
    const good = idp.signedAssertion({ inResponseTo: id });
    const evil = idp.assertion({ inResponseTo: id, nameId: 'admin' });
    for (const both of [good + evil, evil + good]) {
      expect(await refusal(verifier.verify('acme', b64(idp.responseXml({ inResponseTo: id }, both))))).toBe(
        'ERR_SAML_SIGNATURE_INVALID',
      );
    }
  });

  it('XSW: the signed assertion moved into an Extensions / wrapper element, an evil one in its place, is refused', async () => {
    const verifier = verifierFor();
    const id = await issued(verifier);
    const good = idp.signedAssertion({ inResponseTo: id });
    const evilSameId = idp.assertion({
      inResponseTo: id,
      nameId: 'admin',
      assertionId: /ID="([^"]+)"/.exec(good)?.[1] ?? '',
    });
    const variants = [
      // signed assertion hidden in Extensions, evil (unsigned, same ID) as the assertion read
      `<samlp:Extensions>${good}</samlp:Extensions>${evilSameId}`,
      // evil assertion wrapping the signed one
      evilSameId.replace('</saml:Assertion>', `${good}</saml:Assertion>`),
      // the signed assertion's Signature moved onto the evil one
      evilSameId.replace(
        '</saml:Issuer>',
        `</saml:Issuer>${/<ds:Signature[\s\S]*<\/ds:Signature>|<Signature[\s\S]*<\/Signature>/.exec(good)?.[0] ?? ''}`,
      ),
    ];
    for (const body of variants) {
      const code = await refusal(verifier.verify('acme', b64(idp.responseXml({ inResponseTo: id }, body))));
      expect(code, body.slice(0, 80)).toBe('ERR_SAML_SIGNATURE_INVALID');
    }
  });

  it('XSW: a signed Response with its assertion swapped for an unsigned one after signing is refused', async () => {
    const verifier = verifierFor();
    const id = await issued(verifier);
    const signed = idp.responseXml({ inResponseTo: id, sign: 'response' });
    const tampered = signed.replace('>alice-pid<', '>admin<');
    expect(await refusal(verifier.verify('acme', b64(tampered)))).toBe('ERR_SAML_SIGNATURE_INVALID');
    // The signed Response moved inside a new unsigned Response with an evil assertion.
    const evil = idp.assertion({ inResponseTo: id, nameId: 'admin' });
    const wrapper = idp
      .responseXml({ inResponseTo: id, sign: 'none' }, evil)
      .replace('</samlp:Response>', `<samlp:Extensions>${signed}</samlp:Extensions></samlp:Response>`);
    expect(await refusal(verifier.verify('acme', b64(wrapper)))).toBe('ERR_SAML_SIGNATURE_INVALID');
  });
});

describe('AuthnRequests', () => {
  it('a step-up request carries RequestedAuthnContext (mapped back through acr_map) and ForceAuthn', async () => {
    const verifier = verifierFor();
    const request = await verifier.authnRequest('acme', {
      acrValues: ['pwd'],
      comparison: 'minimum',
      forceAuthn: true,
    });
    const xml = await authnRequestXml(request.redirectUrl);
    expect(xml).toContain('ForceAuthn="true"');
    expect(xml).toContain('Comparison="minimum"');
    expect(xml).toContain(
      'urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef>',
    );
    expect(xml).toContain(`AssertionConsumerServiceURL="${ACS}"`);
    const plain = await authnRequestXml((await verifier.authnRequest('acme')).redirectUrl);
    expect(plain).not.toContain('RequestedAuthnContext');
    expect(plain).not.toContain('ForceAuthn');
  });

  it('SP metadata names our entityID, ACS and NameID formats', () => {
    const xml = verifierFor({}, { slo_url: 'https://app.test/saml/acme/slo' }).spMetadata('acme') ?? '';
    expect(xml).toContain(`entityID="${SP}"`);
    expect(xml).toContain(`Location="${ACS}"`);
    expect(xml).toContain('nameid-format:persistent</md:NameIDFormat>');
    expect(xml).toContain('SingleLogoutService');
  });
});
