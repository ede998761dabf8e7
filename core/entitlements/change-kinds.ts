import { z } from 'zod';
import { changeKind, type ChangeKindDeps } from '../approvals/kinds.js';
import type { ChangeDescription } from '../approvals/schema.js';
import { withTenant } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { currentDefaultRole, listRoleMappings } from '../repositories/entitlements.js';
import { findGroup } from '../repositories/groups.js';
import type { ServiceContext } from '../shared/service-context.js';
import { RoleName, type RoleChangeResult } from './schema.js';
import { type EntitlementsContext, setDefaultRole, setGroupRoles } from './service.js';

/**
 * Role-mapping and default-role changes as approval requests. The description is the dry run:
 * approvers see who gains and loses which role, and the dry run's fingerprint is part of `after`,
 * so an approval is bound to exactly those gains and losses. Applying runs the same change in
 * `apply` mode with that fingerprint: if the effect moved since (members joined or left), the
 * service refuses (409 `preview_stale`) and nothing changes.
 */

/** People listed in a request's effects; `affectedUsers` keeps the full count. */
const LISTED_CHANGES = 200;

const RoleMappingPayload = z.object({ groupId: z.string().uuid(), roles: z.array(RoleName).max(100) }).strict();
const DefaultRolePayload = z.object({ role: RoleName.nullable() }).strict();

const entitlementsContext = (ctx: ServiceContext, deps: ChangeKindDeps): EntitlementsContext => ({ tenantId: ctx.tenantId, catalogue: deps.catalogue, actor: ctx.actor });

function effects(preview: RoleChangeResult): Record<string, unknown> {
  return { affectedUsers: preview.affectedUsers, changes: preview.changes.slice(0, LISTED_CHANGES), fingerprint: preview.fingerprint };
}

function previewedFingerprint(described: ChangeDescription | undefined): string {
  const fingerprint = described?.effects?.fingerprint;
  if (typeof fingerprint !== 'string') throw new DomainError(409, 'preview_stale', 'the change has no dry run to apply; request it again');
  return fingerprint;
}

function result(applied: RoleChangeResult): Record<string, unknown> {
  return { applied: applied.applied, affectedUsers: applied.affectedUsers, fingerprint: applied.fingerprint, changes: applied.changes.slice(0, LISTED_CHANGES).map((c) => ({ userId: c.userId, gains: c.gains, losses: c.losses })) };
}

export const entitlementChangeKinds = [
  changeKind({
    kind: 'role_mapping.set',
    payload: RoleMappingPayload,
    async describe(tx, ctx, deps, p) {
      const preview = await setGroupRoles(tx, entitlementsContext(ctx, deps), p, { mode: 'preview' });
      const mapping = (await listRoleMappings(tx, ctx.tenantId)).find((m) => m.group_id === p.groupId);
      // A group mapped for the first time has no mapping row yet: name it from the group itself.
      const groupName = mapping?.display_name ?? (await findGroup(tx, p.groupId))?.display_name ?? p.groupId;
      const roles = [...new Set(p.roles)].sort();
      return {
        summary: `${roles.length ? `Map group ${groupName} to ${roles.join(', ')}` : `Remove the role mapping of group ${groupName}`} (${preview.affectedUsers} people affected)`,
        before: { groupId: p.groupId, roles: mapping?.roles ?? [] },
        after: { groupId: p.groupId, roles, effectFingerprint: preview.fingerprint },
        subjectUserIds: [],
        effects: effects(preview),
      };
    },
    async apply(tx, ctx, deps, p, described) {
      const applied = await setGroupRoles(tx, entitlementsContext(ctx, deps), p, { mode: 'apply', fingerprint: previewedFingerprint(described) });
      return { result: result(applied) };
    },
    async verify(db, ctx, _deps, p, applied) {
      const roles = await withTenant(db, ctx.tenantId, async (tx) => (await listRoleMappings(tx, ctx.tenantId)).find((m) => m.group_id === p.groupId)?.roles ?? []);
      const mappingHolds = JSON.stringify([...roles].sort()) === JSON.stringify([...new Set(p.roles)].sort());
      const asPreviewed = applied.applied === true;
      return {
        ok: mappingHolds && asPreviewed,
        checks: [
          { name: 'the mapping holds the requested roles', ok: mappingHolds },
          { name: 'applied with the previewed gains and losses', ok: asPreviewed, detail: String(applied.fingerprint) },
        ],
      };
    },
  }),
  changeKind({
    kind: 'default_role.set',
    payload: DefaultRolePayload,
    async describe(tx, ctx, deps, p) {
      const preview = await setDefaultRole(tx, entitlementsContext(ctx, deps), p, { mode: 'preview' });
      const before = await currentDefaultRole(tx, ctx.tenantId);
      return {
        summary: `${p.role ? `Set the default role to ${p.role}` : 'Clear the default role'} (${preview.affectedUsers} people affected)`,
        before: { role: before },
        after: { role: p.role, effectFingerprint: preview.fingerprint },
        subjectUserIds: [],
        effects: effects(preview),
      };
    },
    async apply(tx, ctx, deps, p, described) {
      const applied = await setDefaultRole(tx, entitlementsContext(ctx, deps), p, { mode: 'apply', fingerprint: previewedFingerprint(described) });
      return { result: result(applied) };
    },
    async verify(db, ctx, _deps, p, applied) {
      const role = await withTenant(db, ctx.tenantId, (tx) => currentDefaultRole(tx, ctx.tenantId));
      const holds = role === p.role;
      return { ok: holds && applied.applied === true, checks: [{ name: 'the default role is the requested one', ok: holds }, { name: 'applied with the previewed gains and losses', ok: applied.applied === true }] };
    },
  }),
];
