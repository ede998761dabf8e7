import type { Client } from '@temporalio/client';
import express, { type Request, Router } from 'express';
import { z } from 'zod';
import type { AppRole } from '../core/config.js';
import type { Db } from '../core/db/pool.js';
import { listRoleMappings, setDefaultRole, setDirectGrant, setGroupRoles } from '../core/repositories/entitlements.js';
import { identityLifecycle, identityTimeline } from '../core/repositories/identity-views.js';
import { releaseHolds } from '../core/repositories/lifecycle.js';
import { requireAppKey } from './app-auth.js';
import { signalReleased } from './hold-release.js';
import { type AppHandler, appApiErrors, appRoute, parseBody } from './app-api-support.js';

export const RoleMappingBody = z.object({ roles: z.array(z.string()).max(100), dryRun: z.boolean().default(false) });
export const DefaultRoleBody = z.object({ role: z.string().nullable(), dryRun: z.boolean().default(false) });
export const ReleaseBody = z.object({ userId: z.string().uuid().optional() });
const Uuid = z.string().uuid();

export interface EntitlementsRouterDeps {
  db: Db;
  roles: readonly AppRole[];
  /** Signals released leavers at once; without it they notice within a minute. */
  temporal?: Client | undefined;
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

  router.get('/roles', route(async () => ({ data: deps.roles })));
  router.get('/role-mappings', route(async ({ tx, tenantId }) => ({ data: await listRoleMappings(tx, tenantId) })));
  router.put(
    '/role-mappings/:groupId',
    route(async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(RoleMappingBody, req);
      return setGroupRoles(tx, { tenantId, groupId: param(req, 'groupId'), roles: body.roles, catalogue: deps.roles, dryRunOnly: body.dryRun, actor });
    }),
  );
  router.put(
    '/default-role',
    route(async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(DefaultRoleBody, req);
      return setDefaultRole(tx, { tenantId, role: body.role, catalogue: deps.roles, dryRunOnly: body.dryRun, actor });
    }),
  );
  router.put(
    '/users/:userId/direct-roles/:role',
    route(async ({ req, tx, tenantId, actor }) =>
      setDirectGrant(tx, { tenantId, userId: param(req, 'userId'), role: String(req.params.role), granted: true, catalogue: deps.roles, actor }),
    ),
  );
  router.delete(
    '/users/:userId/direct-roles/:role',
    route(async ({ req, tx, tenantId, actor }) =>
      setDirectGrant(tx, { tenantId, userId: param(req, 'userId'), role: String(req.params.role), granted: false, catalogue: deps.roles, actor }),
    ),
  );
  router.get('/users/:userId/lifecycle', route(async ({ req, tx, tenantId }) => identityLifecycle(tx, tenantId, param(req, 'userId'))));
  router.get('/users/:userId/timeline', route(async ({ req, tx, tenantId }) => ({ data: await identityTimeline(tx, tenantId, param(req, 'userId')) })));
  router.post(
    '/guard/release',
    route(async ({ req, tx, tenantId, actor }) => {
      const body = parseBody(ReleaseBody, req);
      const released = await releaseHolds(tx, tenantId, { ...(body.userId ? { userId: body.userId } : {}), by: actor.id ?? 'app' });
      // The database row is the durable release; the signal only saves the held workflow its wait.
      await signalReleased(deps.temporal, tenantId, released, actor.id ?? 'app');
      return { released };
    }),
  );
  router.use(appApiErrors);
  return router;
}
