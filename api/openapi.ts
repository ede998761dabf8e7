import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { ScimGroupSchema, ScimUserSchema } from '../core/scim/resource.js';
import { SCIM_TYPES } from '../core/errors.js';
import { registerEntitlementsApiPaths } from './entitlements-router.js';
import { registerEventsApiPaths } from './events-router.js';
import { registerAppApiPaths } from './app-api-schemas.js';

extendZodWithOpenApi(z);

const ScimErrorBody = z.object({
  schemas: z.array(z.literal('urn:ietf:params:scim:api:messages:2.0:Error')),
  status: z.string().describe('HTTP status as a string (RFC 7644 §3.12)'),
  scimType: z.enum(SCIM_TYPES).optional(),
  detail: z.string(),
});

const Meta = z.object({
  resourceType: z.string(),
  created: z.string(),
  lastModified: z.string(),
  location: z.string(),
  version: z.string(),
});

const PatchOp = z.object({
  schemas: z.array(z.string()),
  Operations: z.array(
    z.object({
      op: z.string().describe('add | replace | remove, case-insensitive'),
      path: z.string().optional(),
      value: z.unknown().optional(),
    }),
  ),
});

const ListParams = z.object({
  filter: z.string().optional().describe('RFC 7644 §3.4.2.2 filter'),
  startIndex: z.coerce.number().int().optional(),
  count: z.coerce.number().int().optional(),
  cursor: z.string().optional().describe('RFC 9865 cursor paging: empty for the first page, then nextCursor or previousCursor'),
  sortBy: z.string().optional(),
  sortOrder: z.enum(['ascending', 'descending']).optional(),
  attributes: z.string().optional(),
  excludedAttributes: z.string().optional(),
});

/** The OpenAPI description, generated from the same zod schemas that validate requests. */
export function buildOpenApiDocument(publicUrl: string) {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'scimBearer', { type: 'http', scheme: 'bearer' });
  const error = registry.register('ScimError', ScimErrorBody);
  const meta = registry.register('ScimMeta', Meta);
  const resources = {
    User: registry.register('ScimUser', ScimUserSchema.extend({ id: z.string().uuid(), schemas: z.array(z.string()), meta })),
    Group: registry.register(
      'ScimGroup',
      ScimGroupSchema.extend({
        id: z.string().uuid(),
        schemas: z.array(z.string()),
        members: z.array(z.object({ value: z.string(), display: z.string().optional(), $ref: z.string().optional(), type: z.string().optional() })).optional(),
        meta,
      }),
    ),
  };
  const patch = registry.register('ScimPatchOp', PatchOp);
  const scimJson = (schema: z.ZodTypeAny) => ({ 'application/scim+json': { schema } });
  const errors = {
    400: { description: 'Invalid request (scimType says why)', content: scimJson(error) },
    401: { description: 'Missing or invalid bearer token', content: scimJson(error) },
  };
  const idParam = z.object({ id: z.string() });
  for (const [name, schema] of Object.entries(resources)) {
    const base = `/scim/v2/${name}s`;
    const list = z.object({
      schemas: z.array(z.string()),
      totalResults: z.number().int(),
      itemsPerPage: z.number().int(),
      startIndex: z.number().int().optional().describe('index paging only'),
      nextCursor: z.string().optional().describe('RFC 9865: cursor paging, omitted on the last page'),
      previousCursor: z.string().optional().describe('RFC 9865: cursor paging, omitted on the first page'),
      Resources: z.array(schema),
    });
    const security = [{ [bearer.name]: [] }];
    registry.registerPath({ method: 'get', path: base, tags: ['SCIM'], security, request: { query: ListParams }, responses: { 200: { description: `${name}s`, content: scimJson(list) }, ...errors } });
    registry.registerPath({ method: 'post', path: base, tags: ['SCIM'], security, request: { body: { content: scimJson(schema) } }, responses: { 201: { description: 'Created', content: scimJson(schema) }, 409: { description: 'uniqueness', content: scimJson(error) }, ...errors } });
    registry.registerPath({ method: 'post', path: `${base}/.search`, tags: ['SCIM'], security, request: { body: { content: scimJson(ListParams) } }, responses: { 200: { description: 'Search results', content: scimJson(list) }, ...errors } });
    registry.registerPath({ method: 'get', path: `${base}/{id}`, tags: ['SCIM'], security, request: { params: idParam }, responses: { 200: { description: name, content: scimJson(schema) }, 404: { description: 'Not found', content: scimJson(error) }, ...errors } });
    registry.registerPath({ method: 'put', path: `${base}/{id}`, tags: ['SCIM'], security, request: { params: idParam, body: { content: scimJson(schema) } }, responses: { 200: { description: 'Replaced', content: scimJson(schema) }, 412: { description: 'If-Match failed', content: scimJson(error) }, ...errors } });
    registry.registerPath({ method: 'patch', path: `${base}/{id}`, tags: ['SCIM'], security, request: { params: idParam, body: { content: scimJson(patch) } }, responses: { 200: { description: 'Patched', content: scimJson(schema) }, 204: { description: 'Patched (no body)' }, 412: { description: 'If-Match failed', content: scimJson(error) }, ...errors } });
    registry.registerPath({ method: 'delete', path: `${base}/{id}`, tags: ['SCIM'], security, request: { params: idParam }, responses: { 204: { description: 'Deleted' }, 404: { description: 'Not found', content: scimJson(error) }, ...errors } });
  }
  for (const path of ['/scim/v2/ServiceProviderConfig', '/scim/v2/ResourceTypes', '/scim/v2/Schemas']) {
    registry.registerPath({ method: 'get', path, tags: ['SCIM discovery'], security: [{ [bearer.name]: [] }], responses: { 200: { description: 'Discovery document', content: scimJson(z.record(z.unknown())) } } });
  }
  registerAppApiPaths(registry);
  registerEventsApiPaths(registry);
  registerEntitlementsApiPaths(registry);
  registry.registerPath({ method: 'get', path: '/healthz', tags: ['Operations'], responses: { 200: { description: 'Process is up', content: { 'application/json': { schema: z.object({ status: z.literal('ok') }) } } } } });
  registry.registerPath({
    method: 'get',
    path: '/readyz',
    tags: ['Operations'],
    responses: {
      200: { description: 'Database and Temporal reachable', content: { 'application/json': { schema: z.object({ status: z.string(), checks: z.record(z.string()) }) } } },
      503: { description: 'A dependency is unreachable' },
    },
  });
  return new OpenApiGeneratorV3(registry.definitions).generateDocument({
    openapi: '3.0.3',
    info: { title: 'Roster', version: '0.1.0', description: 'Identity lifecycle engine: SCIM 2.0 service provider and app-facing API.' },
    servers: [{ url: publicUrl }],
  });
}
