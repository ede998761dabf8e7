import { sql } from 'slonik';
import { z } from 'zod';
import type { AppRole } from '../config.js';
import { lockGroups, lockUsers } from '../db/locks.js';
import type { Tx } from '../db/pool.js';
import { diffRoles, effectiveRoles, type RoleDiff } from '../entitlements.js';
import { DomainError } from '../errors.js';
import { appendAudit, type Actor, type AuditEventInput } from './audit.js';
import { appendOutbox } from './outbox.js';
import { bumpUserStreams, isUuid } from './users.js';

const Roles = z.object({ role: z.string() });

export async function currentRoles(tx: Tx, tenantId: string, userId: string): Promise<string[]> {
  return [...(await tx.anyFirst(sql.type(Roles)`
    SELECT role FROM user_roles WHERE tenant_id = ${tenantId} AND user_id = ${userId} ORDER BY role`))];
}

const RoleSourcesRow = z.object({ default_role: z.string().nullable(), mapped: z.array(z.string()), direct: z.array(z.string()), current: z.array(z.string()) });

/** The sources of a user's effective roles and the roles granted now, read in one round trip. */
async function roleSources(tx: Tx, tenantId: string, userId: string) {
  const row = await tx.one(sql.type(RoleSourcesRow)`
    SELECT t.default_role,
           coalesce((SELECT array_agg(DISTINCT rm.role) FROM group_members gm
                       JOIN role_mappings rm ON rm.tenant_id = gm.tenant_id AND rm.group_id = gm.group_id
                      WHERE gm.tenant_id = ${tenantId} AND gm.user_id = ${userId}), '{}') AS mapped,
           coalesce((SELECT array_agg(role) FROM direct_role_grants
                      WHERE tenant_id = ${tenantId} AND user_id = ${userId}), '{}') AS direct,
           coalesce((SELECT array_agg(role ORDER BY role) FROM user_roles
                      WHERE tenant_id = ${tenantId} AND user_id = ${userId}), '{}') AS current
      FROM tenants t WHERE t.id = ${tenantId}`);
  return { defaultRole: row.default_role, mappedRoles: row.mapped, directRoles: row.direct, currentRoles: row.current };
}

export async function computeEffectiveRoles(tx: Tx, tenantId: string, userId: string, catalogue: readonly AppRole[]) {
  return effectiveRoles(await roleSources(tx, tenantId, userId), catalogue);
}

/**
 * Brings user_roles to the effective set and records what changed. Idempotent: a second run finds
 * nothing to do and writes nothing.
 */
export async function syncUserRoles(
  tx: Tx,
  input: { tenantId: string; userId: string; catalogue: readonly AppRole[]; actor: Actor },
): Promise<RoleDiff & { roles: string[] }> {
  await lockUsers(tx, [input.userId]);
  const { audit, ...diff } = await applyEffectiveRoles(tx, input);
  await appendAudit(tx, input.tenantId, audit);
  return diff;
}

/**
 * `syncUserRoles` for a caller that already holds the user's row lock and appends the returned
 * audit rows itself, together with its own (one statement per transaction instead of several).
 */
export async function applyEffectiveRoles(
  tx: Tx,
  input: { tenantId: string; userId: string; catalogue: readonly AppRole[]; actor: Actor },
): Promise<RoleDiff & { roles: string[]; audit: AuditEventInput[] }> {
  const sources = await roleSources(tx, input.tenantId, input.userId);
  const target = effectiveRoles(sources, input.catalogue);
  const diff = diffRoles(sources.currentRoles, target);
  if (diff.grant.length) {
    await tx.query(sql.unsafe`
      INSERT INTO user_roles (tenant_id, user_id, role)
      SELECT ${input.tenantId}, ${input.userId}, r FROM unnest(${sql.array(diff.grant, 'text')}::text[]) AS r
      ON CONFLICT DO NOTHING`);
  }
  if (diff.revoke.length) {
    await tx.query(sql.unsafe`
      DELETE FROM user_roles WHERE tenant_id = ${input.tenantId} AND user_id = ${input.userId}
         AND role = ANY(${sql.array(diff.revoke, 'text')})`);
  }
  const audit: AuditEventInput[] = [
    ...diff.grant.map((role) => ({ actor: input.actor, action: 'role.granted', targetType: 'user', targetId: input.userId, data: { role } })),
    ...diff.revoke.map((role) => ({ actor: input.actor, action: 'role.revoked', targetType: 'user', targetId: input.userId, data: { role } })),
  ];
  return { ...diff, roles: target, audit };
}

export async function revokeAllRoles(tx: Tx, tenantId: string, userId: string): Promise<string[]> {
  return [...(await tx.anyFirst(sql.type(Roles)`
    DELETE FROM user_roles WHERE tenant_id = ${tenantId} AND user_id = ${userId} RETURNING role`))];
}

// ---------------------------------------------------------------------------------------------
// Mappings, default role, direct grants — each change fans out as an ordered event on every
// affected identity's stream, in the same transaction, so no identity misses or reorders it.

export const RoleMappingRow = z.object({ group_id: z.string().uuid(), display_name: z.string(), roles: z.array(z.string()) });

export async function listRoleMappings(tx: Tx, tenantId: string) {
  return tx.any(sql.type(RoleMappingRow)`
    SELECT g.id AS group_id, g.display_name, array_agg(rm.role ORDER BY rm.role) AS roles
      FROM role_mappings rm JOIN groups g ON g.tenant_id = rm.tenant_id AND g.id = rm.group_id
     WHERE rm.tenant_id = ${tenantId} GROUP BY g.id, g.display_name ORDER BY g.display_name`);
}

function assertRoles(roles: readonly string[], catalogue: readonly AppRole[]) {
  const known = new Set(catalogue.map((r) => r.name));
  const unknown = roles.filter((r) => !known.has(r));
  if (unknown.length) throw new DomainError(400, 'unknown_role', `not in the app roles catalogue: ${unknown.join(', ')}`);
}

/** The group, locked first (core/db/locks.ts) so its member list holds until the fan-out is written. */
async function requireGroup(tx: Tx, tenantId: string, groupId: string) {
  const found = isUuid(groupId) && (await lockGroups(tx, [groupId])).size > 0;
  if (!found) throw new DomainError(404, 'not_found', 'no such group in this tenant');
}

async function groupMemberIds(tx: Tx, tenantId: string, groupId: string): Promise<string[]> {
  return [...(await tx.anyFirst(sql.type(z.object({ user_id: z.string() }))`
    SELECT gm.user_id::text FROM group_members gm JOIN users u ON u.tenant_id = gm.tenant_id AND u.id = gm.user_id
     WHERE gm.tenant_id = ${tenantId} AND gm.group_id = ${groupId} AND u.scim_deleted_at IS NULL`))];
}

async function liveUserIds(tx: Tx, tenantId: string): Promise<string[]> {
  return [...(await tx.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id::text FROM users WHERE tenant_id = ${tenantId} AND scim_deleted_at IS NULL`))];
}

async function fanOut(tx: Tx, tenantId: string, userIds: readonly string[], reason: Record<string, unknown>) {
  const seqs = await bumpUserStreams(tx, userIds);
  await appendOutbox(
    tx,
    tenantId,
    [...seqs].map(([userId, seq]) => ({ streamType: 'user' as const, streamId: userId, seq, type: 'entitlements.changed' as const, payload: reason })),
  );
  return seqs.size;
}

export interface DryRunResult {
  affectedUsers: number;
  changes: { userId: string; gains: string[]; losses: string[] }[];
}

/** What each affected user would gain and lose; computed in the transaction, then rolled back. */
async function dryRun(tx: Tx, tenantId: string, userIds: readonly string[], catalogue: readonly AppRole[], apply: (tx: Tx) => Promise<void>): Promise<DryRunResult> {
  const before = new Map<string, string[]>();
  for (const id of userIds) before.set(id, await computeEffectiveRoles(tx, tenantId, id, catalogue));
  await apply(tx);
  const changes: DryRunResult['changes'] = [];
  for (const id of userIds) {
    const d = diffRoles(before.get(id)!, await computeEffectiveRoles(tx, tenantId, id, catalogue));
    if (d.grant.length || d.revoke.length) changes.push({ userId: id, gains: d.grant, losses: d.revoke });
  }
  return { affectedUsers: changes.length, changes };
}

class RollbackDryRun extends Error {
  constructor(readonly result: DryRunResult) {
    super('dry run');
  }
}

/**
 * Runs `change` in a savepoint, reports its effect, and rolls it back when `dryRunOnly`; otherwise
 * keeps it and fans the change out to every affected identity.
 */
async function changeEntitlements(
  tx: Tx,
  input: { tenantId: string; userIds: readonly string[]; catalogue: readonly AppRole[]; dryRunOnly: boolean; reason: Record<string, unknown>; actor: Actor; action: string },
  change: (tx: Tx) => Promise<void>,
): Promise<DryRunResult & { applied: boolean }> {
  let result: DryRunResult;
  try {
    result = await tx.transaction(async (sp) => {
      const r = await dryRun(sp, input.tenantId, input.userIds, input.catalogue, change);
      if (input.dryRunOnly) throw new RollbackDryRun(r);
      return r;
    });
  } catch (err) {
    if (err instanceof RollbackDryRun) return { ...err.result, applied: false };
    throw err;
  }
  await appendAudit(tx, input.tenantId, [{ actor: input.actor, action: input.action, data: { ...input.reason, affectedUsers: result.affectedUsers } }]);
  await fanOut(tx, input.tenantId, result.changes.map((c) => c.userId), input.reason);
  return { ...result, applied: true };
}

export async function setGroupRoles(
  tx: Tx,
  input: { tenantId: string; groupId: string; roles: string[]; catalogue: readonly AppRole[]; dryRunOnly: boolean; actor: Actor },
) {
  assertRoles(input.roles, input.catalogue);
  await requireGroup(tx, input.tenantId, input.groupId);
  const userIds = await groupMemberIds(tx, input.tenantId, input.groupId);
  return changeEntitlements(
    tx,
    { ...input, userIds, reason: { cause: 'role_mapping', groupId: input.groupId, roles: input.roles }, action: 'role_mapping.changed' },
    async (tx) => {
      await tx.query(sql.unsafe`DELETE FROM role_mappings WHERE tenant_id = ${input.tenantId} AND group_id = ${input.groupId}`);
      if (input.roles.length) {
        await tx.query(sql.unsafe`
          INSERT INTO role_mappings (tenant_id, group_id, role)
          SELECT ${input.tenantId}, ${input.groupId}, r FROM unnest(${sql.array(input.roles, 'text')}::text[]) AS r`);
      }
    },
  );
}

export async function setDefaultRole(
  tx: Tx,
  input: { tenantId: string; role: string | null; catalogue: readonly AppRole[]; dryRunOnly: boolean; actor: Actor },
) {
  if (input.role) assertRoles([input.role], input.catalogue);
  const userIds = await liveUserIds(tx, input.tenantId);
  return changeEntitlements(
    tx,
    { ...input, userIds, reason: { cause: 'default_role', role: input.role }, action: 'default_role.changed' },
    async (tx) => {
      await tx.query(sql.unsafe`UPDATE tenants SET default_role = ${input.role} WHERE id = ${input.tenantId}`);
    },
  );
}

export async function setDirectGrant(
  tx: Tx,
  input: { tenantId: string; userId: string; role: string; granted: boolean; catalogue: readonly AppRole[]; actor: Actor },
) {
  assertRoles([input.role], input.catalogue);
  const live = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id::text FROM users WHERE tenant_id = ${input.tenantId} AND id = ${input.userId} AND scim_deleted_at IS NULL`);
  if (!live) throw new DomainError(404, 'not_found', 'no such user in this tenant');
  return changeEntitlements(
    tx,
    { ...input, userIds: [input.userId], dryRunOnly: false, reason: { cause: 'direct_grant', role: input.role, granted: input.granted }, action: input.granted ? 'direct_grant.added' : 'direct_grant.removed' },
    async (tx) => {
      if (input.granted) {
        await tx.query(sql.unsafe`
          INSERT INTO direct_role_grants (tenant_id, user_id, role, granted_by)
          VALUES (${input.tenantId}, ${input.userId}, ${input.role}, ${`${input.actor.type}:${input.actor.id ?? ''}`})
          ON CONFLICT DO NOTHING`);
      } else {
        await tx.query(sql.unsafe`
          DELETE FROM direct_role_grants WHERE tenant_id = ${input.tenantId} AND user_id = ${input.userId} AND role = ${input.role}`);
      }
    },
  );
}
