import { Router } from 'express';
import { IdParams, InviteBody, Member, MemberList, SetupLinkResponse, UpdateMemberBody } from '../../core/portal-auth/schema.js';
import { issueSetupLinkTx, listMembers, removeMember, updateMemberRoles } from '../../core/portal-auth/service.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';

/** Tenant members and their roles (admins only). */
export function createMembersRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: members'];
  portalRoutes(router, deps, [
    portalRoute({
      method: 'get',
      path: '/members',
      summary: 'The tenant’s portal members and their roles',
      tags,
      roles: ['admin'],
      response: MemberList,
      handler: async ({ tx, tenantId }) => ({ body: { members: await listMembers(tx, tenantId) } }),
    }),
    portalRoute({
      method: 'post',
      path: '/members/invite',
      summary: 'Invite a person: returns their one-time setup link (shown once)',
      tags,
      roles: ['admin'],
      body: InviteBody,
      response: SetupLinkResponse,
      successStatus: 201,
      handler: async ({ tx, tenantId, actor, body }) => {
        const { url, expiresAt } = await issueSetupLinkTx(tx, {
          tenantId,
          email: body.email,
          roles: body.roles,
          createdBy: actor,
          publicUrl: deps.publicUrl,
          ttlSeconds: deps.config.SETUP_LINK_TTL_SECONDS,
          purpose: 'invite',
        });
        return { status: 201, body: { url, expiresAt } };
      },
    }),
    portalRoute({
      method: 'patch',
      path: '/members/:id',
      summary: 'Change a member’s roles (the last admin keeps admin)',
      tags,
      roles: ['admin'],
      params: IdParams,
      body: UpdateMemberBody,
      response: Member,
      handler: async ({ tx, tenantId, actor, params, body }) => ({ body: await updateMemberRoles(tx, tenantId, actor, params.id, body.roles) }),
    }),
    portalRoute({
      method: 'delete',
      path: '/members/:id',
      summary: 'Remove a member: disables the account and ends their sessions',
      tags,
      roles: ['admin'],
      params: IdParams,
      handler: async ({ tx, tenantId, actor, params }) => {
        await removeMember(tx, tenantId, actor, params.id);
        return { status: 204 };
      },
    }),
  ]);
  return router;
}
