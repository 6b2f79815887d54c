/**
 * `sub_id` parsing (RFC 9493, SSF 1.0 §3): the specifications' examples,
 * every format this receiver reads, and what it refuses.
 */
import { describe, expect, it } from 'vitest';
import { parseSubjectIdentifier } from '../../src/signals/subject_identifier.js';
import { SPEC_EXAMPLE_NAMES, specExample } from './spec_examples.js';

function refusal(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    const { code, err } = error as { code?: unknown; err?: unknown };
    return { code, err };
  }
  return undefined;
}

const INVALID_REQUEST = { code: 'ERR_SET_INVALID_REQUEST', err: 'invalid_request' };

/**
 * The one example whose subject is refused: ssf-07's `catalog_item` is a
 * format of no registry, so no receiver can know whom it names.
 */
const REFUSED_EXAMPLES = new Set(['ssf-07-token-claims-change']);

describe('the specifications’ example subjects', () => {
  it.each(SPEC_EXAMPLE_NAMES.filter((n) => !REFUSED_EXAMPLES.has(n)))(
    '%s has a subject this receiver reads',
    (name) => {
      expect(() => parseSubjectIdentifier(specExample(name).sub_id)).not.toThrow();
    },
  );

  it('ssf-07 names its subject in a proprietary format (catalog_item): refused', () => {
    expect(refusal(() => parseSubjectIdentifier(specExample('ssf-07-token-claims-change').sub_id))).toEqual(
      INVALID_REQUEST,
    );
  });

  it('reads the complex session, user and tenant subject of CAEP’s second session-revoked example', () => {
    expect(parseSubjectIdentifier(specExample('caep-02-session-revoked').sub_id)).toEqual({
      format: 'complex',
      members: {
        session: { format: 'opaque', id: 'dMTlD|1600802906337.16|16008.16' },
        user: {
          format: 'iss_sub',
          iss: 'https://idp.example.com/123456789/',
          sub: '99beb27c-c1c2-4955-882a-e0dc4996fcbc',
        },
        tenant: { format: 'opaque', id: '123456789' },
      },
      names: ['session', 'user', 'tenant'],
      unreadable: [],
    });
  });
});

describe('parseSubjectIdentifier', () => {
  it.each([
    [
      { format: 'email', email: 'user@example.com' },
      { format: 'email', email: 'user@example.com' },
    ],
    [
      { format: 'iss_sub', iss: 'https://idp.example/', sub: '145234573' },
      { format: 'iss_sub', iss: 'https://idp.example/', sub: '145234573' },
    ],
    [
      { format: 'opaque', id: '11112222333344445555' },
      { format: 'opaque', id: '11112222333344445555' },
    ],
    [
      { format: 'account', uri: 'acct:example.user@service.example.com' },
      { format: 'account', uri: 'acct:example.user@service.example.com' },
    ],
    [
      { format: 'uri', uri: 'https://user.example.com/' },
      { format: 'uri', uri: 'https://user.example.com/' },
    ],
    [
      { format: 'did', url: 'did:example:123456' },
      { format: 'did', url: 'did:example:123456' },
    ],
    [
      { format: 'phone_number', phone_number: '+12065550100' },
      { format: 'phone_number', phoneNumber: '+12065550100' },
    ],
    [
      { format: 'jwt_id', iss: 'https://idp.example/', jti: 'B70BA622' },
      { format: 'jwt_id', iss: 'https://idp.example/', jti: 'B70BA622' },
    ],
    [
      {
        format: 'saml_assertion_id',
        issuer: 'https://idp.example/',
        assertion_id: '_8e8dc5f69a98cc4c1ff3427e5ce34606fd672f91e6',
      },
      {
        format: 'saml_assertion_id',
        issuer: 'https://idp.example/',
        assertionId: '_8e8dc5f69a98cc4c1ff3427e5ce34606fd672f91e6',
      },
    ],
  ])('reads %j', (subject, expected) => {
    expect(parseSubjectIdentifier(subject)).toEqual(expected);
  });

  it('ignores members a format does not define', () => {
    expect(parseSubjectIdentifier({ format: 'email', email: 'a@x', display: 'A', sub: 'spoof' })).toEqual({
      format: 'email',
      email: 'a@x',
    });
  });

  it('keeps unicode identifiers exactly as sent', () => {
    expect(parseSubjectIdentifier({ format: 'email', email: 'Zoë@exämple.com' })).toEqual({
      format: 'email',
      email: 'Zoë@exämple.com',
    });
  });

  it('ignores complex members SSF does not define, and keeps the ones it does', () => {
    expect(
      parseSubjectIdentifier({
        format: 'complex',
        user: { format: 'email', email: 'a@x' },
        region: { format: 'opaque', id: 'eu' },
        application: { format: 'opaque', id: 'app-1' },
      }),
    ).toEqual({
      format: 'complex',
      members: { user: { format: 'email', email: 'a@x' }, application: { format: 'opaque', id: 'app-1' } },
      names: ['user', 'region', 'application'],
      unreadable: [],
    });
  });

  it('keeps a complex subject whose members it cannot read, naming them for the resolver (SSF §3.5)', () => {
    expect(
      parseSubjectIdentifier({
        format: 'complex',
        user: { format: 'email', email: 'a@x' },
        device: { format: 'catalog_item', catalog_id: 'x' },
        session: null,
        group: { format: 'email', email: '' },
        tenant: { format: 'complex', user: { format: 'opaque', id: 'u' } },
      }),
    ).toEqual({
      format: 'complex',
      members: { user: { format: 'email', email: 'a@x' } },
      names: ['user', 'device', 'session', 'group', 'tenant'],
      unreadable: ['device', 'session', 'group', 'tenant'],
    });
  });

  it('keeps a complex subject with only members SSF does not define: the resolver finds no account in it', () => {
    expect(parseSubjectIdentifier({ format: 'complex', region: { format: 'opaque', id: 'eu' } })).toEqual({
      format: 'complex',
      members: {},
      names: ['region'],
      unreadable: [],
    });
  });

  it('reads SSF ip-addresses', () => {
    expect(parseSubjectIdentifier({ format: 'ip-addresses', 'ip-addresses': ['10.0.0.1', '2001:db8::1'] })).toEqual({
      format: 'ip-addresses',
      addresses: ['10.0.0.1', '2001:db8::1'],
    });
  });

  it('reads RFC 9493 aliases, keeping only the identifiers in formats it knows', () => {
    expect(
      parseSubjectIdentifier({
        format: 'aliases',
        identifiers: [
          { format: 'email', email: 'a@x' },
          { format: 'catalog_item', catalog_id: 'c' },
          { format: 'opaque', id: 'u-1' },
        ],
      }),
    ).toEqual({
      format: 'aliases',
      identifiers: [
        { format: 'email', email: 'a@x' },
        { format: 'opaque', id: 'u-1' },
      ],
    });
  });

  it('reads aliases as a complex member', () => {
    expect(
      parseSubjectIdentifier({
        format: 'complex',
        user: { format: 'aliases', identifiers: [{ format: 'email', email: 'a@x' }] },
      }),
    ).toEqual({
      format: 'complex',
      members: { user: { format: 'aliases', identifiers: [{ format: 'email', email: 'a@x' }] } },
      names: ['user'],
      unreadable: [],
    });
  });

  it('does not let a JSON key named __proto__ become a complex member', () => {
    const subject = JSON.parse(
      '{"format":"complex","user":{"format":"email","email":"a@x"},"__proto__":{"device":{"format":"opaque","id":"d"}}}',
    ) as unknown;
    const parsed = parseSubjectIdentifier(subject);
    expect(parsed).toEqual({
      format: 'complex',
      members: { user: { format: 'email', email: 'a@x' } },
      names: ['user', '__proto__'],
      unreadable: [],
    });
    expect(parsed.format === 'complex' ? parsed.members.device : 'not complex').toBeUndefined();
  });

  it.each([
    ['no sub_id', undefined],
    ['null', null],
    ['a string', 'user@example.com'],
    ['a list', [{ format: 'email', email: 'a@x' }]],
    ['no format', { email: 'a@x' }],
    ['a format that is not a string', { format: ['email'], email: 'a@x' }],
    ['a format in capitals', { format: 'EMAIL', email: 'a@x' }],
    ['an unregistered format', { format: 'catalog_item', catalog_id: 'c0384/winter/2354122' }],
    ['ip-addresses with no address', { format: 'ip-addresses', 'ip-addresses': [] }],
    ['ip-addresses that are not strings', { format: 'ip-addresses', 'ip-addresses': [167772161] }],
    ['aliases with no identifiers', { format: 'aliases', identifiers: [] }],
    ['aliases none of whose formats it knows', { format: 'aliases', identifiers: [{ format: 'catalog_item' }] }],
    [
      'aliases nested in aliases',
      { format: 'aliases', identifiers: [{ format: 'aliases', identifiers: [{ format: 'email', email: 'a@x' }] }] },
    ],
    [
      'a complex subject as an alias',
      { format: 'aliases', identifiers: [{ format: 'complex', user: { format: 'email', email: 'a@x' } }] },
    ],
    [
      'more aliases than it will look up',
      { format: 'aliases', identifiers: Array.from({ length: 33 }, (_, i) => ({ format: 'opaque', id: `u${i}` })) },
    ],
    ['a format and subject_type that disagree', { format: 'email', subject_type: 'opaque', email: 'a@x', id: 'x' }],
    ['an email format without email', { format: 'email', id: 'a@x' }],
    ['an empty email', { format: 'email', email: '' }],
    ['an email that is a number', { format: 'email', email: 42 }],
    ['an iss_sub without sub', { format: 'iss_sub', iss: 'https://idp.example/' }],
    ['an iss_sub without iss', { format: 'iss_sub', sub: 'x' }],
    ['an opaque id that is an object', { format: 'opaque', id: { id: 'x' } }],
    ['a jwt_id without jti', { format: 'jwt_id', iss: 'https://idp.example/' }],
    ['a saml_assertion_id without assertion_id', { format: 'saml_assertion_id', issuer: 'https://idp.example/' }],
    ['a phone number under the wrong key', { format: 'phone_number', phoneNumber: '+12065550100' }],
    ['a complex subject without members', { format: 'complex' }],
  ])('refuses %s', (_what, subject) => {
    expect(refusal(() => parseSubjectIdentifier(subject))).toEqual(INVALID_REQUEST);
  });
});
