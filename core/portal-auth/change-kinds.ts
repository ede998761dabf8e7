import { z } from 'zod';
import { changeKind } from '../approvals/kinds.js';
import { withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { findPortalUser } from './queries.js';
import { Roles } from './schema.js';
import { assertMemberRolesChangeAllowed, updateMemberRoles } from './service.js';

/**
 * Portal role grants (delegated admin rights) as approval requests. The member whose roles change
 * is the request's subject: they can never approve their own grant.
 */

const PortalRolesPayload = z.object({ userId: z.string().uuid(), roles: Roles }).strict();

export const portalAuthChangeKinds = [
  changeKind({
    kind: 'portal_roles.set',
    payload: PortalRolesPayload,
    async describe(tx, ctx, _deps, p) {
      const member = await findPortalUser(tx, ctx.tenantId, p.userId);
      if (!member || member.status === 'disabled') throw new DomainError(404, 'not_found', 'No such member in this tenant.');
      // A request that could never apply (the last admin losing admin) is refused on every surface.
      await assertMemberRolesChangeAllowed(tx, ctx.tenantId, p.userId, p.roles);
      return {
        summary: `Set the portal roles of ${member.email} to ${p.roles.join(', ')}`,
        before: { userId: member.id, email: member.email, roles: [...member.roles].sort() },
        after: { userId: member.id, email: member.email, roles: [...p.roles].sort() },
        subjectUserIds: [member.id],
      };
    },
    async apply(tx, ctx, _deps, p) {
      const member = await updateMemberRoles(tx, ctx.tenantId, ctx.actor, p.userId, p.roles);
      return { result: { userId: member.id, roles: member.roles } };
    },
    async verify(db, ctx, _deps, p) {
      const member = await withTenant(db, ctx.tenantId, (tx) => findPortalUser(tx, ctx.tenantId, p.userId));
      const ok = JSON.stringify([...(member?.roles ?? [])].sort()) === JSON.stringify([...p.roles].sort());
      return { ok, checks: [{ name: 'the member holds exactly the requested roles', ok }] };
    },
  }),
];
