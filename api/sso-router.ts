import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { Router } from 'express';
import { z } from 'zod';
import { SsoConnectionList } from '../core/sso/schema.js';
import type { Db } from '../core/db/pool.js';
import { listSsoConnections } from '../core/sso/service.js';
import { requireAppKey } from './app-auth.js';
import { appApiErrors, appRoute } from './app-api-support.js';

/**
 * The tenant's SSO connections for the vendor's app (app API key), which acts as the service
 * provider with them: OIDC issuer, endpoints and client id; SAML entity id, SSO URL and binding,
 * signing certificates (PEM) and their expiry; the verified domains each connection serves.
 * Nothing secret is stored, so nothing secret is returned.
 */
export function createSsoRouter(deps: { db: Db }): Router {
  const router = Router();
  router.get(
    '/sso-connections',
    requireAppKey(deps.db),
    appRoute(deps.db, async ({ tx, tenantId }) => ({ status: 200, body: { connections: await listSsoConnections(tx, tenantId) } })),
  );
  router.use(appApiErrors);
  return router;
}

/** Adds this router's path to the OpenAPI document (called by api/openapi.ts). */
export function registerSsoApiPaths(registry: OpenAPIRegistry): void {
  const bearer = registry.registerComponent('securitySchemes', 'appApiKey', { type: 'http', scheme: 'bearer', description: 'tenant-scoped app API key (`roster app-key create`)' });
  const json = (schema: z.ZodTypeAny) => ({ 'application/json': { schema } });
  registry.registerPath({
    method: 'get',
    path: '/api/v1/sso-connections',
    tags: ['SSO'],
    summary: "The tenant's SSO connections (OIDC and SAML), validated, for the app to sign people in with",
    security: [{ [bearer.name]: [] }],
    responses: {
      200: { description: 'Active connections (no secrets)', content: json(registry.register('SsoConnectionList', SsoConnectionList)) },
      401: { description: 'Missing or invalid app API key', content: json(z.object({ error: z.string(), error_description: z.string() })) },
    },
  });
}
