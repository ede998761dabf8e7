import { createHash } from 'node:crypto';
import type { AppRole } from '../config.js';
import type { Tx } from '../db/pool.js';
import { diffRoles, effectiveRoles } from '../entitlements.js';
import { DomainError } from '../errors.js';
import { appendAudit } from '../audit/queries.js';
import type { Actor } from '../audit/schema.js';
import {
  addDirectGrant,
  currentDefaultRole,
  groupMemberIds,
  isLiveUser,
  listRoleMappings as listRoleMappingRows,
  listRoleMappingsWithCounts,
  liveUserIds,
  lockGroupIfExists,
  removeDirectGrant,
  replaceGroupRoles,
  roleSourcesMany,
  searchGroupsForMapping,
  updateDefaultRole,
  userSummaries,
} from '../repositories/entitlements.js';
import { appendOutbox } from '../repositories/outbox.js';
import { bumpUserStreams } from '../repositories/users.js';
import { foldKey } from '../scim/fold.js';
import type { GroupChoicePage, RoleChange, RoleChangeResult, RoleMappingOverview } from './schema.js';

// Entitlement rules, for every surface (app API, portal API, CLI): group → role mappings, the
// default role and direct grants. A change is computed in a savepoint (its dry run), then either
// rolled back (preview) or kept, audited and fanned out as an ordered `entitlements.changed` event
// on each affected identity's stream; the identity's workflow (the mover) then grants and revokes
// the difference. So what a preview shows is what the movers apply.

/** What every change needs: the tenant, the roles catalogue and who acts. */
export interface EntitlementsContext {
  tenantId: string;
  catalogue: readonly AppRole[];
  actor: Actor;
}

/**
 * How a change is run: `preview` computes and rolls back; `apply` keeps it. `fingerprint`, when
 * given with `apply`, must match the preview's, or nothing is changed (409 `preview_stale`).
 */
export type ChangeMode = { mode: 'preview' } | { mode: 'apply'; fingerprint?: string | undefined };

export async function listRoleMappings(tx: Tx, tenantId: string) {
  return listRoleMappingRows(tx, tenantId);
}

/** The role mappings page: mapped groups with member counts, the default role, the catalogue. */
export async function roleMappingOverview(tx: Tx, tenantId: string, catalogue: readonly AppRole[]): Promise<RoleMappingOverview> {
  const [rows, defaultRole] = [await listRoleMappingsWithCounts(tx, tenantId), await currentDefaultRole(tx, tenantId)];
  return {
    defaultRole,
    mappings: rows.map((r) => ({ groupId: r.group_id, displayName: r.display_name, roles: r.roles, memberCount: r.member_count })),
    roles: catalogue.map((r) => ({ ...r })),
  };
}

const groupCursor = (key: string, id: string) => Buffer.from(JSON.stringify([key, id])).toString('base64url');
function readGroupCursor(cursor: string): { key: string; id: string } {
  try {
    const [key, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof key === 'string' && typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)) return { key, id };
  } catch {
    // falls through
  }
  throw new DomainError(400, 'invalid_cursor', 'the page cursor is not one this server issued; start from the first page');
}

/** Groups whose name starts with `search` (case-insensitively), to choose one to map. */
export async function searchGroups(tx: Tx, tenantId: string, q: { search?: string | undefined; cursor?: string | undefined; limit: number }): Promise<GroupChoicePage> {
  const rows = await searchGroupsForMapping(tx, tenantId, {
    prefix: q.search ? foldKey(q.search) : undefined,
    after: q.cursor ? readGroupCursor(q.cursor) : undefined,
    limit: q.limit,
  });
  const page = rows.slice(0, q.limit);
  const last = page[page.length - 1];
  return {
    data: page.map((r) => ({ groupId: r.id, displayName: r.display_name, memberCount: r.member_count, roles: r.roles })),
    next: rows.length > q.limit && last ? groupCursor(last.display_name_key, last.id) : null,
  };
}

function assertRoles(roles: readonly string[], catalogue: readonly AppRole[]) {
  const known = new Set(catalogue.map((r) => r.name));
  const unknown = roles.filter((r) => !known.has(r));
  if (unknown.length) throw new DomainError(400, 'unknown_role', `not in the app roles catalogue: ${unknown.join(', ')}`);
}

async function effectiveMany(tx: Tx, tenantId: string, userIds: readonly string[], catalogue: readonly AppRole[]) {
  const sources = await roleSourcesMany(tx, tenantId, userIds);
  return new Map(userIds.map((id) => [id, effectiveRoles(sources.get(id) ?? { defaultRole: null, mappedRoles: [], directRoles: [] }, catalogue)]));
}

/**
 * Names a change and its exact effect. Two previews share a fingerprint only when they describe
 * the same change with the same gains and losses for the same people.
 */
export function changeFingerprint(change: Record<string, unknown>, changes: readonly Pick<RoleChange, 'userId' | 'gains' | 'losses'>[]): string {
  const effect = [...changes].sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)).map((c) => [c.userId, [...c.gains].sort(), [...c.losses].sort()]);
  return createHash('sha256').update(JSON.stringify([change, effect])).digest('base64url');
}

/** Per-person changes recorded in a decision's audit row, up to this many. */
const AUDITED_CHANGES_MAX = 500;

class RollbackPreview extends Error {
  constructor(readonly changes: Omit<RoleChange, 'userName' | 'displayName'>[]) {
    super('preview');
  }
}

/**
 * Runs `change` in a savepoint and reports who gains and loses what. A preview rolls it back; an
 * apply keeps it (after checking the fingerprint), writes one audit row for the decision and fans
 * the change out to every affected identity in the same transaction.
 */
async function changeEntitlements(
  tx: Tx,
  ctx: EntitlementsContext,
  input: { userIds: readonly string[]; change: Record<string, unknown>; action: string; targetType?: string; targetId?: string; before: unknown; after: unknown },
  mode: ChangeMode,
  write: (tx: Tx) => Promise<void>,
): Promise<RoleChangeResult> {
  let changes: Omit<RoleChange, 'userName' | 'displayName'>[];
  try {
    changes = await tx.transaction(async (sp) => {
      const before = await effectiveMany(sp, ctx.tenantId, input.userIds, ctx.catalogue);
      await write(sp);
      const after = await effectiveMany(sp, ctx.tenantId, input.userIds, ctx.catalogue);
      const out: Omit<RoleChange, 'userName' | 'displayName'>[] = [];
      for (const id of input.userIds) {
        const d = diffRoles(before.get(id)!, after.get(id)!);
        if (d.grant.length || d.revoke.length) out.push({ userId: id, gains: d.grant, losses: d.revoke });
      }
      const fingerprint = changeFingerprint(input.change, out);
      if (mode.mode === 'preview') throw new RollbackPreview(out);
      if (mode.fingerprint !== undefined && mode.fingerprint !== fingerprint) {
        throw new DomainError(409, 'preview_stale', 'who gains or loses which role has changed since the preview (group members or mappings changed); preview again, then save');
      }
      return out;
    });
  } catch (err) {
    if (!(err instanceof RollbackPreview)) throw err;
    return { ...(await describe(tx, ctx.tenantId, input.change, err.changes)), applied: false };
  }
  await appendAudit(tx, ctx.tenantId, [
    {
      actor: ctx.actor,
      action: input.action,
      ...(input.targetType ? { targetType: input.targetType } : {}),
      ...(input.targetId ? { targetId: input.targetId } : {}),
      // Who gained and lost what, for the record; a tenant-wide change keeps the count only.
      data: { ...input.change, before: input.before, after: input.after, affectedUsers: changes.length, ...(changes.length <= AUDITED_CHANGES_MAX ? { changes } : {}) },
    },
  ]);
  await fanOutEntitlementsChange(tx, ctx.tenantId, changes.map((c) => c.userId), input.change);
  return { ...(await describe(tx, ctx.tenantId, input.change, changes)), applied: true };
}

/**
 * Hands an entitlement change to each affected identity's workflow: the next seq of the user's
 * stream (locking the users in the lock order) and an `entitlements.changed` outbox row; the mover
 * then grants and revokes the difference (and the credentials that required a lost role). Returns
 * each user's seq.
 */
export async function fanOutEntitlementsChange(tx: Tx, tenantId: string, userIds: readonly string[], payload: Record<string, unknown>): Promise<Map<string, number>> {
  return fanOutEntitlementsChanges(tx, tenantId, new Map(userIds.map((id) => [id, payload])));
}

/**
 * `fanOutEntitlementsChange` with a payload of its own per user (one event each, two statements
 * for all of them): an access review's bulk revoke tells each person's stream which of their
 * roles and items it took (core/campaigns/revoke.ts).
 */
export async function fanOutEntitlementsChanges(tx: Tx, tenantId: string, payloads: ReadonlyMap<string, Record<string, unknown>>): Promise<Map<string, number>> {
  const seqs = await bumpUserStreams(tx, [...payloads.keys()]);
  await appendOutbox(
    tx,
    tenantId,
    [...seqs].map(([userId, seq]) => ({ streamType: 'user' as const, streamId: userId, seq, type: 'entitlements.changed' as const, payload: payloads.get(userId) ?? {} })),
  );
  return seqs;
}

/** Adds names to the changes (sorted by userName) and the fingerprint. */
async function describe(tx: Tx, tenantId: string, change: Record<string, unknown>, changes: Omit<RoleChange, 'userName' | 'displayName'>[]) {
  const names = await userSummaries(tx, tenantId, changes.map((c) => c.userId));
  const described = changes
    .map((c) => ({ ...c, userName: names.get(c.userId)?.userName ?? null, displayName: names.get(c.userId)?.displayName ?? null }))
    .sort((a, b) => (a.userName ?? '').localeCompare(b.userName ?? '') || a.userId.localeCompare(b.userId));
  return { affectedUsers: described.length, changes: described, fingerprint: changeFingerprint(change, changes) };
}

/** Sets the roles an IdP group grants its members ([] removes the mapping). */
export async function setGroupRoles(tx: Tx, ctx: EntitlementsContext, input: { groupId: string; roles: readonly string[] }, mode: ChangeMode): Promise<RoleChangeResult> {
  const roles = [...new Set(input.roles)].sort();
  assertRoles(roles, ctx.catalogue);
  if (!(await lockGroupIfExists(tx, input.groupId))) throw new DomainError(404, 'not_found', 'no such group in this tenant');
  const before = (await listRoleMappingRows(tx, ctx.tenantId)).find((m) => m.group_id === input.groupId)?.roles ?? [];
  const userIds = await groupMemberIds(tx, ctx.tenantId, input.groupId);
  return changeEntitlements(
    tx,
    ctx,
    { userIds, change: { cause: 'role_mapping', groupId: input.groupId, roles }, action: 'role_mapping.changed', targetType: 'group', targetId: input.groupId, before, after: roles },
    mode,
    (sp) => replaceGroupRoles(sp, ctx.tenantId, input.groupId, roles),
  );
}

/** Sets (or, with null, clears) the role every live user of the tenant gets. */
export async function setDefaultRole(tx: Tx, ctx: EntitlementsContext, input: { role: string | null }, mode: ChangeMode): Promise<RoleChangeResult> {
  if (input.role) assertRoles([input.role], ctx.catalogue);
  const before = await currentDefaultRole(tx, ctx.tenantId);
  const userIds = await liveUserIds(tx, ctx.tenantId);
  return changeEntitlements(
    tx,
    ctx,
    { userIds, change: { cause: 'default_role', role: input.role }, action: 'default_role.changed', targetType: 'tenant', targetId: ctx.tenantId, before, after: input.role },
    mode,
    (sp) => updateDefaultRole(sp, ctx.tenantId, input.role),
  );
}

/** Grants or removes a role directly (an exception outside the IdP). */
export async function setDirectGrant(tx: Tx, ctx: EntitlementsContext, input: { userId: string; role: string; granted: boolean }): Promise<RoleChangeResult> {
  assertRoles([input.role], ctx.catalogue);
  if (!(await isLiveUser(tx, ctx.tenantId, input.userId))) throw new DomainError(404, 'not_found', 'no such user in this tenant');
  return changeEntitlements(
    tx,
    ctx,
    {
      userIds: [input.userId],
      change: { cause: 'direct_grant', role: input.role, granted: input.granted },
      action: input.granted ? 'direct_grant.added' : 'direct_grant.removed',
      targetType: 'user',
      targetId: input.userId,
      before: null,
      after: null,
    },
    { mode: 'apply' },
    (sp) =>
      input.granted
        ? addDirectGrant(sp, ctx.tenantId, input.userId, input.role, `${ctx.actor.type}:${ctx.actor.id ?? ''}`)
        : removeDirectGrant(sp, ctx.tenantId, input.userId, input.role),
  );
}
