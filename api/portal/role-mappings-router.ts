import { Router } from 'express';
import {
  DefaultRoleChange,
  DefaultRoleSaveBody,
  GroupChoicePage,
  GroupSearchQuery,
  RoleChangePreview,
  RoleChangeResult,
  RoleMappingOverview,
  RoleMappingPreviewBody,
  RoleMappingSaveBody,
} from '../../core/entitlements/schema.js';
import { roleMappingOverview, searchGroups, setDefaultRole, setGroupRoles } from '../../core/entitlements/service.js';
import { portalRoute, portalRoutes } from './route.js';
import type { PortalDeps } from './router.js';

const readers = ['admin', 'auditor', 'approver'] as const;

/**
 * People listed per answer: a default-role change touches everyone, and a page shows a few
 * hundred at most. `affectedUsers` is always the full count, and the fingerprint covers everyone.
 */
export const PREVIEW_ROWS = 500;
const listed = <T extends { changes: unknown[] }>(r: T): T => ({ ...r, changes: r.changes.slice(0, PREVIEW_ROWS) });

/**
 * Role mappings (IdP group → app roles) and the default role. Every change is previewed first
 * (who gains and loses which role); saving carries the preview's fingerprint and applies exactly
 * that effect, or answers 409 `preview_stale` when membership or mappings moved in between.
 */
export function createRoleMappingsRouter(deps: PortalDeps): Router {
  const router = Router();
  const catalogue = deps.config.APP_ROLES;
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/role-mappings',
      roles: [...readers],
      summary: 'Mapped groups with their roles and member counts, the default role and the roles catalogue',
      response: RoleMappingOverview,
      handler: async ({ tx, tenantId }) => ({ status: 200, body: await roleMappingOverview(tx, tenantId, catalogue) }),
    }),
    portalRoute({
      method: 'get',
      path: '/role-mappings/groups',
      roles: [...readers],
      summary: 'Groups by name prefix (to choose one to map), with their current roles',
      query: GroupSearchQuery,
      response: GroupChoicePage,
      handler: async ({ tx, tenantId, query }) => ({ status: 200, body: await searchGroups(tx, tenantId, query) }),
    }),
    portalRoute({
      method: 'post',
      path: '/role-mappings/preview',
      roles: ['admin'],
      summary: 'Dry run of a mapping change: who gains and loses which role (nothing is saved)',
      body: RoleMappingPreviewBody,
      response: RoleChangePreview,
      handler: async ({ tx, tenantId, actor, body }) => {
        const { applied: _applied, ...preview } = await setGroupRoles(tx, { tenantId, catalogue, actor }, { groupId: body.groupId, roles: body.roles }, { mode: 'preview' });
        return { status: 200, body: listed(preview) };
      },
    }),
    portalRoute({
      method: 'put',
      path: '/role-mappings/:groupId',
      roles: ['admin'],
      summary: "Saves a mapping change previewed with this fingerprint (409 preview_stale if its effect changed)",
      body: RoleMappingSaveBody,
      response: RoleChangeResult,
      handler: async ({ tx, tenantId, actor, params, body }) => ({
        status: 200,
        body: listed(await setGroupRoles(tx, { tenantId, catalogue, actor }, { groupId: String(params.groupId), roles: body.roles }, { mode: 'apply', fingerprint: body.fingerprint })),
      }),
    }),
    portalRoute({
      method: 'post',
      path: '/default-role/preview',
      roles: ['admin'],
      summary: 'Dry run of a default-role change (null clears it)',
      body: DefaultRoleChange,
      response: RoleChangePreview,
      handler: async ({ tx, tenantId, actor, body }) => {
        const { applied: _applied, ...preview } = await setDefaultRole(tx, { tenantId, catalogue, actor }, { role: body.role }, { mode: 'preview' });
        return { status: 200, body: listed(preview) };
      },
    }),
    portalRoute({
      method: 'put',
      path: '/default-role',
      roles: ['admin'],
      summary: 'Saves a default-role change previewed with this fingerprint',
      body: DefaultRoleSaveBody,
      response: RoleChangeResult,
      handler: async ({ tx, tenantId, actor, body }) => ({
        status: 200,
        body: listed(await setDefaultRole(tx, { tenantId, catalogue, actor }, { role: body.role }, { mode: 'apply', fingerprint: body.fingerprint })),
      }),
    }),
  ]);
  return router;
}
