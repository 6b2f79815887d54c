/** The discovery endpoints (RFC 7644 §4): what this service provider supports, described by itself. */
import type { Json } from './resource.js';
import {
  COMMON_ATTRIBUTES,
  LIST_RESPONSE_SCHEMA,
  RESOURCE_TYPE_SCHEMA,
  RESOURCE_TYPES,
  SCHEMA_SCHEMA,
  SERVICE_PROVIDER_CONFIG_SCHEMA,
  ENTERPRISE_USER,
  GROUP,
  USER,
} from './schema.js';
import type { Attribute, Schema } from './schema.js';
import { MAX_PAGE_SIZE } from './scim_reads.js';

export function serviceProviderConfig(baseUrl: string): Json {
  return {
    schemas: [SERVICE_PROVIDER_CONFIG_SCHEMA],
    documentationUri: 'https://github.com/ipsie-sidecar/ipsie-sidecar/blob/main/docs/scim.md',
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: MAX_PAGE_SIZE },
    changePassword: { supported: false },
    sort: { supported: false },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description:
          'A static bearer token issued for the tenant, or an OAuth access token with scope "scim" (RFC 7523).',
        specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

export function resourceTypes(baseUrl: string): Json[] {
  return Object.values(RESOURCE_TYPES).map((t) => ({
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: t.kind,
    name: t.kind,
    endpoint: t.endpoint,
    description: t.schema.description,
    schema: t.schema.id,
    schemaExtensions: t.extensions.map((e) => ({ schema: e.id, required: false })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${t.kind}` },
  }));
}

/** The schemas, each as `refine` describes it for the tenant (its attribute catalog). */
export function schemas(baseUrl: string, refine: (schema: Schema) => Schema = (s) => s): Json[] {
  return [USER, ENTERPRISE_USER, GROUP].map((s) => schemaResource(s, refine(s), baseUrl));
}

function schemaResource(original: Schema, schema: Schema, baseUrl: string): Json {
  const attributes =
    original === ENTERPRISE_USER ? schema.attributes : [...schema.attributes, ...COMMON_ATTRIBUTES.slice(1, 2)];
  return {
    schemas: [SCHEMA_SCHEMA],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    attributes: attributes.map(attributeResource),
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${schema.id}` },
  };
}

function attributeResource(attribute: Attribute): Json {
  return {
    name: attribute.name,
    type: attribute.type,
    multiValued: attribute.multiValued,
    description: attribute.description,
    required: attribute.required,
    caseExact: attribute.caseExact,
    mutability: attribute.mutability,
    returned: attribute.returned,
    uniqueness: attribute.uniqueness,
    ...(attribute.canonicalValues === undefined ? {} : { canonicalValues: attribute.canonicalValues }),
    ...(attribute.referenceTypes === undefined ? {} : { referenceTypes: attribute.referenceTypes }),
    ...(attribute.subAttributes === undefined ? {} : { subAttributes: attribute.subAttributes.map(attributeResource) }),
  };
}

export function listOf(resources: Json[]): Json {
  return {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults: resources.length,
    startIndex: 1,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}
