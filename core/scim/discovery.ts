import { type AttributeDef, type SchemaDef, URN, allSchemas, commonAttributes, resourceTypes } from './schema.js';

export interface ScimLimits {
  maxBodyBytes: number;
  maxFilterLength: number;
  maxFilterDepth: number;
  maxPatchOperations: number;
  maxPageSize: number;
  defaultPageSize: number;
  cursorTimeoutSeconds: number;
}

/** RFC 7643 §5: advertises exactly what this server does. */
export function serviceProviderConfig(baseUrl: string, limits: ScimLimits) {
  return {
    schemas: [URN.serviceProviderConfig],
    documentationUri: `${baseUrl.replace(/\/scim\/v2$/, '')}/openapi.json`,
    patch: { supported: true },
    bulk: { supported: false, maxOperations: 0, maxPayloadSize: 0 },
    filter: { supported: true, maxResults: limits.maxPageSize },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    // RFC 9865 §4: both paging styles; startIndex stays the default so existing IdP clients see
    // no change (RFC 9865, Backwards Compatibility Considerations).
    pagination: {
      cursor: true,
      index: true,
      defaultPaginationMethod: 'index',
      defaultPageSize: limits.defaultPageSize,
      maxPageSize: limits.maxPageSize,
      cursorTimeout: limits.cursorTimeoutSeconds,
    },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'One bearer token per SCIM connection, issued by Roster.',
        specUri: 'https://www.rfc-editor.org/info/rfc6750',
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${baseUrl}/ServiceProviderConfig` },
  };
}

export function resourceTypeResource(name: 'User' | 'Group', baseUrl: string) {
  const rt = resourceTypes[name];
  return {
    schemas: [URN.resourceType],
    id: rt.name,
    name: rt.name,
    endpoint: rt.endpoint,
    description: rt.schema.description,
    schema: rt.schema.id,
    schemaExtensions: rt.extensions.map((e) => ({ schema: e.id, required: false })),
    meta: { resourceType: 'ResourceType', location: `${baseUrl}/ResourceTypes/${rt.name}` },
  };
}

function renderAttribute(a: AttributeDef): Record<string, unknown> {
  const out: Record<string, unknown> = {
    name: a.name,
    type: a.type,
    multiValued: a.multiValued,
    description: a.description ?? a.name,
    required: a.required,
    caseExact: a.caseExact,
    mutability: a.mutability,
    returned: a.returned,
    uniqueness: a.uniqueness,
  };
  if (a.canonicalValues) out.canonicalValues = a.canonicalValues;
  if (a.referenceTypes) out.referenceTypes = a.referenceTypes;
  if (a.subAttributes) out.subAttributes = a.subAttributes.map(renderAttribute);
  return out;
}

/**
 * RFC 7643 §3.1: the common attributes (id, externalId, meta) belong to no schema; "for backward
 * compatibility" a schema MAY list them. We list `externalId` (IdPs read its caseExact from here)
 * but not `id` or `meta`: clients build their resource models from /Schemas, and one that finds a
 * `meta` there types it as a plain complex attribute, not the RFC's Meta. scim2-client then fails
 * on every partial representation (`?attributes=`, which drops meta: RFC 7643 §3.1 makes it
 * `returned: default`) because it fills meta.version in from the ETag header.
 */
const publishedCommonAttributes = commonAttributes.filter((a) => a.name === 'externalId');

export function schemaResource(schema: SchemaDef, baseUrl: string) {
  const attributes = schema.id === URN.enterprise ? schema.attributes : [...publishedCommonAttributes, ...schema.attributes];
  return {
    schemas: [URN.schema],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    attributes: attributes.map(renderAttribute),
    meta: { resourceType: 'Schema', location: `${baseUrl}/Schemas/${schema.id}` },
  };
}

export const schemaById = (id: string) => allSchemas.find((s) => s.id.toLowerCase() === id.toLowerCase());
