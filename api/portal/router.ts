import express, { Router } from 'express';
import { createAccountRouter } from './account-routes.js';
import { createAuditRouter } from './audit-router.js';
import { createDirectoryRouter } from './directory-router.js';
import { createNhiRouter } from './nhi-router.js';
import { createOverviewRouter } from './overview-router.js';
import { createPortalPublicRouter, createPortalSessionRouter } from './auth-routes.js';
import type { PortalDeps } from './deps.js';
import { methodNotAllowed } from '../method-not-allowed.js';
import { apiErrorHandler, sendApiError } from './errors.js';
import { createMembersRouter } from './members-routes.js';
import { createConnectionsRouter } from './connections-router.js';
import { createSettingsRouter } from './settings-router.js';
import { type DeclaredRoute, declaredRoutes } from './route.js';
import { createRoleMappingsRouter } from './role-mappings-router.js';
import { createDomainsRouter } from './domains-router.js';
import { createSsoConnectionsRouter } from './sso-router.js';
import { portalSessionMiddleware } from './session.js';
import { createWebhookDeliveriesRouter } from './webhook-deliveries-router.js';
import { createApprovalsRouter } from './approvals-router.js';
import { createCampaignsRouter } from './campaigns-router.js';

export type { PortalDeps } from './deps.js';

/**
 * The portal's feature routers, each built with `portalRoutes(...)`. Adding a feature: one import
 * and one entry here.
 */
export const featureRouters: ReadonlyArray<(deps: PortalDeps) => Router> = [
  createPortalSessionRouter,
  createAccountRouter,
  createMembersRouter,
  createConnectionsRouter,
  createSettingsRouter,
  createOverviewRouter,
  createDirectoryRouter,
  createNhiRouter,
  createAuditRouter,
  createRoleMappingsRouter,
  createWebhookDeliveriesRouter,
  createApprovalsRouter,
  createDomainsRouter,
  createSsoConnectionsRouter,
  createCampaignsRouter,
];

export interface PortalApi extends Router {
  /** Every route declared on this API (auth routes and features), for openapi and the authz test. */
  routes: readonly DeclaredRoute[];
}

/** The tenant portal's JSON API, mounted at /portal/api. */
export function createPortalApi(deps: PortalDeps): PortalApi {
  const api = Router();
  const publicRouter = createPortalPublicRouter(deps);
  const features = featureRouters.map((create) => create(deps));
  const wrongMethod = methodNotAllowed(() => [publicRouter, ...features], (res, allow) => sendApiError(res, 405, 'method_not_allowed', `Allowed: ${allow.join(', ')}`));
  // Each sub-router would answer OPTIONS on its own with just its own routes' methods (express's
  // automatic reply); the surface answers it once, from all of them.
  api.use((req, res, next) => (req.method === 'OPTIONS' ? wrongMethod(req, res, next) : next()));
  api.use(express.json({ limit: '1mb' }));
  api.use(publicRouter);
  api.use(portalSessionMiddleware(deps));
  for (const router of features) api.use(router);
  api.use(wrongMethod);
  api.use((_req, res) => sendApiError(res, 404, 'not_found', 'No such portal API endpoint.'));
  api.use(apiErrorHandler);
  const routes = [publicRouter, ...features].flatMap((r) => declaredRoutes(r));
  return Object.assign(api, { routes });
}
