/**
 * A verified SAML assertion as the shared sign-in lifecycle reads it: the claims it sets, and the attributes
 * that can never stand in for them.
 */
import { describe, expect, it } from 'vitest';
import { parseTenantSettings } from '../../src/config/tenant_settings.js';
import type { VerifiedSamlAssertion } from '../../src/saml/index.js';
import { sessionFromAssertion, signInFromSaml } from '../../src/session/index.js';

function idpWith(extra: Record<string, unknown>): VerifiedSamlAssertion['idp'] {
  const [tenant] = parseTenantSettings(
    JSON.stringify({
      tenants: {
        acme: {
          saml: {
            entity_id: 'https://sp',
            acs_url: 'https://sp/acs',
            idps: [{ entity_id: 'https://idp', metadata_xml: '<x/>', ...extra }],
          },
        },
      },
    }),
    'IPSIE_TENANTS_FILE',
  );
  const idp = tenant?.saml?.idps[0];
  if (idp === undefined) throw new Error('no idp');
  return idp;
}

const base = (idp: VerifiedSamlAssertion['idp'], attributes: Record<string, string[]>): VerifiedSamlAssertion => ({
  tenantId: 'acme',
  idp,
  issuer: 'https://idp',
  subject: 'pid-1',
  nameIdFormat: undefined,
  assertionId: '_a1',
  inResponseTo: '_r1',
  issuedAt: 1_800_000_000,
  expiresAt: 1_800_000_300,
  authTime: 1_799_999_990,
  sessionNotOnOrAfter: 1_800_000_600,
  sessionIndex: '_s1',
  authnContextClassRef: 'urn:c',
  acr: 'pwd',
  attributes,
});

describe('signInFromSaml', () => {
  it('sets sub, jti, acr, auth_time, session_expiry and sid from the assertion, and lets SessionNotOnOrAfter cap the session', () => {
    const signIn = signInFromSaml(base(idpWith({}), {}));
    expect(signIn.claims).toMatchObject({
      sub: 'pid-1',
      name_id: 'pid-1',
      jti: '_a1',
      acr: 'pwd',
      auth_time: 1_799_999_990,
      session_expiry: 1_800_000_600,
      sid: '_s1',
    });
    expect(sessionFromAssertion(signIn)).toMatchObject({ acr: 'pwd', expiresAt: 1_800_000_600, idpSessionId: '_s1' });
  });

  it('ignores attributes named like the claims it sets (an attribute cannot raise acr or verify an e-mail)', () => {
    const signIn = signInFromSaml(
      base(idpWith({}), {
        acr: ['phr'],
        email_verified: ['true'],
        email: ['ceo@acme.example'],
        sid: ['other'],
        session_expiry: ['9999999999'],
        groups: ['a', 'b'],
        dept: ['R&D'],
      }),
    );
    expect(signIn.claims['acr']).toBe('pwd');
    expect(signIn.claims['email']).toBeUndefined();
    expect(signIn.claims['email_verified']).toBeUndefined();
    expect(signIn.claims['sid']).toBe('_s1');
    expect(signIn.claims['groups']).toEqual(['a', 'b']);
    expect(signIn.claims['dept']).toBe('R&D');
  });

  it("takes the e-mail attribute as verified only where the IdP's settings say it verifies them", () => {
    const attributes = { mail: ['dee@acme.example'] };
    expect(signInFromSaml(base(idpWith({ email_attribute: 'mail' }), attributes)).claims).toMatchObject({
      email: 'dee@acme.example',
      email_verified: false,
    });
    expect(
      signInFromSaml(base(idpWith({ email_attribute: 'mail', email_verified: true }), attributes)).claims,
    ).toMatchObject({ email: 'dee@acme.example', email_verified: true });
  });
});
