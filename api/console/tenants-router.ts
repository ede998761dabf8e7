import { Router } from 'express';
import { createTenant, listTenants, requireTenant, tenantDetail } from '../../core/fleet/service.js';
import { CreateTenantBody, IssueSetupLinkBody, SetupLink, StuckQuery, Tenant, TenantDetail, TenantIdParams, TenantList } from '../../core/fleet/schema.js';
import { issueSetupLink } from '../../core/portal-auth/service.js';
import { type ConsoleDeps, consoleRoute, consoleRoutes } from './route.js';

/**
 * Tenants, as operators see them: metadata and counts only (core/fleet). Any signed-in operator;
 * the tenant's people and settings are out of reach (the console's database access is a handful
 * of SECURITY DEFINER functions that return neither).
 */
export function createConsoleTenantsRouter(deps: ConsoleDeps): Router {
  const router = Router();
  consoleRoutes(router, deps, [
    consoleRoute({
      method: 'get',
      path: '/tenants',
      summary: 'Every tenant with its connections count, last SCIM request, error rate, outbox backlog, stuck and held identities',
      query: StuckQuery,
      response: TenantList,
      handler: async ({ db, query }) => ({ status: 200, body: await listTenants(db, query.stuckAfterMinutes) }),
    }),
    consoleRoute({
      method: 'post',
      path: '/tenants',
      summary: 'Create a tenant (audited in its own log, actor: the operator)',
      body: CreateTenantBody,
      response: Tenant,
      handler: async ({ db, operator, body }) => ({ status: 201, body: await createTenant(db, { type: 'operator', id: operator.operatorId }, body) }),
    }),
    consoleRoute({
      method: 'get',
      path: '/tenants/:id',
      summary: "One tenant's health and its SCIM connections (no people data)",
      params: TenantIdParams,
      query: StuckQuery,
      response: TenantDetail,
      handler: async ({ db, params, query }) => ({ status: 200, body: await tenantDetail(db, params.id, query.stuckAfterMinutes) }),
    }),
    consoleRoute({
      method: 'post',
      path: '/tenants/:id/setup-links',
      summary: "Issue a one-time setup link for a person of the tenant (default role admin); the link is shown once",
      params: TenantIdParams,
      body: IssueSetupLinkBody,
      response: SetupLink,
      handler: async ({ db, actor, params, body }) => {
        await requireTenant(db, params.id);
        const link = await issueSetupLink(db, {
          tenantId: params.id,
          email: body.email,
          roles: body.roles,
          createdBy: actor,
          publicUrl: deps.publicUrl,
          purpose: 'setup',
        });
        return { status: 201, body: link };
      },
    }),
  ]);
  return router;
}
