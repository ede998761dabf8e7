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
import { withTenant } from '../../core/db/pool.js';
import { DomainError } from '../../core/errors.js';
import type { ChangeRequestView } from '../../core/approvals/schema.js';
import type { AppliedChange } from '../../core/approvals/kinds.js';
import { roleMappingOverview, searchGroups, setDefaultRole, setGroupRoles } from '../../core/entitlements/service.js';
import { APPROVAL_NOTE, WAITS_FOR_APPROVAL, portalChangeSubmitter } from './change-requests.js';
import { portalRoute, portalRoutes } from './route.js';
import type { PortalDeps } from './router.js';

const readers = ['admin', 'auditor', 'approver'] as const;

/**
 * People listed per answer: a default-role change touches everyone, and a page shows a few
 * hundred at most. `affectedUsers` is always the full count, and the fingerprint covers everyone.
 */
export const PREVIEW_ROWS = 500;
const listed = <T extends { changes: unknown[] }>(r: T): T => ({ ...r, changes: r.changes.slice(0, PREVIEW_ROWS) });

const STALE = 'who gains or loses which role has changed since the preview (group members or mappings changed); preview again, then save';

/** A save names the preview it was shown; a request carries only a dry run of that same effect. */
function ensureFresh(previewed: string, current: string): void {
  if (previewed !== current) throw new DomainError(409, 'preview_stale', STALE);
}

/**
 * The usual answer of an applied save: the dry run the request carried (names included) and the
 * engine's result. Applying used that dry run's fingerprint, so it made exactly that change.
 */
function appliedResult(applied: AppliedChange, request: ChangeRequestView): RoleChangeResult {
  const effects = RoleChangePreview.parse(request.description.effects);
  return listed({ ...effects, applied: applied.result.applied === true });
}

/**
 * Role mappings (IdP group → app roles) and the default role. Every change is previewed first
 * (who gains and loses which role); saving carries the preview's fingerprint and applies exactly
 * that effect, or answers 409 `preview_stale` when membership or mappings moved in between.
 */
export function createRoleMappingsRouter(deps: PortalDeps): Router {
  const router = Router();
  const catalogue = deps.config.APP_ROLES;
  const submit = portalChangeSubmitter(deps);
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
      description: `${APPROVAL_NOTE} The request carries the same dry run (gains and losses per person) and applies exactly it.`,
      otherResponses: WAITS_FOR_APPROVAL,
      body: RoleMappingSaveBody,
      response: RoleChangeResult,
      stream: true,
      handler: async (ctx) => {
        const { db, tenantId, actor, params, body } = ctx;
        const change = { groupId: String(params.groupId), roles: body.roles };

        const current = await withTenant(db, tenantId, (tx) => setGroupRoles(tx, { tenantId, catalogue, actor }, change, { mode: 'preview' }));
        ensureFresh(body.fingerprint, current.fingerprint);
        return submit(ctx, { kind: 'role_mapping.set', payload: change }, (_tx, applied, request) => ({ status: 200, body: appliedResult(applied, request) }));
      },
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
      description: `${APPROVAL_NOTE} The request carries the same dry run and applies exactly it.`,
      otherResponses: WAITS_FOR_APPROVAL,
      body: DefaultRoleSaveBody,
      response: RoleChangeResult,
      stream: true,
      handler: async (ctx) => {
        const { db, tenantId, actor, body } = ctx;
        const current = await withTenant(db, tenantId, (tx) => setDefaultRole(tx, { tenantId, catalogue, actor }, { role: body.role }, { mode: 'preview' }));
        ensureFresh(body.fingerprint, current.fingerprint);
        return submit(ctx, { kind: 'default_role.set', payload: { role: body.role } }, (_tx, applied, request) => ({ status: 200, body: appliedResult(applied, request) }));
      },
    }),
  ]);
  return router;
}
