import type { Client } from '@temporalio/client';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { extendZodWithOpenApi, type OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { AppRole } from '../core/config.js';
import { type Db, type Tx, withTenant } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import { RoleMappingRow } from '../core/repositories/entitlements.js';
import { RoleChangeResult } from '../core/entitlements/schema.js';
import { type EntitlementsContext, listRoleMappings, setDefaultRole, setDirectGrant, setGroupRoles } from '../core/entitlements/service.js';
import { IdentityLifecycle, identityLifecycle, identityTimeline, TenantAlert, tenantAlerts, TimelineEntry } from '../core/repositories/identity-views.js';
import { requireAppKey } from './app-auth.js';
import { appContext, type ChangeRequestsRouterDeps, submitForApp, waitingForApproval } from './change-requests-router.js';
import { type AppHandler, appApiErrors, appRoute, parseBody } from './app-api-support.js';

/**
 * Request schemas that name roles, built from the app's roles catalogue (APP_ROLES): the router
 * validates with them and the OpenAPI document lists exactly the roles the server accepts.
 */
export function roleSchemas(roles: readonly AppRole[]) {
  const names = roles.map((r) => r.name);
  const Role = names.length ? z.enum(names as [string, ...string[]]) : z.string();
  return {
    Role,
    RoleMappingBody: z.object({ roles: z.array(Role).max(100), dryRun: z.boolean().default(false), fingerprint: Fingerprint }),
    // null clears the default role. OpenAPI 3.0's `nullable` does not widen an `enum`, so null is
    // listed among its values for the document.
    DefaultRoleBody: z.object({ role: Role.nullable().openapi({ enum: [...names, null] }), dryRun: z.boolean().default(false), fingerprint: Fingerprint }),
  };
}
extendZodWithOpenApi(z);

/** A dry run's fingerprint: saving with it applies the change only if its effect is unchanged. */
const Fingerprint = z.string().min(1).max(128).optional().describe("a dry run's fingerprint: apply only if the effect is still the one previewed (else 409 preview_stale)");

export const ReleaseBody = z.object({ userId: z.string().uuid().optional() });
export const AlertsQuery = z.object({ open: z.enum(['true', 'false']).optional().describe('true: only open alerts') });
const Uuid = z.string().uuid();

export interface EntitlementsRouterDeps {
  db: Db;
  roles: readonly AppRole[];
  /** Signals released leavers at once; without it they notice within a minute. */
  temporal?: Client | undefined;
  /** Mapping, default-role and guard changes are change requests (issue 8). */
  changes: ChangeRequestsRouterDeps;
}

/**
 * Entitlements and lifecycle for the vendor's app (app API key): the roles catalogue, group → role
 * mappings with dry runs, the default role, direct grants, an identity's lifecycle and timeline,
 * and release of leavers held by the mass-deprovisioning guard.
 */
export function createEntitlementsRouter(deps: EntitlementsRouterDeps): Router {
  const router = Router();
  router.use(requireAppKey(deps.db));
  router.use(express.json({ limit: '64kb', strict: true }));
  /** Every route answers 200 with the handler's value, in one transaction scoped to the key's tenant. */
  const route = (handler: (ctx: Parameters<AppHandler>[0]) => Promise<unknown>) =>
    appRoute(deps.db, async (ctx) => ({ status: 200, body: await handler(ctx) }));
  const param = (req: Request, name: string) => Uuid.parse(req.params[name]);
  const { Role, RoleMappingBody, DefaultRoleBody } = roleSchemas(deps.roles);

  router.get('/roles', route(async () => ({ data: deps.roles })));
  router.get('/role-mappings', route(async ({ tx, tenantId }) => ({ data: await listRoleMappings(tx, tenantId) })));
  // A dry run changes nothing and answers at once; a change is a change request: 202 with the
  // request while it waits for approval, the old answer when the policy lets it apply at once. A
  // fingerprint that no longer matches the effect is refused before anything is requested.
  const requestEntitlementChange = (kind: 'role_mapping.set' | 'default_role.set', payload: Record<string, unknown>, fingerprint: string | undefined, preview: (tx: Tx, ctx: EntitlementsContext) => Promise<RoleChangeResult>) =>
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const ctx = appContext(req, res);
        if (fingerprint !== undefined) {
          const now = await withTenant(deps.db, ctx.tenantId, (tx) => preview(tx, { tenantId: ctx.tenantId, catalogue: deps.roles, actor: ctx.actor }));
          if (now.fingerprint !== fingerprint) throw new DomainError(409, 'preview_stale', 'who gains or loses which role has changed since the preview (group members or mappings changed); preview again, then save');
        }
        await submitForApp(deps.changes, ctx, kind, payload, res, async ({ applied }) => ({
          status: 200,
          body: { affectedUsers: applied.result.affectedUsers, changes: applied.result.changes, fingerprint: applied.result.fingerprint, applied: true },
        }));
      } catch (err) {
        next(err);
      }
    };
  router.put('/role-mappings/:groupId', (req, res, next) => {
    let body: z.infer<typeof RoleMappingBody>;
    let groupId: string;
    try {
      body = parseBody(RoleMappingBody, req);
      groupId = param(req, 'groupId');
    } catch (err) {
      next(err);
      return;
    }
    if (body.dryRun) {
      void route(async ({ tx, tenantId, actor }) => forApp(await setGroupRoles(tx, { tenantId, catalogue: deps.roles, actor }, { groupId, roles: body.roles }, { mode: 'preview' })))(req, res, next);
      return;
    }
    void requestEntitlementChange('role_mapping.set', { groupId, roles: body.roles }, body.fingerprint, (tx, ctx) => setGroupRoles(tx, ctx, { groupId, roles: body.roles }, { mode: 'preview' }))(req, res, next);
  });
  router.put('/default-role', (req, res, next) => {
    let body: z.infer<typeof DefaultRoleBody>;
    try {
      body = parseBody(DefaultRoleBody, req);
    } catch (err) {
      next(err);
      return;
    }
    if (body.dryRun) {
      void route(async ({ tx, tenantId, actor }) => forApp(await setDefaultRole(tx, { tenantId, catalogue: deps.roles, actor }, { role: body.role }, { mode: 'preview' })))(req, res, next);
      return;
    }
    void requestEntitlementChange('default_role.set', { role: body.role }, body.fingerprint, (tx, ctx) => setDefaultRole(tx, ctx, { role: body.role }, { mode: 'preview' }))(req, res, next);
  });
  router.put(
    '/users/:userId/direct-roles/:role',
    route(async ({ req, tx, tenantId, actor }) =>
      forApp(await setDirectGrant(tx, { tenantId, catalogue: deps.roles, actor }, { userId: param(req, 'userId'), role: Role.parse(req.params.role), granted: true })),
    ),
  );
  router.delete(
    '/users/:userId/direct-roles/:role',
    route(async ({ req, tx, tenantId, actor }) =>
      forApp(await setDirectGrant(tx, { tenantId, catalogue: deps.roles, actor }, { userId: param(req, 'userId'), role: Role.parse(req.params.role), granted: false })),
    ),
  );
  router.get('/users/:userId/lifecycle', route(async ({ req, tx, tenantId }) => identityLifecycle(tx, tenantId, param(req, 'userId'))));
  router.get('/users/:userId/timeline', route(async ({ req, tx, tenantId }) => ({ data: await identityTimeline(tx, tenantId, param(req, 'userId')) })));
  router.get('/alerts', route(async ({ req, tx, tenantId }) => ({ data: await tenantAlerts(tx, tenantId, { open: AlertsQuery.parse(req.query).open === 'true' }) })));
  router.post('/guard/release', async (req, res, next) => {
    try {
      const body = parseBody(ReleaseBody, req);
      const ctx = appContext(req, res);
      // Applied at once, the change's verification has signalled the released workflows.
      await submitForApp(deps.changes, ctx, 'guard.release', body.userId ? { userId: body.userId } : {}, res, async ({ applied }) => ({
        status: 200,
        body: { released: (applied.result.released as string[] | undefined) ?? [] },
      }));
    } catch (err) {
      next(err);
    }
  });
  router.use(appApiErrors);
  return router;
}

/**
 * The app API's answer to a role change: per person only the id (the vendor's app knows its users),
 * as it always was; the fingerprint lets a dry run be applied only if its effect still holds.
 */
const DryRunResult = RoleChangeResult.extend({ changes: z.array(z.object({ userId: z.string().uuid(), gains: z.array(z.string()), losses: z.array(z.string()) })) });
const forApp = (r: RoleChangeResult): z.infer<typeof DryRunResult> => ({ ...r, changes: r.changes.map(({ userId, gains, losses }) => ({ userId, gains, losses })) });

/** Adds the entitlements and lifecycle routes to the OpenAPI document (same zod schemas). */
export function registerEntitlementsApiPaths(registry: OpenAPIRegistry, roles: readonly AppRole[]): void {
  const { Role, RoleMappingBody, DefaultRoleBody } = roleSchemas(roles);
  const security = [{ appApiKey: [] }];
  const tags = ['Entitlements and lifecycle'];
  const json = (schema: z.ZodTypeAny) => ({ 'application/json': { schema } });
  const ok = (description: string, schema: z.ZodTypeAny) => ({ 200: { description, content: json(schema) } });
  const err = { 400: { description: 'invalid_request / unknown_role' }, 401: { description: 'invalid_token' }, 404: { description: 'not_found' }, 409: { description: 'preview_stale' } };
  const userId = z.object({ userId: z.string().uuid() });
  const dry = registry.register('RoleChangeResult', DryRunResult);
  registry.registerPath({ method: 'get', path: '/api/v1/roles', tags, security, summary: "The vendor's app roles catalogue", responses: { ...ok('Roles', z.object({ data: z.array(AppRole) })), 401: err[401] } });
  registry.registerPath({ method: 'get', path: '/api/v1/role-mappings', tags, security, summary: 'Group → role mappings', responses: { ...ok('Mappings', z.object({ data: z.array(RoleMappingRow) })), 401: err[401] } });
  registry.registerPath({ method: 'put', path: '/api/v1/role-mappings/{groupId}', tags, security, summary: 'Set the roles a group grants (dryRun: report gains/losses per user, change nothing)', request: { params: z.object({ groupId: z.string().uuid() }), body: { required: true, content: json(RoleMappingBody) } }, responses: { ...ok('Applied or dry run', dry), ...waitingForApproval, ...err } });
  registry.registerPath({ method: 'put', path: '/api/v1/default-role', tags, security, summary: "Set the tenant's default role", request: { body: { required: true, content: json(DefaultRoleBody) } }, responses: { ...ok('Applied or dry run', dry), ...waitingForApproval, ...err } });
  registry.registerPath({ method: 'put', path: '/api/v1/users/{userId}/direct-roles/{role}', tags, security, summary: 'Grant a role directly (an exception outside the IdP)', request: { params: userId.extend({ role: Role }) }, responses: { ...ok('Applied', dry), ...err } });
  registry.registerPath({ method: 'delete', path: '/api/v1/users/{userId}/direct-roles/{role}', tags, security, summary: 'Remove a direct grant', request: { params: userId.extend({ role: Role }) }, responses: { ...ok('Applied', dry), ...err } });
  registry.registerPath({ method: 'get', path: '/api/v1/users/{userId}/lifecycle', tags, security, summary: "An identity's state, transition times and granted roles", request: { params: userId }, responses: { ...ok('Lifecycle', IdentityLifecycle), ...err } });
  registry.registerPath({ method: 'get', path: '/api/v1/users/{userId}/timeline', tags, security, summary: "An identity's lifecycle timeline (from the audit log)", request: { params: userId }, responses: { ...ok('Timeline', z.object({ data: z.array(TimelineEntry) })), ...err } });
  registry.registerPath({ method: 'get', path: '/api/v1/alerts', tags, security, summary: "The tenant's alerts (e.g. a tripped mass-deprovisioning guard)", request: { query: AlertsQuery }, responses: { ...ok('Alerts', z.object({ data: z.array(TenantAlert) })), 400: err[400], 401: err[401] } });
  registry.registerPath({ method: 'post', path: '/api/v1/guard/release', tags, security, summary: 'Let held leavers proceed (all, or one user)', request: { body: { content: json(ReleaseBody) } }, responses: { ...ok('Released', z.object({ released: z.array(z.string().uuid()) })), ...waitingForApproval, ...err } });
}
