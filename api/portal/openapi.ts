import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { DeclaredRoute } from './route.js';

const ApiError = z.object({
  error: z.string().describe('machine-readable code (unauthenticated, forbidden, csrf, invalid_request, not_found, …)'),
  message: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export interface SurfaceDescription {
  /** `/portal/api` or `/console/api`. */
  base: string;
  /** The session cookie's name (an apiKey security scheme `in: cookie`). */
  cookie: string;
  tag: string;
  routes: readonly DeclaredRoute[];
}

/** `/members/:id` → `/members/{id}`, and the names of its path parameters. */
function openApiPath(path: string): { path: string; names: string[] } {
  const names: string[] = [];
  const converted = path.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => {
    names.push(name);
    return `{${name}}`;
  });
  return { path: converted, names };
}

function accessText(route: DeclaredRoute): string {
  if (route.access === 'public') return 'No session needed. A cross-site `Origin` is refused (403 csrf).';
  if (route.access === 'operator') return 'Any signed-in operator (console session). Writes need `X-CSRF-Token`.';
  return `Roles: ${route.access.join(', ')}. Writes need \`X-CSRF-Token\`.`;
}

/**
 * Describes the portal's or the console's declared routes (the same registry the authorisation
 * test walks) in the OpenAPI document, with their zod schemas and the error answers every route
 * of the surface can give.
 */
export function registerSurfaceRoutes(registry: OpenAPIRegistry, surface: SurfaceDescription): void {
  const schemeName = `${surface.cookie}Cookie`;
  registry.registerComponent('securitySchemes', schemeName, { type: 'apiKey', in: 'cookie', name: surface.cookie });
  const errorBody = { 'application/json': { schema: ApiError } };
  const error = (description: string) => ({ description, content: errorBody });
  for (const route of surface.routes) {
    const { path, names } = openApiPath(route.path);
    const params = route.params ?? (names.length ? z.object(Object.fromEntries(names.map((n) => [n, z.string()]))) : undefined);
    const success = route.successStatus ?? (route.response ? 200 : 204);
    const responses: RouteConfig['responses'] = {
      [success]: route.response ? { description: 'Success', content: { 'application/json': { schema: route.response } } } : { description: 'Done' },
      400: error('Invalid request (invalid_request) or refused input'),
      403: error(route.access === 'public' ? 'Cross-site request (csrf)' : 'Role not allowed (forbidden) or CSRF token missing (csrf)'),
      404: error('Not found'),
      409: error('Conflicts with the current state'),
      503: error('Busy: retry after Retry-After seconds'),
    };
    for (const other of route.otherResponses ?? []) {
      responses[other.status] = other.schema ? { description: other.description, content: { 'application/json': { schema: other.schema } } } : { description: other.description };
    }
    if (route.access !== 'public') responses[401] = error('No session (unauthenticated)');
    else {
      responses[401] = error('Wrong credentials or code');
      responses[410] = error('The link was used or has expired');
      responses[429] = error('Locked or too many attempts: retry after Retry-After seconds');
    }
    const request: RouteConfig['request'] = {};
    if (params instanceof z.ZodObject) request.params = params;
    if (route.query instanceof z.ZodObject) request.query = route.query;
    if (route.body) request.body = { required: !route.body.isOptional(), content: { 'application/json': { schema: route.body } } };
    if (route.access !== 'public' && route.method !== 'get') {
      request.headers = z.object({ 'x-csrf-token': z.string().describe('csrfToken from GET session') });
    }
    registry.registerPath({
      method: route.method,
      path: `${surface.base}${path}`,
      summary: route.summary,
      description: [route.description, accessText(route)].filter(Boolean).join('\n\n'),
      tags: route.tags ?? [surface.tag],
      ...(route.access === 'public' ? {} : { security: [{ [schemeName]: [] }] }),
      request,
      responses,
    });
  }
}
