/**
 * The SCIM 2.0 schemas this service provider supports (RFC 7643): core User
 * with the enterprise extension, and Group. One table drives validation,
 * case rules, filters, PATCH paths and the `/Schemas` endpoint.
 */

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
/** Sent by Microsoft Entra ID next to the core Group schema; accepted and ignored. */
export const ENTRA_GROUP_SCHEMA = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group';
export const LIST_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SEARCH_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const SERVICE_PROVIDER_CONFIG_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
export const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
export const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

export type AttributeType =
  'string' | 'boolean' | 'decimal' | 'integer' | 'dateTime' | 'binary' | 'reference' | 'complex';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
export type Returned = 'always' | 'never' | 'default' | 'request';

export interface Attribute {
  readonly name: string;
  readonly type: AttributeType;
  readonly multiValued: boolean;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: Mutability;
  readonly returned: Returned;
  readonly uniqueness: 'none' | 'server' | 'global';
  readonly description: string;
  readonly subAttributes?: readonly Attribute[];
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
}

export interface Schema {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly Attribute[];
}

type AttributeOptions = Partial<Omit<Attribute, 'name' | 'type' | 'description'>>;

function attr(name: string, type: AttributeType, description: string, options: AttributeOptions = {}): Attribute {
  return {
    name,
    type,
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    description,
    ...options,
  };
}

/** The `{value, display, type, primary}` shape of emails, phone numbers and the like. */
function multiValued(
  name: string,
  description: string,
  valueType: AttributeType = 'string',
  types: string[] = [],
): Attribute {
  return attr(name, 'complex', description, {
    multiValued: true,
    subAttributes: [
      attr('value', valueType, `The ${name} value.`),
      attr('display', 'string', 'A human-readable name.'),
      attr('type', 'string', 'A label for the value.', types.length > 0 ? { canonicalValues: types } : {}),
      attr('primary', 'boolean', 'Whether this is the primary value.'),
    ],
  });
}

/** id, externalId and meta: on every resource (RFC 7643 §3.1). */
export const COMMON_ATTRIBUTES: readonly Attribute[] = [
  attr('id', 'string', 'Unique identifier assigned by the service provider.', {
    caseExact: true,
    mutability: 'readOnly',
    returned: 'always',
    uniqueness: 'server',
  }),
  attr('externalId', 'string', "The provisioning client's identifier for the resource.", { caseExact: true }),
  attr('meta', 'complex', 'Resource metadata.', {
    mutability: 'readOnly',
    subAttributes: [
      attr('resourceType', 'string', 'User or Group.', { caseExact: true, mutability: 'readOnly' }),
      attr('created', 'dateTime', 'When the resource was created.', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', 'When the resource last changed.', { mutability: 'readOnly' }),
      attr('location', 'reference', 'URI of the resource.', {
        mutability: 'readOnly',
        caseExact: true,
        referenceTypes: ['uri'],
      }),
      attr('version', 'string', 'Weak ETag of the resource.', { mutability: 'readOnly', caseExact: true }),
    ],
  }),
];

const ADDRESS_TYPES = ['work', 'home', 'other'];

export const USER: Schema = {
  id: USER_SCHEMA,
  name: 'User',
  description: 'User Account',
  attributes: [
    attr('userName', 'string', 'Unique identifier for the user, e.g. a UPN; unique per tenant, case-insensitive.', {
      required: true,
      uniqueness: 'server',
    }),
    attr('name', 'complex', "The components of the user's name.", {
      subAttributes: [
        attr('formatted', 'string', 'The full name.'),
        attr('familyName', 'string', 'The family name.'),
        attr('givenName', 'string', 'The given name.'),
        attr('middleName', 'string', 'The middle name.'),
        attr('honorificPrefix', 'string', 'E.g. Ms.'),
        attr('honorificSuffix', 'string', 'E.g. III.'),
      ],
    }),
    attr('displayName', 'string', 'The name to display.'),
    attr('nickName', 'string', 'The casual name.'),
    attr('profileUrl', 'reference', 'A profile page.', { referenceTypes: ['external'] }),
    attr('title', 'string', "The user's title."),
    attr('userType', 'string', 'E.g. Employee, Contractor.'),
    attr('preferredLanguage', 'string', 'Preferred written or spoken language.'),
    attr('locale', 'string', 'Default location, e.g. en-US.'),
    attr('timezone', 'string', 'Time zone, e.g. Europe/Paris.'),
    attr('active', 'boolean', 'Whether the account may be used; false deactivates it everywhere at once.'),
    attr('password', 'string', 'Accepted and discarded: this service never stores credentials.', {
      mutability: 'writeOnly',
      returned: 'never',
    }),
    multiValued('emails', 'E-mail addresses.', 'string', ['work', 'home', 'other']),
    multiValued('phoneNumbers', 'Phone numbers.', 'string', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    multiValued('ims', 'Instant messaging addresses.'),
    multiValued('photos', 'Photo URLs.', 'reference', ['photo', 'thumbnail']),
    attr('addresses', 'complex', 'Physical addresses.', {
      multiValued: true,
      subAttributes: [
        attr('formatted', 'string', 'The full address.'),
        attr('streetAddress', 'string', 'Street.'),
        attr('locality', 'string', 'City.'),
        attr('region', 'string', 'State or region.'),
        attr('postalCode', 'string', 'Postal code.'),
        attr('country', 'string', 'Country code.'),
        attr('type', 'string', 'work, home or other.', { canonicalValues: ADDRESS_TYPES }),
        attr('primary', 'boolean', 'Whether this is the primary address.'),
      ],
    }),
    attr('groups', 'complex', 'Groups the user belongs to; managed through the Group resource.', {
      multiValued: true,
      mutability: 'readOnly',
      subAttributes: [
        attr('value', 'string', 'Group id.', { mutability: 'readOnly', caseExact: true }),
        attr('$ref', 'reference', 'Group URI.', { mutability: 'readOnly', caseExact: true, referenceTypes: ['Group'] }),
        attr('display', 'string', 'Group displayName.', { mutability: 'readOnly' }),
        attr('type', 'string', 'direct.', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
      ],
    }),
    multiValued('entitlements', 'Entitlements.'),
    multiValued('roles', 'Roles; also passed to policies as subject.roles.'),
    multiValued('x509Certificates', 'Certificates.', 'binary'),
  ],
};

export const ENTERPRISE_USER: Schema = {
  id: ENTERPRISE_USER_SCHEMA,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    attr('employeeNumber', 'string', 'Employee number.'),
    attr('costCenter', 'string', 'Cost center.'),
    attr('organization', 'string', 'Organization.'),
    attr('division', 'string', 'Division.'),
    attr('department', 'string', 'Department.'),
    attr('manager', 'complex', "The user's manager.", {
      subAttributes: [
        attr('value', 'string', "The manager's id.", { caseExact: true }),
        attr('$ref', 'reference', "The manager's URI.", { caseExact: true, referenceTypes: ['User'] }),
        attr('displayName', 'string', "The manager's displayName.", { mutability: 'readOnly' }),
      ],
    }),
  ],
};

export const GROUP: Schema = {
  id: GROUP_SCHEMA,
  name: 'Group',
  description: 'Group',
  attributes: [
    attr('displayName', 'string', 'Group name; unique per tenant.', { required: true }),
    attr('members', 'complex', 'Members of the group (users; nested groups are not supported).', {
      multiValued: true,
      subAttributes: [
        attr('value', 'string', 'The member user id.', { mutability: 'immutable', caseExact: true }),
        attr('$ref', 'reference', 'The member URI.', {
          mutability: 'immutable',
          caseExact: true,
          referenceTypes: ['User'],
        }),
        attr('display', 'string', "The member's userName.", { mutability: 'readOnly' }),
        attr('type', 'string', 'User.', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
      ],
    }),
  ],
};

export type ResourceKind = 'User' | 'Group';

export interface ResourceType {
  readonly kind: ResourceKind;
  readonly endpoint: string;
  readonly schema: Schema;
  readonly extensions: readonly Schema[];
  /** Extra schema URNs accepted in `schemas` and ignored. */
  readonly tolerated: readonly string[];
}

export const RESOURCE_TYPES: Readonly<Record<ResourceKind, ResourceType>> = {
  User: { kind: 'User', endpoint: '/Users', schema: USER, extensions: [ENTERPRISE_USER], tolerated: [] },
  Group: { kind: 'Group', endpoint: '/Groups', schema: GROUP, extensions: [], tolerated: [ENTRA_GROUP_SCHEMA] },
};

/** Where an attribute path points: the schema that defines it, the attribute, and maybe a sub-attribute. */
export interface AttributeTarget {
  readonly schema: Schema;
  readonly attribute: Attribute;
  readonly subAttribute: Attribute | undefined;
}

/**
 * Resolves `attr`, `attr.sub` or `urn:…:attr[.sub]` (names case-insensitive,
 * RFC 7643 §2.1) against a resource type. Undefined when unknown.
 */
export function resolveAttribute(type: ResourceType, path: string): AttributeTarget | undefined {
  let schema: Schema = type.schema;
  let rest = path;
  if (path.toLowerCase().startsWith('urn:')) {
    const found = [type.schema, ...type.extensions].find((s) =>
      path.toLowerCase().startsWith(`${s.id.toLowerCase()}:`),
    );
    if (found === undefined) return undefined;
    schema = found;
    rest = path.slice(found.id.length + 1);
  }
  const [name, sub, ...more] = rest.split('.');
  if (name === undefined || more.length > 0) return undefined;
  const attribute =
    findAttribute(schema.attributes, name) ??
    (schema === type.schema ? findAttribute(COMMON_ATTRIBUTES, name) : undefined) ??
    // An extension attribute may be named without its URN when no core attribute has the name.
    (path.toLowerCase().startsWith('urn:')
      ? undefined
      : type.extensions.map((e) => findAttribute(e.attributes, name)).find((a) => a !== undefined));
  if (attribute === undefined) return undefined;
  const owner = type.extensions.find((e) => e.attributes.includes(attribute)) ?? schema;
  if (sub === undefined) return { schema: owner, attribute, subAttribute: undefined };
  const subAttribute = findAttribute(attribute.subAttributes ?? [], sub);
  return subAttribute === undefined ? undefined : { schema: owner, attribute, subAttribute };
}

export function findAttribute(attributes: readonly Attribute[], name: string): Attribute | undefined {
  const lower = name.toLowerCase();
  return attributes.find((a) => a.name.toLowerCase() === lower);
}
