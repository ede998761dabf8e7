import { extendZodWithOpenApi, OpenAPIRegistry, OpenApiGeneratorV3 } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { LIMITS, MemberRefSchema, ScimGroupSchema, ScimUserSchema } from '../core/scim/resource.js';
import { URN } from '../core/scim/schema.js';
import type { AppRole } from '../core/config.js';
import { SCIM_TYPES } from '../core/errors.js';
import { registerEntitlementsApiPaths } from './entitlements-router.js';
import { registerEventsApiPaths } from './events-router.js';
import { registerChangeRequestsApiPaths } from './change-requests-router.js';
import { registerCampaignsApiPaths } from './campaigns-app-router.js';
import { registerAppApiPaths } from './app-api-schemas.js';
import { registerSsoApiPaths } from './sso-router.js';
import { ScimListQuery, ScimProjectionQuery, ScimSearchRequest } from './scim-schemas.js';
import { registerSurfaceRoutes, type SurfaceDescription } from './portal/openapi.js';

extendZodWithOpenApi(z);

const ScimErrorBody = z.object({
  schemas: z.array(z.literal('urn:ietf:params:scim:api:messages:2.0:Error')),
  status: z.string().describe('HTTP status as a string (RFC 7644 §3.12)'),
  scimType: z.enum(SCIM_TYPES).optional(),
  detail: z.string(),
});

/** RFC 7643 §3.1: assigned by the server; ignored when a client echoes it back. */
const Meta = z.object({
  resourceType: z.string(),
  created: z.string(),
  lastModified: z.string(),
  location: z.string(),
  version: z.string(),
});

/** Read-only attributes a client may echo in a body (Okta's PUT does); the server ignores them. */
const echoed = {
  id: z.unknown().optional().describe('read-only: ignored'),
  schemas: z.unknown().optional().describe('ours to emit: ignored (Google mixes SCIM 1.0 URNs in)'),
  meta: z.unknown().optional().describe('read-only: ignored'),
};

/**
 * A request body as the normaliser reads it: any attribute that is not required may be null, which
 * unassigns it (RFC 7643 §2.5), down to sub-attributes and the items of multi-valued attributes.
 * Derived from the validating schema, so it cannot list attributes the server does not know.
 */
function unassignable(schema: z.ZodTypeAny): z.ZodTypeAny {
  if (schema instanceof z.ZodOptional) return orNull(unassignable(schema.unwrap() as z.ZodTypeAny)).optional();
  if (schema instanceof z.ZodDefault) return orNull(unassignable(schema.removeDefault() as z.ZodTypeAny)).optional();
  if (schema instanceof z.ZodNullable) return orNull(unassignable(schema.unwrap() as z.ZodTypeAny));
  if (schema instanceof z.ZodEffects) {
    // Refinements are checked by the server, not stated by the document (userName's length is).
    const inner = schema.innerType() as z.ZodTypeAny;
    return inner instanceof z.ZodString ? schema : unassignable(inner);
  }
  if (schema instanceof z.ZodArray) {
    const max = (schema._def as { maxLength?: { value: number } | null }).maxLength?.value;
    const items = z.array(orNull(unassignable(schema.element as z.ZodTypeAny)));
    return max === undefined ? items : items.max(max);
  }
  if (schema instanceof z.ZodObject) {
    const fields = schema.shape as Record<string, z.ZodTypeAny>;
    const shape = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, unassignable(v)]));
    const object = schema._def.unknownKeys === 'passthrough' ? z.object(shape).passthrough() : z.object(shape);
    // A complex value with a `value` sub-attribute may come as that value alone: Entra's bare
    // manager id, `roles: ["admin"]`, a member id (resource.ts coerceComplex, toMemberRefs).
    return fields.value ? z.union([object, fields.value]) : object;
  }
  return schema;
}

/** OpenAPI 3.0's `nullable` does not widen an `enum`: null is listed among its values too. */
function orNull(schema: z.ZodTypeAny): z.ZodTypeAny {
  return schema instanceof z.ZodEnum ? schema.nullable().openapi({ enum: [...(schema.options as string[]), null] }) : schema.nullable();
}

/** PATCH body (RFC 7644 §3.5.2). Paths are resolved against the schemas (/Schemas) when applied. */
const PatchOp = z.object({
  schemas: z.array(z.literal(URN.patchOp)).min(1).optional().describe('when present, must name the PatchOp URN'),
  Operations: z
    .array(
      z.object({
        op: z
          .string()
          .regex(/^([Aa][Dd][Dd]|[Rr][Ee][Pp][Ll][Aa][Cc][Ee]|[Rr][Ee][Mm][Oo][Vv][Ee])$/)
          .describe('add | replace | remove, case-insensitive (Entra sends "Replace")'),
        path: z.string().optional().describe('RFC 7644 §3.5.2 attribute path; required for remove'),
        value: z.unknown().optional(),
      }),
    )
    .min(1),
});

/** The OpenAPI description, generated from the same zod schemas that validate requests. */
export function buildOpenApiDocument(publicUrl: string, options: { roles?: readonly AppRole[]; surfaces?: readonly SurfaceDescription[] } = {}) {
  const registry = new OpenAPIRegistry();
  const bearer = registry.registerComponent('securitySchemes', 'scimBearer', { type: 'http', scheme: 'bearer' });
  const error = registry.register('ScimError', ScimErrorBody);
  const meta = registry.register('ScimMeta', Meta);
  // userName counts code points (a refinement in the schema); JSON Schema's maxLength does too.
  const userName = ScimUserSchema.shape.userName.openapi({ maxLength: LIMITS.maxUserNameLength });
  const requests = {
    User: registry.register('ScimUserRequest', (unassignable(ScimUserSchema) as typeof ScimUserSchema).extend({ userName, ...echoed })),
    Group: registry.register('ScimGroupRequest', (unassignable(ScimGroupSchema.extend({ members: z.array(MemberRefSchema).optional() })) as typeof ScimGroupSchema).extend(echoed)),
  };
  // `attributes` / `excludedAttributes` (RFC 7644 §3.9) may leave out anything but id and schemas.
  const responses = {
    User: registry.register('ScimUser', ScimUserSchema.extend({ userName }).partial().extend({ id: z.string().uuid(), schemas: z.array(z.string()), meta: meta.optional() })),
    Group: registry.register(
      'ScimGroup',
      ScimGroupSchema.partial().extend({
        id: z.string().uuid(),
        schemas: z.array(z.string()),
        members: z.array(z.object({ value: z.string(), display: z.string().optional(), $ref: z.string().optional(), type: z.string().optional() })).optional(),
        meta: meta.optional(),
      }),
    ),
  };
  const patch = registry.register('ScimPatchOp', PatchOp);
  const scimJson = (schema: z.ZodTypeAny) => ({ 'application/scim+json': { schema }, 'application/json': { schema } });
  const scimOut = (schema: z.ZodTypeAny) => ({ 'application/scim+json': { schema } });
  const fail = (description: string) => ({ description, content: scimOut(error) });
  const errors = { 400: fail('Invalid request (scimType says why)'), 401: fail('Missing or invalid bearer token') };
  const notFound = { 404: fail('No such resource in this tenant') };
  const conflict = { 409: fail('uniqueness: userName / displayName taken') };
  const precondition = { 412: fail('If-Match does not match the current version') };
  const security = [{ [bearer.name]: [] }];
  const idParam = z.object({ id: z.string() });
  const list = (schema: z.ZodTypeAny) =>
    z.object({
      schemas: z.array(z.string()),
      totalResults: z.number().int(),
      itemsPerPage: z.number().int(),
      startIndex: z.number().int().optional().describe('index paging only'),
      nextCursor: z.string().optional().describe('RFC 9865: cursor paging, omitted on the last page'),
      previousCursor: z.string().optional().describe('RFC 9865: cursor paging, omitted on the first page'),
      Resources: z.array(schema),
    });
  for (const name of ['User', 'Group'] as const) {
    const base = `/scim/v2/${name}s`;
    const request = requests[name];
    const schema = responses[name];
    const tags = ['SCIM'];
    registry.registerPath({ method: 'get', path: base, tags, security, request: { query: ScimListQuery }, responses: { 200: { description: `${name}s`, content: scimOut(list(schema)) }, ...errors } });
    registry.registerPath({ method: 'post', path: base, tags, security, request: { body: { required: true, content: scimJson(request) } }, responses: { 201: { description: 'Created', content: scimOut(schema) }, ...errors, ...conflict } });
    registry.registerPath({ method: 'post', path: `${base}/.search`, tags, security, request: { body: { required: true, content: scimJson(ScimSearchRequest) } }, responses: { 200: { description: 'Search results', content: scimOut(list(schema)) }, ...errors } });
    registry.registerPath({ method: 'get', path: `${base}/{id}`, tags, security, request: { params: idParam, query: ScimProjectionQuery }, responses: { 200: { description: name, content: scimOut(schema) }, ...errors, ...notFound } });
    registry.registerPath({ method: 'put', path: `${base}/{id}`, tags, security, request: { params: idParam, body: { required: true, content: scimJson(request) } }, responses: { 200: { description: 'Replaced', content: scimOut(schema) }, ...errors, ...notFound, ...conflict, ...precondition } });
    registry.registerPath({
      method: 'patch',
      path: `${base}/{id}`,
      tags,
      security,
      request: { params: idParam, query: ScimProjectionQuery, body: { required: true, content: scimJson(patch) } },
      responses: { 200: { description: 'Patched', content: scimOut(schema) }, 204: { description: 'Patched (no body)' }, ...errors, ...notFound, ...conflict, ...precondition },
    });
    registry.registerPath({ method: 'delete', path: `${base}/{id}`, tags, security, request: { params: idParam }, responses: { 204: { description: 'Deleted' }, 401: errors[401], ...notFound, ...precondition } });
  }
  registry.registerPath({
    method: 'post',
    path: '/scim/v2/.search',
    tags: ['SCIM'],
    security,
    summary: 'Users, then Groups (RFC 7644 §3.4.3)',
    request: { body: { required: true, content: scimJson(ScimSearchRequest) } },
    responses: { 200: { description: 'Search results', content: scimOut(list(z.union([responses.User, responses.Group]))) }, ...errors },
  });
  // Discovery (RFC 7644 §4) is authenticated like every SCIM endpoint.
  const discovery = scimOut(z.record(z.unknown()));
  const discoveryTags = ['SCIM discovery'];
  for (const path of ['/scim/v2/ServiceProviderConfig', '/scim/v2/ResourceTypes', '/scim/v2/Schemas']) {
    registry.registerPath({ method: 'get', path, tags: discoveryTags, security, responses: { 200: { description: 'Discovery document', content: discovery }, 401: errors[401] } });
  }
  registry.registerPath({ method: 'get', path: '/scim/v2/ResourceTypes/{name}', tags: discoveryTags, security, request: { params: z.object({ name: z.string() }) }, responses: { 200: { description: 'A resource type', content: discovery }, 401: errors[401], ...notFound } });
  registry.registerPath({ method: 'get', path: '/scim/v2/Schemas/{urn}', tags: discoveryTags, security, request: { params: z.object({ urn: z.string() }) }, responses: { 200: { description: 'A schema', content: discovery }, 401: errors[401], ...notFound } });
  registerAppApiPaths(registry);
  registerEventsApiPaths(registry);
  registerEntitlementsApiPaths(registry, options.roles ?? []);
  registerSsoApiPaths(registry);
  registerChangeRequestsApiPaths(registry);
  registerCampaignsApiPaths(registry);
  for (const surface of options.surfaces ?? []) registerSurfaceRoutes(registry, surface);
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
