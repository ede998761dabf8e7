import { Router } from 'express';
import { IdParams, InviteBody, Member, MemberList, SetupLinkResponse, UpdateMemberBody } from '../../core/portal-auth/schema.js';
import { issueSetupLinkTx, listMembers, removeMember } from '../../core/portal-auth/service.js';
import { APPROVAL_NOTE, WAITS_FOR_APPROVAL, portalChangeSubmitter } from './change-requests.js';
import type { PortalDeps } from './deps.js';
import { portalRoute, portalRoutes } from './route.js';

/** Tenant members and their roles (admins only). */
export function createMembersRouter(deps: PortalDeps): Router {
  const router = Router();
  const tags = ['Portal: members'];
  const submit = portalChangeSubmitter(deps);
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
      description: `${APPROVAL_NOTE} The member is the request's subject and cannot approve it.`,
      otherResponses: WAITS_FOR_APPROVAL,
      tags,
      roles: ['admin'],
      params: IdParams,
      body: UpdateMemberBody,
      response: Member,
      stream: true,
      handler: async (ctx) => {
        return submit(ctx, { kind: 'portal_roles.set', payload: { userId: ctx.params.id, roles: ctx.body.roles } }, async (tx) => {
          const member = (await listMembers(tx, ctx.tenantId)).find((m) => m.id === ctx.params.id);
          if (!member) throw new Error(`member ${ctx.params.id} vanished after its roles changed`);
          return { body: member };
        });
      },
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
