import { type FragmentSqlToken, sql, UniqueIntegrityConstraintViolationError } from 'slonik';
import { z } from 'zod';
import { claimLocks, lockUsersOfGroup, ROW_LOCK } from '../db/locks.js';
import type { Tx } from '../db/pool.js';
import { ScimError } from '../errors.js';
import { currentTraceparent } from '../telemetry.js';
import { auditInsert, type AuditEventInput } from './audit.js';
import type { OutboxEventType } from './outbox.js';
import { foldKey } from '../scim/fold.js';
import type { MemberChange } from '../scim/patch.js';
import type { ScimGroup } from '../scim/resource.js';
import { type ListScope, maintainedCount, type Page, type PageQuery, pageClauses, PositionColumns, toPage } from './list-page.js';
import { isUuid } from './users.js';

export const GroupRow = z.object({
  tenant_id: z.string().uuid(),
  id: z.string().uuid(),
  display_name: z.string(),
  external_id: z.string().nullable(),
  attributes: z.record(z.unknown()),
  version: z.number().int(),
  event_seq: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type GroupRow = z.infer<typeof GroupRow>;

const GROUP_COLUMNS = sql.fragment`g.tenant_id, g.id, g.display_name, g.external_id, g.attributes, g.version,
  g.event_seq, g.created_at, g.updated_at`;

function columnsOf(group: ScimGroup) {
  const { displayName, externalId, members: _members, ...rest } = group as Record<string, unknown> & ScimGroup;
  return {
    displayName,
    key: foldKey(displayName),
    externalId: (externalId) ?? null,
    attributes: JSON.stringify(rest),
  };
}

export function groupFromRow(row: GroupRow): ScimGroup {
  const group: Record<string, unknown> = { ...row.attributes, displayName: row.display_name };
  if (row.external_id !== null) group.externalId = row.external_id;
  return group as ScimGroup;
}

function uniquenessError(err: unknown, displayName: string): never {
  if (err instanceof UniqueIntegrityConstraintViolationError && err.constraint === 'groups_display_name_key') {
    throw ScimError.conflict(`displayName "${displayName}" is already taken in this tenant`);
  }
  throw err;
}

export async function insertGroup(tx: Tx, tenantId: string, group: ScimGroup): Promise<GroupRow> {
  const c = columnsOf(group);
  try {
    return await tx.one(sql.type(GroupRow)`
      INSERT INTO groups AS g (tenant_id, display_name, display_name_key, external_id, attributes, event_seq)
      VALUES (${tenantId}, ${c.displayName}, ${c.key}, ${c.externalId}, ${c.attributes}::jsonb, 1)
      RETURNING ${GROUP_COLUMNS}`);
  } catch (err) {
    uniquenessError(err, group.displayName);
  }
}

/** Reads a group, optionally locking it (first in the lock order of core/db/locks.ts). */
export async function findGroup(tx: Tx, id: string, options: { forUpdate?: boolean } = {}): Promise<GroupRow | null> {
  if (!isUuid(id)) return null;
  if (options.forUpdate) claimLocks(tx, 'groups', [id]);
  return tx.maybeOne(sql.type(GroupRow)`
    SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.id = ${id}
    ${options.forUpdate ? ROW_LOCK : sql.fragment``}`);
}

export interface GroupWriteRecord {
  /** The member change, planned by `planMemberChange` (nothing to write: all three empty). */
  delta: MemberDelta;
  /** The group's new attributes (version and stream seq move even if only members changed); omit to keep them. */
  next?: ScimGroup;
  audit: AuditEventInput;
  /** The group's own event, at the seq this write gives the group, or at `seq` when given. */
  event: { type: OutboxEventType; payload: Record<string, unknown>; seq?: number };
}

/**
 * A group write in one statement: the member change (memberWrites), the group's attributes, the
 * audit event and the group's own event. Returns the group's row as written.
 */
export async function recordGroupWrite(tx: Tx, tenantId: string, groupId: string, w: GroupWriteRecord): Promise<GroupRow> {
  const ctes = memberWrites(tenantId, groupId, w.delta);
  if (w.next) {
    const c = columnsOf(w.next);
    ctes.push(sql.fragment`written AS (
      UPDATE groups AS g SET display_name = ${c.displayName}, display_name_key = ${c.key}, external_id = ${c.externalId},
             attributes = ${c.attributes}::jsonb, version = version + 1, event_seq = event_seq + 1, updated_at = now()
       WHERE g.tenant_id = ${tenantId} AND g.id = ${groupId}
       RETURNING ${GROUP_COLUMNS})`);
  } else {
    ctes.push(sql.fragment`written AS (SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.tenant_id = ${tenantId} AND g.id = ${groupId})`);
  }
  ctes.push(sql.fragment`audited AS (${auditInsert(tenantId, [w.audit])})`);
  ctes.push(sql.fragment`group_event AS (
    INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload, traceparent)
    SELECT g.tenant_id, 'group', g.id, ${w.event.seq ?? sql.fragment`g.event_seq`}, ${w.event.type},
           ${JSON.stringify(w.event.payload)}::jsonb, ${currentTraceparent()}::text
      FROM written g)`);
  try {
    return await tx.one(sql.type(GroupRow)`WITH ${sql.join(ctes, sql.fragment`, `)} SELECT * FROM written`);
  } catch (err) {
    if (!w.next) throw err;
    uniquenessError(err, w.next.displayName);
  }
}

export async function deleteGroup(tx: Tx, id: string): Promise<void> {
  await tx.query(sql.unsafe`DELETE FROM groups WHERE id = ${id}`);
}

const GroupPageRow = GroupRow.extend(PositionColumns.shape);

/** One page of groups plus the total: see `listUsers` for the paging and counting strategy. */
export async function listGroups(tx: Tx, scope: ListScope, q: PageQuery): Promise<Page<GroupRow>> {
  const total = scope.filtered
    ? await tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM groups g WHERE (${q.where})`)
    : await maintainedCount(tx, scope.tenantId, 'Group');
  if (q.limit === 0) return { total, rows: [], more: total > 0 };
  const p = pageClauses('g', q);
  const raw = await tx.any(sql.type(GroupPageRow)`
    SELECT ${GROUP_COLUMNS}, ${p.positionColumns} FROM groups g
     WHERE (${q.where}) AND ${p.keyset}
     ORDER BY ${p.orderBy} ${p.limit}`);
  return toPage(raw, q.limit, p.backwards, total);
}

const MemberRow = z.object({ group_id: z.string().uuid(), user_id: z.string().uuid(), user_name: z.string(), display_name: z.string().nullable() });

/** Group.members for a set of groups in one query (live users only). */
export async function membersOfGroups(tx: Tx, groupIds: readonly string[]) {
  const map = new Map<string, { id: string; display: string }[]>();
  if (groupIds.length === 0) return map;
  const rows = await tx.any(sql.type(MemberRow)`
    SELECT gm.group_id, u.id AS user_id, u.user_name, u.display_name
      FROM group_members gm JOIN users u ON u.tenant_id = gm.tenant_id AND u.id = gm.user_id
     WHERE gm.group_id = ANY(${sql.array(groupIds as string[], 'uuid')}) AND u.scim_deleted_at IS NULL
     ORDER BY gm.created_at, u.id`);
  for (const r of rows) {
    const list = map.get(r.group_id) ?? [];
    list.push({ id: r.user_id, display: r.display_name ?? r.user_name });
    map.set(r.group_id, list);
  }
  return map;
}

export interface MemberDelta {
  added: string[];
  removed: string[];
  /** Member references that matched no live user of the tenant: kept for review, never dropped. */
  unresolved: string[];
}

const UserIdRow = z.object({ user_id: z.string().uuid() });

/**
 * Works out what a member change does to a group the caller has locked (`findGroup(..., {
 * forUpdate })`), so concurrent PATCHes to one group serialise instead of losing members. Every
 * user the change can touch is locked (in id order) and its liveness and membership are read under
 * that lock: a member added here cannot be SCIM-deleted concurrently and left behind. Writes
 * nothing: `memberWrites` turns the answer into CTEs of the caller's one statement, so the user
 * locks are held for that statement and the commit, not for a round trip per kind of write (a
 * convoy when concurrent pushes share members).
 *
 * A member the change removes and adds back (`removeAll` then `add`, or a `replace` that keeps
 * it) stays, and is neither added nor removed: nothing happened to it.
 */
export async function planMemberChange(tx: Tx, groupId: string, change: MemberChange): Promise<MemberDelta> {
  const wanted = [...(change.replaceAll ?? []), ...change.add].map((m) => m.value);
  const candidateIds = [...new Set(wanted.filter(isUuid).map((v) => v.toLowerCase()))];
  const removeIds = [...new Set(change.remove.filter(isUuid).map((v) => v.toLowerCase()))];
  const replacing = !!(change.replaceAll || change.removeAll);
  // The group is locked, so its member list cannot change under us: read it once when replacing.
  const current = replacing
    ? await tx.anyFirst(sql.type(UserIdRow)`SELECT user_id FROM group_members WHERE group_id = ${groupId}`)
    : [];
  const users = await lockUsersOfGroup(tx, groupId, [...candidateIds, ...removeIds, ...current]);
  const keep = new Set(candidateIds.filter((id) => users.get(id)?.live));
  const leaving = replacing ? current : removeIds;
  return {
    added: [...keep].filter((id) => !users.get(id)!.member),
    removed: leaving.filter((id) => users.get(id)?.member && !keep.has(id)),
    unresolved: [...new Set(wanted.filter((v) => !keep.has(v.toLowerCase())))],
  };
}

/**
 * The writes of a planned member change, as CTEs for the caller's statement: the membership rows,
 * each affected member's stream bump (seq, and version and lastModified: `groups` is part of the
 * user's representation) with its ordered `membership.*` event at that seq, and the unresolved
 * references. Every user touched was locked by `planMemberChange`, in the same transaction.
 */
export function memberWrites(tenantId: string, groupId: string, delta: MemberDelta): FragmentSqlToken[] {
  const ctes: FragmentSqlToken[] = [];
  const added = sql.array(delta.added, 'uuid');
  if (delta.removed.length) {
    ctes.push(sql.fragment`left_group AS (
      DELETE FROM group_members WHERE tenant_id = ${tenantId} AND group_id = ${groupId} AND user_id = ANY(${sql.array(delta.removed, 'uuid')}))`);
  }
  if (delta.added.length) {
    ctes.push(sql.fragment`joined_group AS (
      INSERT INTO group_members (tenant_id, group_id, user_id)
      SELECT ${tenantId}, ${groupId}, u FROM unnest(${added}::uuid[]) AS u)`);
  }
  // One bump and one event per affected member, added and removed apart (disjoint sets of users).
  const streams = [
    { name: 'joined', type: 'membership.added', ids: delta.added },
    { name: 'left', type: 'membership.removed', ids: delta.removed },
  ] as const;
  for (const stream of streams) {
    if (stream.ids.length === 0) continue;
    const bumped = sql.identifier([`${stream.name}_streams`]);
    ctes.push(sql.fragment`${bumped} AS (
      UPDATE users SET event_seq = event_seq + 1, version = version + 1, updated_at = now()
       WHERE tenant_id = ${tenantId} AND id = ANY(${sql.array(stream.ids, 'uuid')})
       RETURNING id, event_seq)`);
    ctes.push(sql.fragment`${sql.identifier([`${stream.name}_events`])} AS (
      INSERT INTO outbox (tenant_id, stream_type, stream_id, seq, event_type, payload, traceparent)
      SELECT ${tenantId}, 'user', s.id, s.event_seq, ${stream.type}, ${JSON.stringify({ groupId })}::jsonb, ${currentTraceparent()}::text
        FROM ${bumped} s)`);
  }
  if (delta.unresolved.length) {
    ctes.push(sql.fragment`unresolved AS (
      INSERT INTO unresolved_members (tenant_id, group_id, member_value)
      SELECT ${tenantId}, ${groupId}, v FROM unnest(${sql.array(delta.unresolved, 'text')}::text[]) AS v
      ON CONFLICT DO NOTHING)`);
  }
  return ctes;
}

/** Removes a user from every group (SCIM DELETE of the user); returns the affected group ids. */
export async function removeUserFromAllGroups(tx: Tx, userId: string): Promise<string[]> {
  return [
    ...(await tx.anyFirst(sql.type(z.object({ group_id: z.string().uuid() }))`
      DELETE FROM group_members WHERE user_id = ${userId} RETURNING group_id`)),
  ];
}

/** The groups a user belongs to right now (READ COMMITTED: what has committed so far). */
export async function groupIdsOfUser(tx: Tx, userId: string): Promise<string[]> {
  if (!isUuid(userId)) return [];
  return [...(await tx.anyFirst(sql.type(z.object({ group_id: z.string().uuid() }))`
    SELECT group_id FROM group_members WHERE user_id = ${userId} ORDER BY group_id`))];
}

const IdRow = z.object({ id: z.string().uuid() });

/**
 * Locks, in id order, the groups a user currently belongs to; returns their ids. Memberships can
 * still be added until the user itself is locked, so callers re-read them under the user's lock
 * (`groupIdsOfUser`) and retry when a group appeared (core/db/locks.ts `LockOrderRetry`).
 */
export async function lockGroupsOfUser(tx: Tx, userId: string): Promise<string[]> {
  if (!isUuid(userId)) return [];
  const ids = await tx.anyFirst(sql.type(IdRow)`
    SELECT g.id FROM groups g
     WHERE g.id IN (SELECT group_id FROM group_members WHERE user_id = ${userId})
     ORDER BY g.id FOR NO KEY UPDATE OF g`);
  // Recorded after the statement that took them: this is the transaction's first lock.
  claimLocks(tx, 'groups', ids);
  return [...ids];
}

/**
 * Moves the version (ETag) and lastModified of groups whose member list changed as a side effect
 * (a member deleted). Their event streams are untouched: no group event happened.
 */
export async function touchGroups(tx: Tx, groupIds: readonly string[]): Promise<void> {
  if (groupIds.length === 0) return;
  await tx.query(sql.unsafe`
    UPDATE groups SET version = version + 1, updated_at = now() WHERE id = ANY(${sql.array(groupIds as string[], 'uuid')})`);
}

/** The live group with this display name (compared as SCIM compares it: folded), or null. */
export async function findGroupIdByDisplayName(tx: Tx, tenantId: string, displayName: string): Promise<string | null> {
  return tx.maybeOneFirst(sql.type(z.object({ id: z.string().uuid() }))`
    SELECT id FROM groups WHERE tenant_id = ${tenantId} AND display_name_key = ${foldKey(displayName)}`);
}
