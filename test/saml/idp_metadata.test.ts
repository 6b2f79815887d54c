/**
 * IdP metadata: read from inline XML or a URL, its own signature verified when a signing certificate is
 * configured, refreshed on cacheDuration so a key rollover is picked up without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTenantSettings } from '../../src/config/tenant_settings.js';
import { durationSeconds, MemorySamlRequestStore, parseIdpMetadata, SamlVerifier } from '../../src/saml/index.js';
import { requestIdOf, samlKeyPair, TestSamlIdp } from '../harness/saml_idp.js';
import type { SamlKeyPair } from '../harness/saml_idp.js';

const SP = 'https://app.test/saml';
const ACS = 'https://app.test/saml/acs';
const NOW = Math.floor(Date.now() / 1000);
let idp: TestSamlIdp;
let metadataKey: SamlKeyPair;

beforeAll(() => {
  idp = new TestSamlIdp({ spEntityId: SP, acsUrl: ACS });
  metadataKey = samlKeyPair('federation');
});

afterAll(async () => {
  await idp.stop();
});

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as { code: string }).code;
  }
  return 'accepted';
}

describe('parseIdpMetadata', () => {
  it('reads the signing certificates, the redirect SSO endpoint and cacheDuration', async () => {
    const metadata = await parseIdpMetadata(idp.metadata(), idp.entityId, undefined, NOW);
    expect(metadata.signingCerts).toHaveLength(1);
    expect(metadata.signingCerts[0]).toContain('BEGIN CERTIFICATE');
    expect(metadata.ssoRedirectUrl).toBe(idp.ssoUrl);
    expect(metadata.cacheDurationS).toBe(3600);
  });

  it('verifies the metadata signature with the configured certificate, and refuses unsigned or other-signed', async () => {
    const signed = idp.signedMetadata(metadataKey);
    expect((await parseIdpMetadata(signed, idp.entityId, metadataKey.cert, NOW)).entityId).toBe(idp.entityId);
    expect(await code(parseIdpMetadata(idp.metadata(), idp.entityId, metadataKey.cert, NOW))).toBe(
      'ERR_SAML_METADATA_UNAVAILABLE',
    );
    expect(
      await code(parseIdpMetadata(idp.signedMetadata(samlKeyPair('x')), idp.entityId, metadataKey.cert, NOW)),
    ).toBe('ERR_SAML_METADATA_UNAVAILABLE');
    // A signing key swapped into signed metadata breaks its signature.
    const tampered = signed.replace(/<ds:X509Certificate>[^<]+/, '<ds:X509Certificate>MIIBkTCB');
    expect(await code(parseIdpMetadata(tampered, idp.entityId, metadataKey.cert, NOW))).toBe(
      'ERR_SAML_METADATA_UNAVAILABLE',
    );
  });

  it('refuses metadata of another entity, past its validUntil, or with a DTD', async () => {
    expect(await code(parseIdpMetadata(idp.metadata(), 'https://other.test', undefined, NOW))).toBe(
      'ERR_SAML_METADATA_UNAVAILABLE',
    );
    const expired = idp
      .metadata()
      .replace('cacheDuration=', `validUntil="${new Date((NOW - 10) * 1000).toISOString()}" cacheDuration=`);
    expect(await code(parseIdpMetadata(expired, idp.entityId, undefined, NOW))).toBe('ERR_SAML_METADATA_UNAVAILABLE');
    expect(await code(parseIdpMetadata(`<!DOCTYPE x>${idp.metadata()}`, idp.entityId, undefined, NOW))).toBe(
      'ERR_SAML_METADATA_UNAVAILABLE',
    );
  });

  it('reads xs:duration values', () => {
    expect(durationSeconds('PT1H')).toBe(3600);
    expect(durationSeconds('P1DT30M')).toBe(86_400 + 1800);
    expect(durationSeconds('PT90.5S')).toBe(90);
    expect(durationSeconds('P')).toBeUndefined();
    expect(durationSeconds('1H')).toBeUndefined();
  });
});

describe('metadata by URL', () => {
  it('a key rollover published in the metadata is picked up at cacheDuration, without a restart', async () => {
    let now = NOW;
    idp.cacheDuration = 'PT10M';
    const url = await idp.serveMetadata();
    const tenants = parseTenantSettings(
      JSON.stringify({
        tenants: {
          acme: { saml: { entity_id: SP, acs_url: ACS, idps: [{ entity_id: idp.entityId, metadata_url: url }] } },
        },
      }),
      'IPSIE_TENANTS_FILE',
    );
    const changes: unknown[] = [];
    const verifier = new SamlVerifier({
      tenants,
      requests: new MemorySamlRequestStore(),
      clock: () => now,
      onMetadataChange: (_tenant, change) => changes.push(change),
    });
    const signIn = async (): Promise<string> => {
      const id = await requestIdOf((await verifier.authnRequest('acme')).redirectUrl);
      return (await verifier.verify('acme', idp.response({ inResponseTo: id }))).subject;
    };
    expect(await signIn()).toBe('alice-pid');
    expect(idp.metadataFetches).toBe(1);
    // The IdP rolls its key: the new one is published, and signs.
    const old = idp.keys;
    idp.keys = samlKeyPair('rolled');
    const refused = await code(signIn());
    expect(refused).toBe('ERR_SAML_SIGNATURE_INVALID');
    expect(idp.metadataFetches).toBe(1);
    now += 601;
    expect(await signIn()).toBe('alice-pid');
    expect(idp.metadataFetches).toBe(2);
    expect(changes).toEqual([{ entityId: idp.entityId, added: [expect.any(String)], removed: [expect.any(String)] }]);
    // The old key is gone from the metadata: a response it signs no longer verifies.
    const id = await requestIdOf((await verifier.authnRequest('acme')).redirectUrl);
    expect(await code(verifier.verify('acme', idp.response({ inResponseTo: id, key: old })))).toBe(
      'ERR_SAML_SIGNATURE_INVALID',
    );
  });
});
