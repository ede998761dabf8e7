import { type FragmentSqlToken, sql } from 'slonik';
import { z } from 'zod';
import type { AppRole } from '../config.js';
import { holdsLock, lockGroups, lockUsers } from '../db/locks.js';
import type { Tx } from '../db/pool.js';
import { diffRoles, effectiveRoles, type RoleDiff } from '../entitlements.js';
import { appendAudit, type Actor, type AuditEventInput } from './audit.js';
import { escapeLike } from '../scim/fold.js';
import { isUuid } from './users.js';

const Roles = z.object({ role: z.string() });

export async function currentRoles(tx: Tx, tenantId: string, userId: string): Promise<string[]> {
  return [...(await tx.anyFirst(sql.type(Roles)`
    SELECT role FROM user_roles WHERE tenant_id = ${tenantId} AND user_id = ${userId} ORDER BY role`))];
}

const RoleSourcesRow = z.object({
  default_role: z.string().nullable(),
  mapped: z.array(z.string()),
  direct: z.array(z.string()),
  excluded: z.array(z.string()),
  current: z.array(z.string()),
});

/** The sources of a user's effective roles (and the roles a review excluded) and the roles granted now, in one round trip. */
async function roleSources(tx: Tx, tenantId: string, userId: string) {
  const row = await tx.one(sql.type(RoleSourcesRow)`
    SELECT t.default_role,
           coalesce((SELECT array_agg(DISTINCT rm.role) FROM group_members gm
                       JOIN role_mappings rm ON rm.tenant_id = gm.tenant_id AND rm.group_id = gm.group_id
                      WHERE gm.tenant_id = ${tenantId} AND gm.user_id = ${userId}), '{}') AS mapped,
           coalesce((SELECT array_agg(role) FROM direct_role_grants
                      WHERE tenant_id = ${tenantId} AND user_id = ${userId}), '{}') AS direct,
           coalesce((SELECT array_agg(role) FROM role_exclusions
                      WHERE tenant_id = ${tenantId} AND user_id = ${userId}), '{}') AS excluded,
           coalesce((SELECT array_agg(role ORDER BY role) FROM user_roles
                      WHERE tenant_id = ${tenantId} AND user_id = ${userId}), '{}') AS current
      FROM tenants t WHERE t.id = ${tenantId}`);
  return { defaultRole: row.default_role, mappedRoles: row.mapped, directRoles: row.direct, excludedRoles: row.excluded, currentRoles: row.current };
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
  const plan = await planEffectiveRoles(tx, input);
  if (plan.grant.length) await tx.query(sql.unsafe`${grantRolesInsert(input.tenantId, input.userId, plan.grant)}`);
  if (plan.revoke.length) {
    await tx.query(sql.unsafe`
      DELETE FROM user_roles WHERE tenant_id = ${input.tenantId} AND user_id = ${input.userId}
         AND role = ANY(${sql.array(plan.revoke, 'text')})`);
  }
  return plan;
}

/**
 * What applyEffectiveRoles would write, without writing it: the diff, the target set and the audit
 * rows. The caller writes the diff (`grantRolesInsert` for the grants) in the same transaction.
 */
export async function planEffectiveRoles(
  tx: Tx,
  input: { tenantId: string; userId: string; catalogue: readonly AppRole[]; actor: Actor },
): Promise<RoleDiff & { roles: string[]; audit: AuditEventInput[] }> {
  const sources = await roleSources(tx, input.tenantId, input.userId);
  const target = effectiveRoles(sources, input.catalogue);
  const diff = diffRoles(sources.currentRoles, target);
  const audit: AuditEventInput[] = [
    ...diff.grant.map((role) => ({ actor: input.actor, action: 'role.granted', targetType: 'user', targetId: input.userId, data: { role } })),
    ...diff.revoke.map((role) => ({ actor: input.actor, action: 'role.revoked', targetType: 'user', targetId: input.userId, data: { role } })),
  ];
  return { ...diff, roles: target, audit };
}

/** The statement that grants `roles` (not empty), as a fragment a caller may fold into a larger statement. */
export function grantRolesInsert(tenantId: string, userId: string, roles: readonly string[]): FragmentSqlToken {
  return sql.fragment`
    INSERT INTO user_roles (tenant_id, user_id, role)
    SELECT ${tenantId}, ${userId}, r FROM unnest(${sql.array([...roles], 'text')}::text[]) AS r
    ON CONFLICT DO NOTHING`;
}

export async function revokeAllRoles(tx: Tx, tenantId: string, userId: string): Promise<string[]> {
  return [...(await tx.anyFirst(sql.type(Roles)`
    DELETE FROM user_roles WHERE tenant_id = ${tenantId} AND user_id = ${userId} RETURNING role`))];
}

// ---------------------------------------------------------------------------------------------
// Mappings, default role and direct grants: plain queries. The rules (catalogue check, dry run,
// preview fingerprint, audit, fan-out to every affected identity) are core/entitlements/service.ts.

export const RoleMappingRow = z.object({ group_id: z.string().uuid(), display_name: z.string(), roles: z.array(z.string()) });

export async function listRoleMappings(tx: Tx, tenantId: string) {
  return tx.any(sql.type(RoleMappingRow)`
    SELECT g.id AS group_id, g.display_name, array_agg(rm.role ORDER BY rm.role) AS roles
      FROM role_mappings rm JOIN groups g ON g.tenant_id = rm.tenant_id AND g.id = rm.group_id
     WHERE rm.tenant_id = ${tenantId} GROUP BY g.id, g.display_name ORDER BY g.display_name`);
}

const MappingWithCount = RoleMappingRow.extend({ member_count: z.number() });

/** Every mapped group with its roles and how many live members it has. */
export async function listRoleMappingsWithCounts(tx: Tx, tenantId: string) {
  return tx.any(sql.type(MappingWithCount)`
    SELECT g.id AS group_id, g.display_name, m.roles,
           (SELECT count(*) FROM group_members gm JOIN users u ON u.tenant_id = gm.tenant_id AND u.id = gm.user_id
             WHERE gm.tenant_id = ${tenantId} AND gm.group_id = g.id AND u.scim_deleted_at IS NULL)::int8 AS member_count
      FROM (SELECT group_id, array_agg(role ORDER BY role) AS roles FROM role_mappings
             WHERE tenant_id = ${tenantId} GROUP BY group_id) m
      JOIN groups g ON g.tenant_id = ${tenantId} AND g.id = m.group_id
     ORDER BY g.display_name, g.id`);
}

export const GroupChoiceRow = z.object({ id: z.string().uuid(), display_name: z.string(), display_name_key: z.string(), member_count: z.number(), roles: z.array(z.string()) });

/** Groups by name (prefix of the folded name), keyset after (name key, id): to pick one to map. */
export async function searchGroupsForMapping(tx: Tx, tenantId: string, q: { prefix?: string | undefined; after?: { key: string; id: string } | undefined; limit: number }) {
  const where = [sql.fragment`g.tenant_id = ${tenantId}`];
  if (q.prefix) where.push(sql.fragment`g.display_name_key LIKE ${`${escapeLike(q.prefix)}%`}`);
  if (q.after) where.push(sql.fragment`(g.display_name_key, g.id) > (${q.after.key}, ${q.after.id}::uuid)`);
  return tx.any(sql.type(GroupChoiceRow)`
    SELECT g.id, g.display_name, g.display_name_key,
           (SELECT count(*) FROM group_members gm WHERE gm.tenant_id = ${tenantId} AND gm.group_id = g.id)::int8 AS member_count,
           coalesce((SELECT array_agg(rm.role ORDER BY rm.role) FROM role_mappings rm
                      WHERE rm.tenant_id = ${tenantId} AND rm.group_id = g.id), '{}') AS roles
      FROM groups g WHERE ${sql.join(where, sql.fragment` AND `)}
     ORDER BY g.display_name_key, g.id LIMIT ${q.limit + 1}`);
}

/** The group, locked first (core/db/locks.ts) so its member list holds until the fan-out is written. */
export async function lockGroupIfExists(tx: Tx, groupId: string): Promise<boolean> {
  if (!isUuid(groupId)) return false;
  // Already locked by this transaction (a dry run described the change it now applies): the lock
  // holds, so only whether the row exists is left to read.
  if (holdsLock(tx, 'groups', groupId)) return (await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM groups WHERE id = ${groupId}`)) !== null;
  return (await lockGroups(tx, [groupId])).size > 0;
}

export async function groupMemberIds(tx: Tx, tenantId: string, groupId: string): Promise<string[]> {
  return [...(await tx.anyFirst(sql.type(z.object({ user_id: z.string() }))`
    SELECT gm.user_id::text FROM group_members gm JOIN users u ON u.tenant_id = gm.tenant_id AND u.id = gm.user_id
     WHERE gm.tenant_id = ${tenantId} AND gm.group_id = ${groupId} AND u.scim_deleted_at IS NULL`))];
}

export async function liveUserIds(tx: Tx, tenantId: string): Promise<string[]> {
  return [...(await tx.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id::text FROM users WHERE tenant_id = ${tenantId} AND scim_deleted_at IS NULL`))];
}

export async function isLiveUser(tx: Tx, tenantId: string, userId: string): Promise<boolean> {
  if (!isUuid(userId)) return false;
  return (await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id::text FROM users WHERE tenant_id = ${tenantId} AND id = ${userId} AND scim_deleted_at IS NULL`)) !== null;
}

const SourcesMany = z.object({ user_id: z.string(), mapped: z.array(z.string()), direct: z.array(z.string()), excluded: z.array(z.string()) });

/**
 * The sources of many users' effective roles in one round trip (a dry run over a big group or
 * the whole tenant must not cost a query per person).
 */
export async function roleSourcesMany(tx: Tx, tenantId: string, userIds: readonly string[]) {
  const defaultRole = await tx.maybeOneFirst(sql.type(z.object({ default_role: z.string().nullable() }))`
    SELECT default_role FROM tenants WHERE id = ${tenantId}`);
  const rows = userIds.length
    ? await tx.any(sql.type(SourcesMany)`
        SELECT u.id::text AS user_id,
               coalesce((SELECT array_agg(DISTINCT rm.role) FROM group_members gm
                           JOIN role_mappings rm ON rm.tenant_id = gm.tenant_id AND rm.group_id = gm.group_id
                          WHERE gm.tenant_id = ${tenantId} AND gm.user_id = u.id), '{}') AS mapped,
               coalesce((SELECT array_agg(d.role) FROM direct_role_grants d
                          WHERE d.tenant_id = ${tenantId} AND d.user_id = u.id), '{}') AS direct,
               coalesce((SELECT array_agg(x.role) FROM role_exclusions x
                          WHERE x.tenant_id = ${tenantId} AND x.user_id = u.id), '{}') AS excluded
          FROM unnest(${sql.array(userIds, 'uuid')}::uuid[]) AS u(id)`)
    : [];
  return new Map(rows.map((r) => [r.user_id, { defaultRole: defaultRole ?? null, mappedRoles: r.mapped, directRoles: r.direct, excludedRoles: r.excluded }]));
}

const RoleStateRow = z.object({
  user_id: z.string(),
  live: z.boolean(),
  default_role: z.string().nullable(),
  mapped: z.array(z.string()),
  direct: z.array(z.string()),
  excluded: z.array(z.string()),
  current: z.array(z.string()),
});

/**
 * `roleSources` for many users in one round trip, with whether each is live (not SCIM-deleted):
 * a campaign's bulk revoke decides every item of the bulk from one read. Users that do not exist
 * in the tenant are left out. Call it under the users' locks, or the answer can be stale.
 */
export async function roleStatesMany(tx: Tx, tenantId: string, userIds: readonly string[]) {
  const ids = [...new Set(userIds)].filter(isUuid);
  const rows = ids.length
    ? await tx.any(sql.type(RoleStateRow)`
        SELECT u.id::text AS user_id, u.scim_deleted_at IS NULL AS live, t.default_role,
               coalesce((SELECT array_agg(DISTINCT rm.role) FROM group_members gm
                           JOIN role_mappings rm ON rm.tenant_id = gm.tenant_id AND rm.group_id = gm.group_id
                          WHERE gm.tenant_id = ${tenantId} AND gm.user_id = u.id), '{}') AS mapped,
               coalesce((SELECT array_agg(d.role) FROM direct_role_grants d
                          WHERE d.tenant_id = ${tenantId} AND d.user_id = u.id), '{}') AS direct,
               coalesce((SELECT array_agg(x.role) FROM role_exclusions x
                          WHERE x.tenant_id = ${tenantId} AND x.user_id = u.id), '{}') AS excluded,
               coalesce((SELECT array_agg(ur.role ORDER BY ur.role) FROM user_roles ur
                          WHERE ur.tenant_id = ${tenantId} AND ur.user_id = u.id), '{}') AS current
          FROM users u JOIN tenants t ON t.id = u.tenant_id
         WHERE u.tenant_id = ${tenantId} AND u.id = ANY(${sql.array(ids, 'uuid')})`)
    : [];
  return new Map(
    rows.map((r) => [
      r.user_id,
      { live: r.live, currentRoles: r.current, sources: { defaultRole: r.default_role, mappedRoles: r.mapped, directRoles: r.direct, excludedRoles: r.excluded } },
    ]),
  );
}

/** A review's exclusion of a role from a person (at most one per user and role in a call). */
export interface RoleExclusion {
  userId: string;
  role: string;
  campaignId: string;
  itemId: string;
  reason: string;
  createdBy: string;
}

/**
 * Writes review exclusions and removes the direct grants of the same roles (one statement each).
 * The latest review's exclusion replaces an earlier one: the app role has no UPDATE on the table,
 * so the old rows are deleted first. The caller holds the users' locks.
 */
export async function excludeRoles(tx: Tx, tenantId: string, exclusions: readonly RoleExclusion[]): Promise<void> {
  if (exclusions.length === 0) return;
  const pairs = sql.unnest(exclusions.map((e) => [e.userId, e.role]), ['uuid', 'text']);
  await tx.query(sql.unsafe`
    WITH p AS (SELECT * FROM ${pairs} AS p(user_id, role)),
    x AS (DELETE FROM role_exclusions x USING p WHERE x.tenant_id = ${tenantId} AND x.user_id = p.user_id AND x.role = p.role)
    DELETE FROM direct_role_grants d USING p WHERE d.tenant_id = ${tenantId} AND d.user_id = p.user_id AND d.role = p.role`);
  await tx.query(sql.unsafe`
    INSERT INTO role_exclusions (tenant_id, user_id, role, campaign_id, item_id, reason, created_by)
    SELECT ${tenantId}, user_id, role, campaign_id, item_id, reason, created_by
      FROM ${sql.unnest(
        exclusions.map((e) => [e.userId, e.role, e.campaignId, e.itemId, e.reason, e.createdBy]),
        ['uuid', 'text', 'uuid', 'int8', 'text', 'text'],
      )} AS e(user_id, role, campaign_id, item_id, reason, created_by)`);
}

const UserSummary = z.object({ id: z.string(), user_name: z.string().nullable(), display_name: z.string().nullable() });

/** userName and displayName of these users (for previews a person can read). */
export async function userSummaries(tx: Tx, tenantId: string, userIds: readonly string[]) {
  if (userIds.length === 0) return new Map<string, { userName: string | null; displayName: string | null }>();
  const rows = await tx.any(sql.type(UserSummary)`
    SELECT id::text, user_name, display_name FROM users
     WHERE tenant_id = ${tenantId} AND id = ANY(${sql.array(userIds, 'uuid')})`);
  return new Map(rows.map((r) => [r.id, { userName: r.user_name, displayName: r.display_name }]));
}

export async function replaceGroupRoles(tx: Tx, tenantId: string, groupId: string, roles: readonly string[]): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM role_mappings WHERE tenant_id = ${tenantId} AND group_id = ${groupId}`);
  if (roles.length) {
    await tx.query(sql.unsafe`
      INSERT INTO role_mappings (tenant_id, group_id, role)
      SELECT ${tenantId}, ${groupId}, r FROM unnest(${sql.array([...roles], 'text')}::text[]) AS r`);
  }
}

export async function currentDefaultRole(tx: Tx, tenantId: string): Promise<string | null> {
  return (await tx.maybeOneFirst(sql.type(z.object({ default_role: z.string().nullable() }))`
    SELECT default_role FROM tenants WHERE id = ${tenantId}`)) ?? null;
}

export async function updateDefaultRole(tx: Tx, tenantId: string, role: string | null): Promise<void> {
  await tx.query(sql.unsafe`UPDATE tenants SET default_role = ${role} WHERE id = ${tenantId}`);
}

/** An admin granting a role directly lifts the exclusion an access review put on it. */
export async function addDirectGrant(tx: Tx, tenantId: string, userId: string, role: string, grantedBy: string): Promise<void> {
  await tx.query(sql.unsafe`
    DELETE FROM role_exclusions WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND role = ${role}`);
  await tx.query(sql.unsafe`
    INSERT INTO direct_role_grants (tenant_id, user_id, role, granted_by)
    VALUES (${tenantId}, ${userId}, ${role}, ${grantedBy})
    ON CONFLICT DO NOTHING`);
}

export async function removeDirectGrant(tx: Tx, tenantId: string, userId: string, role: string): Promise<void> {
  await tx.query(sql.unsafe`
    DELETE FROM direct_role_grants WHERE tenant_id = ${tenantId} AND user_id = ${userId} AND role = ${role}`);
}
