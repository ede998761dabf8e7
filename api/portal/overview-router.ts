import { Router } from 'express';
import { Overview } from '../../core/directory/schema.js';
import { overview } from '../../core/directory/service.js';
import { portalRoute, portalRoutes } from './route.js';
import type { PortalDeps } from './deps.js';

/** GET /overview: connection health, identities by state, open alerts, recent lifecycle activity. */
export function createOverviewRouter(deps: PortalDeps): Router {
  const router = Router();
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/overview',
      roles: ['admin', 'auditor', 'reviewer'],
      summary: 'Connection health, identities by lifecycle state, open alerts and recent lifecycle activity',
      response: Overview,
      handler: async ({ tx, tenantId }) => ({ status: 200, body: await overview(tx, tenantId) }),
    }),
  ]);
  return router;
}
