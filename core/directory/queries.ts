import { type FragmentSqlToken, sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';
import { isUuid } from '../repositories/users.js';
import { LifecycleState, MEMBER_COUNT_CAP } from './schema.js';

/**
 * The directory's reads (users, groups, the overview, non-human identities). Every function takes
 * the connection first and the tenant explicitly and filters on it in SQL too: row-level security
 * is the second wall, not the only one.
 *
 * Lists are keyset-paged newest first, on (created_at, id): rows added while someone pages land
 * before the first page, so a page never repeats or skips a row that existed when paging began.
 */

// ---------------------------------------------------------------------------------------------
// Keyset paging

/** A row's position; created_at in PostgreSQL's own text form, so it compares back exactly. */
interface Position {
  c: string;
  i: string;
}
const CursorPayload = z.object({ d: z.enum(['a', 'b']), c: z.string().max(64), i: z.string().uuid() });

export function encodeCursor(direction: 'after' | 'before', p: Position): string {
  return Buffer.from(JSON.stringify({ d: direction === 'after' ? 'a' : 'b', c: p.c, i: p.i })).toString('base64url');
}

export function decodeCursor(cursor: string): { direction: 'after' | 'before'; position: Position } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new DomainError(400, 'invalid_cursor', 'the cursor is not one this API issued; start again from the first page');
  }
  const r = CursorPayload.safeParse(parsed);
  if (!r.success || Number.isNaN(Date.parse(r.data.c))) throw new DomainError(400, 'invalid_cursor', 'the cursor is not one this API issued; start again from the first page');
  return { direction: r.data.d === 'a' ? 'after' : 'before', position: { c: r.data.c, i: r.data.i } };
}

export interface Keyset {
  /** The (created_at, id) condition for the page, TRUE for a first page. */
  where: FragmentSqlToken;
  orderBy: FragmentSqlToken;
  limit: FragmentSqlToken;
  backwards: boolean;
  /** The cursor's row position (undefined on a first page). */
  position: Position | undefined;
}

/** The WHERE, ORDER BY and LIMIT of one page over `alias.created_at, alias.id`, newest first. */
export function keyset(alias: string, cursor: string | undefined, limit: number): Keyset {
  const created = sql.identifier([alias, 'created_at']);
  const id = sql.identifier([alias, 'id']);
  const c = cursor ? decodeCursor(cursor) : undefined;
  const backwards = c?.direction === 'before';
  const where = !c
    ? sql.fragment`TRUE`
    : backwards
      ? sql.fragment`(${created}, ${id}) > (${c.position.c}::timestamptz, ${c.position.i}::uuid)`
      : sql.fragment`(${created}, ${id}) < (${c.position.c}::timestamptz, ${c.position.i}::uuid)`;
  const orderBy = backwards ? sql.fragment`${created} ASC, ${id} ASC` : sql.fragment`${created} DESC, ${id} DESC`;
  // One row more than asked tells whether another page follows in the direction read.
  return { where, orderBy, limit: sql.fragment`LIMIT ${limit + 1}`, backwards, position: c?.position };
}

export interface Paged<Row> {
  rows: Row[];
  next: string | null;
  prev: string | null;
}

/**
 * Turns the rows of one read into a page. A backwards read that reached the start of the list
 * answers `undefined`: the caller reads the first page instead, so "previous" always lands on a
 * full page.
 */
export function toPaged<Row extends { page_pos: string; id: string }>(raw: readonly Row[], limit: number, cursor: string | undefined): Paged<Row> | undefined {
  const backwards = cursor ? decodeCursor(cursor).direction === 'before' : false;
  const more = raw.length > limit;
  const rows = raw.slice(0, limit);
  if (backwards) {
    if (!more) return undefined;
    rows.reverse();
  }
  const pos = (r: Row) => ({ c: r.page_pos, i: r.id });
  const first = rows[0];
  const last = rows[rows.length - 1];
  if (!first || !last) {
    // Past the end (the rows after the cursor went away): offer the way back.
    return { rows, next: null, prev: cursor ? encodeCursor('before', decodeCursor(cursor).position) : null };
  }
  return {
    rows,
    next: backwards || more ? encodeCursor('after', pos(last)) : null,
    prev: backwards || cursor ? encodeCursor('before', pos(first)) : null,
  };
}

/** Reads a page, falling back to the first page when a backwards read reached the start. */
export async function readPage<Row extends { page_pos: string; id: string }>(
  read: (k: Keyset) => Promise<readonly Row[]>,
  cursor: string | undefined,
  limit: number,
  alias: string,
): Promise<Paged<Row>> {
  const page = toPaged(await read(keyset(alias, cursor, limit)), limit, cursor);
  if (page) return page;
  return toPaged(await read(keyset(alias, undefined, limit)), limit, undefined)!;
}

// ---------------------------------------------------------------------------------------------
// Users

/** `term` as a LIKE pattern matching it anywhere (wildcards in the term match themselves). */
export function containsPattern(term: string): string {
  return `%${term.toLowerCase().replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/** The user's primary email (or the first one). */
const PRIMARY_EMAIL = sql.fragment`(SELECT e->>'value' FROM jsonb_array_elements(u.emails) e
   ORDER BY (e->'primary') = 'true'::jsonb DESC NULLS LAST LIMIT 1)`;

export const UserSummaryRow = z.object({
  id: z.string().uuid(),
  user_name: z.string(),
  display_name: z.string().nullable(),
  email: z.string().nullable(),
  external_id: z.string().nullable(),
  lifecycle_state: LifecycleState,
  active: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  page_pos: z.string(),
});
export type UserSummaryRow = z.infer<typeof UserSummaryRow>;

const USER_SUMMARY_COLUMNS = sql.fragment`u.id, u.user_name, u.display_name, ${PRIMARY_EMAIL} AS email, u.external_id,
  u.lifecycle_state, u.active, u.created_at, u.updated_at, u.created_at::text AS page_pos`;

export interface UserFilter {
  search?: string | undefined;
  state?: LifecycleState | undefined;
}

/** The plain conditions of a user list (a search term is matched by directory_user_search_page). */
function userWhere(tenantId: string, filter: Pick<UserFilter, 'state'>) {
  const where = [sql.fragment`u.tenant_id = ${tenantId}`];
  if (filter.state) where.push(sql.fragment`u.lifecycle_state = ${filter.state}`);
  return sql.join(where, sql.fragment` AND `);
}

/** A search counts at most this many matches (counting all would scan them all). */
export const SEARCH_COUNT_CAP = 1000;

const PageTotal = z.object({ n: z.number(), estimated: z.boolean() });
const UserPageRow = UserSummaryRow.extend({ total: PageTotal.nullable() });

/** How many users a list has; `estimated`: the planner's figure for a common term (show "about"). */
export interface UserCount {
  total: number;
  /** More than SEARCH_COUNT_CAP matched; `total` is the cap. */
  lowerBound: boolean;
  estimated: boolean;
}

/**
 * The count of the whole list as one more column of the page's own statement (PostgreSQL runs an
 * uncorrelated sub-select once): the maintained per-state counts without a search; with one,
 * directory_user_search_count (exact up to SEARCH_COUNT_CAP, the planner's estimate above it).
 */
function totalColumn(tenantId: string, filter: UserFilter) {
  if (!filter.search) {
    return sql.fragment`(SELECT jsonb_build_object('n', coalesce(sum(d.delta), 0), 'estimated', false) FROM user_state_count_deltas d
      WHERE d.tenant_id = ${tenantId} ${filter.state ? sql.fragment`AND d.state = ${filter.state}` : sql.fragment``})`;
  }
  return sql.fragment`(SELECT jsonb_build_object('n', c.n, 'estimated', c.estimated)
      FROM directory_user_search_count(${tenantId}, ${containsPattern(filter.search)}, ${filter.state ?? null}, ${SEARCH_COUNT_CAP}) c)`;
}

function toCount(t: z.infer<typeof PageTotal>): UserCount {
  if (t.estimated) return { total: t.n, lowerBound: false, estimated: true };
  return t.n > SEARCH_COUNT_CAP ? { total: SEARCH_COUNT_CAP, lowerBound: true, estimated: false } : { total: t.n, lowerBound: false, estimated: false };
}

/**
 * One page of users and, when `withTotal` (a first page), how many match, in one statement. Pages
 * after the first carry no count: the client keeps the first page's, so paging through a common
 * search term does not count its matches again on every page.
 *
 * A search reads the page's keys through directory_user_search_page, planned for the term at hand
 * (trigram index for a rare term, the page order for a common one), then only those rows of users.
 */
export async function listUsers(tx: Tx, tenantId: string, filter: UserFilter, cursor: string | undefined, limit: number, withTotal = !cursor) {
  const where = userWhere(tenantId, filter);
  const total = withTotal ? totalColumn(tenantId, filter) : sql.fragment`NULL::jsonb`;
  const matches = (k: Keyset) =>
    filter.search
      ? sql.fragment`AND u.id IN (SELECT m.id FROM directory_user_search_page(${tenantId}, ${containsPattern(filter.search)}, ${filter.state ?? null},
          ${k.position?.c ?? null}::timestamptz, ${k.position?.i ?? null}::uuid, ${k.backwards}, ${limit + 1}) m)`
      : sql.fragment``;
  const page = await readPage(
    (k) => tx.any(sql.type(UserPageRow)`
      SELECT ${USER_SUMMARY_COLUMNS}, ${total} AS total FROM users u WHERE ${where} ${matches(k)} AND ${k.where} ORDER BY ${k.orderBy} ${k.limit}`),
    cursor,
    limit,
    'u',
  );
  if (!withTotal) return { ...page, count: null };
  const t = page.rows[0]?.total;
  // No row, no count column: an empty first page means nothing matches; past the end, ask.
  if (!t) return { ...page, count: cursor ? await countUsers(tx, tenantId, filter) : { total: 0, lowerBound: false, estimated: false } };
  return { ...page, count: toCount(t) };
}

const StateCount = z.object({ state: z.string(), n: z.number() });

/** Identities per lifecycle state, from the maintained delta rows (index-only, never a scan of users). */
export async function countUsersByState(tx: Tx, tenantId: string): Promise<Record<LifecycleState, number>> {
  const rows = await tx.any(sql.type(StateCount)`
    SELECT state, coalesce(sum(delta), 0)::int8 AS n FROM user_state_count_deltas
     WHERE tenant_id = ${tenantId} GROUP BY state`);
  const counts = { provisioned: 0, active: 0, suspended: 0, deleted: 0 };
  for (const r of rows) if (r.state in counts) counts[r.state as LifecycleState] = r.n;
  return counts;
}

/** How many users match: maintained counts without a search, directory_user_search_count with one. */
export async function countUsers(tx: Tx, tenantId: string, filter: UserFilter): Promise<UserCount> {
  const t = await tx.oneFirst(sql.type(z.object({ total: PageTotal }))`SELECT ${totalColumn(tenantId, filter)} AS total`);
  return toCount(t);
}

const Json = z.record(z.unknown());
export const UserDetailRow = z.object({
  id: z.string().uuid(),
  user_name: z.string(),
  display_name: z.string().nullable(),
  external_id: z.string().nullable(),
  active: z.boolean(),
  lifecycle_state: LifecycleState,
  provisioned_at: z.string(),
  activated_at: z.string().nullable(),
  suspended_at: z.string().nullable(),
  deleted_at: z.string().nullable(),
  scim_deleted_at: z.string().nullable(),
  name: Json.nullable(),
  emails: z.array(Json),
  phone_numbers: z.array(Json),
  enterprise: Json.nullable(),
  attributes: Json,
  held: z.boolean(),
});
export type UserDetailRow = z.infer<typeof UserDetailRow>;

/** The user of this tenant, or a 404 (an id of another tenant is simply not found). */
export async function requireUserDetail(tx: Tx, tenantId: string, userId: string): Promise<UserDetailRow> {
  const row = isUuid(userId)
    ? await tx.maybeOne(sql.type(UserDetailRow)`
        SELECT u.id, u.user_name, u.display_name, u.external_id, u.active, u.lifecycle_state, u.provisioned_at, u.activated_at,
               u.suspended_at, u.deleted_at, u.scim_deleted_at, u.name, u.emails, u.phone_numbers, u.enterprise, u.attributes,
               EXISTS (SELECT 1 FROM deprovision_holds h WHERE h.tenant_id = u.tenant_id AND h.user_id = u.id AND h.released_at IS NULL) AS held
          FROM users u WHERE u.tenant_id = ${tenantId} AND u.id = ${userId}`)
    : null;
  if (!row) throw new DomainError(404, 'not_found', 'no such user in this tenant');
  return row;
}

const RoleSourceRows = z.object({
  default_role: z.string().nullable(),
  mapped: z.array(z.object({ role: z.string(), groupId: z.string().uuid(), groupName: z.string() })),
  direct: z.array(z.object({ role: z.string(), grantedBy: z.string(), grantedAt: z.string() })),
  granted: z.array(z.string()),
  groups: z.array(z.object({ id: z.string().uuid(), displayName: z.string() })),
  excluded: z.array(z.object({ role: z.string(), campaignId: z.string().uuid().nullable() })),
});

/** Where each of the user's roles comes from (default, group mapping, direct grant) and their groups. */
export async function userRoleSources(tx: Tx, tenantId: string, userId: string) {
  return tx.one(sql.type(RoleSourceRows)`
    SELECT t.default_role,
           coalesce((SELECT jsonb_agg(jsonb_build_object('role', rm.role, 'groupId', g.id, 'groupName', g.display_name) ORDER BY rm.role, g.display_name_key)
                       FROM group_members gm
                       JOIN role_mappings rm ON rm.tenant_id = gm.tenant_id AND rm.group_id = gm.group_id
                       JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
                      WHERE gm.tenant_id = ${tenantId} AND gm.user_id = ${userId}), '[]'::jsonb) AS mapped,
           coalesce((SELECT jsonb_agg(jsonb_build_object('role', d.role, 'grantedBy', d.granted_by,
                                      'grantedAt', to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) ORDER BY d.role)
                       FROM direct_role_grants d WHERE d.tenant_id = ${tenantId} AND d.user_id = ${userId}), '[]'::jsonb) AS direct,
           coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM user_roles r
                      WHERE r.tenant_id = ${tenantId} AND r.user_id = ${userId}), '{}') AS granted,
           coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.id, 'displayName', g.display_name) ORDER BY g.display_name_key)
                       FROM group_members gm JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
                      WHERE gm.tenant_id = ${tenantId} AND gm.user_id = ${userId}), '[]'::jsonb) AS groups,
           coalesce((SELECT jsonb_agg(jsonb_build_object('role', x.role, 'campaignId', x.campaign_id) ORDER BY x.role)
                       FROM role_exclusions x WHERE x.tenant_id = ${tenantId} AND x.user_id = ${userId}), '[]'::jsonb) AS excluded
      FROM tenants t WHERE t.id = ${tenantId}`);
}

export const TimelineRow = z.object({
  id: z.number(),
  at: z.string(),
  action: z.string(),
  actor_type: z.string(),
  actor_id: z.string().nullable(),
  seq: z.number().nullable(),
});

/**
 * The identity's audit events, newest first: actions and actors, never attribute values (those
 * are personal data, sealed in the audit row).
 */
export async function userTimeline(tx: Tx, tenantId: string, userId: string, limit: number) {
  const rows = await tx.any(sql.type(TimelineRow)`
    SELECT id, occurred_at AS at, action, actor_type, actor_id, (data->>'seq')::int8 AS seq
      FROM audit_events WHERE tenant_id = ${tenantId} AND target_type = 'user' AND target_id = ${userId}
     ORDER BY id DESC LIMIT ${limit + 1}`);
  return { rows: rows.slice(0, limit), truncated: rows.length > limit };
}

const RecordedReport = z.object({ workflow_id: z.string(), created_at: z.string(), live_credentials: z.number(), report: Json });

/** The exposure reports the leaver's verification step stored for this user, newest first. */
export async function recordedExposureReports(tx: Tx, tenantId: string, userId: string) {
  return tx.any(sql.type(RecordedReport)`
    SELECT workflow_id, created_at, live_credentials, report FROM exposure_reports
     WHERE tenant_id = ${tenantId} AND user_id = ${userId} ORDER BY created_at DESC, id DESC LIMIT 20`);
}

// ---------------------------------------------------------------------------------------------
// Groups

export const GroupSummaryRow = z.object({
  id: z.string().uuid(),
  display_name: z.string(),
  external_id: z.string().nullable(),
  member_count: z.number(),
  roles: z.array(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
  attributes: Json,
  page_pos: z.string(),
});

export type GroupSummaryRowType = z.infer<typeof GroupSummaryRow>;

const GROUP_COLUMNS = sql.fragment`g.id, g.display_name, g.external_id,
  (SELECT count(*) FROM (SELECT 1 FROM group_members m WHERE m.tenant_id = g.tenant_id AND m.group_id = g.id LIMIT ${MEMBER_COUNT_CAP}) c)::int AS member_count,
  coalesce((SELECT array_agg(rm.role ORDER BY rm.role) FROM role_mappings rm WHERE rm.tenant_id = g.tenant_id AND rm.group_id = g.id), '{}') AS roles,
  g.created_at, g.updated_at, g.attributes, g.created_at::text AS page_pos`;

function groupWhere(tenantId: string, search: string | undefined) {
  const where = [sql.fragment`g.tenant_id = ${tenantId}`];
  if (search) where.push(sql.fragment`g.id IN (SELECT id FROM directory_group_matches(${tenantId}, ${containsPattern(search)}))`);
  return sql.join(where, sql.fragment` AND `);
}

export async function listGroups(tx: Tx, tenantId: string, search: string | undefined, cursor: string | undefined, limit: number) {
  const where = groupWhere(tenantId, search);
  return readPage(
    (k) => tx.any(sql.type(GroupSummaryRow)`SELECT ${GROUP_COLUMNS} FROM groups g WHERE ${where} AND ${k.where} ORDER BY ${k.orderBy} ${k.limit}`),
    cursor,
    limit,
    'g',
  );
}

export async function countGroups(tx: Tx, tenantId: string, search: string | undefined): Promise<{ total: number; lowerBound: boolean }> {
  if (!search) {
    const n = await tx.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT coalesce(sum(delta), 0)::int8 AS n FROM resource_count_deltas WHERE tenant_id = ${tenantId} AND resource_type = 'Group'`);
    return { total: n, lowerBound: false };
  }
  const n = await tx.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT count(*)::int AS n FROM (SELECT 1 FROM groups g WHERE ${groupWhere(tenantId, search)} LIMIT ${SEARCH_COUNT_CAP + 1}) m`);
  return n > SEARCH_COUNT_CAP ? { total: SEARCH_COUNT_CAP, lowerBound: true } : { total: n, lowerBound: false };
}

export async function requireGroupSummary(tx: Tx, tenantId: string, groupId: string) {
  const row = isUuid(groupId)
    ? await tx.maybeOne(sql.type(GroupSummaryRow)`SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.tenant_id = ${tenantId} AND g.id = ${groupId}`)
    : null;
  if (!row) throw new DomainError(404, 'not_found', 'no such group in this tenant');
  return row;
}

/** A group's members, paged by the users' (created_at, id) like the user list. */
export async function listGroupMembers(tx: Tx, tenantId: string, groupId: string, cursor: string | undefined, limit: number) {
  return readPage(
    (k) => tx.any(sql.type(UserSummaryRow)`
      SELECT ${USER_SUMMARY_COLUMNS} FROM group_members gm JOIN users u ON u.tenant_id = gm.tenant_id AND u.id = gm.user_id
       WHERE gm.tenant_id = ${tenantId} AND gm.group_id = ${groupId} AND ${k.where} ORDER BY ${k.orderBy} ${k.limit}`),
    cursor,
    limit,
    'u',
  );
}

// ---------------------------------------------------------------------------------------------
// Overview

export const ConnectionHealthRow = z.object({
  id: z.string().uuid(),
  name: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  live_tokens: z.number(),
  last_used_at: z.string().nullable(),
});

/** Each SCIM connection with its live tokens and when any of its tokens was last used. */
export async function connectionHealth(tx: Tx, tenantId: string) {
  return tx.any(sql.type(ConnectionHealthRow)`
    SELECT c.id, c.name, c.created_at, c.revoked_at,
           count(t.id) FILTER (WHERE t.revoked_at IS NULL AND c.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()))::int AS live_tokens,
           max(t.last_used_at) AS last_used_at
      FROM scim_connections c LEFT JOIN scim_tokens t ON t.tenant_id = c.tenant_id AND t.connection_id = c.id
     WHERE c.tenant_id = ${tenantId}
     GROUP BY c.id ORDER BY c.revoked_at IS NOT NULL, c.created_at, c.id`);
}

export const ActivityRow = TimelineRow.extend({ target_id: z.string().nullable(), user_name: z.string().nullable() });

/** The tenant's newest lifecycle events (the partial index audit_events_lifecycle_recent serves it). */
export async function recentLifecycleActivity(tx: Tx, tenantId: string, limit = 20) {
  return tx.any(sql.type(ActivityRow)`
    SELECT a.id, a.occurred_at AS at, a.action, a.actor_type, a.actor_id, (a.data->>'seq')::int8 AS seq, a.target_id,
           (SELECT u.user_name FROM users u
             WHERE u.tenant_id = a.tenant_id
               AND u.id = CASE WHEN a.target_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN a.target_id::uuid END) AS user_name
      FROM audit_events a
     WHERE a.tenant_id = ${tenantId} AND (a.action LIKE 'lifecycle.%' OR a.action LIKE 'leaver.%' OR a.action LIKE 'user.%')
     ORDER BY a.id DESC LIMIT ${limit}`);
}

const Counts = z.object({ held: z.number(), orphans: z.number() });

export async function attentionCounts(tx: Tx, tenantId: string) {
  return tx.one(sql.type(Counts)`
    SELECT (SELECT count(*) FROM deprovision_holds WHERE tenant_id = ${tenantId} AND released_at IS NULL)::int AS held,
           (SELECT count(*) FROM service_accounts WHERE tenant_id = ${tenantId} AND orphaned)::int AS orphans`);
}

// ---------------------------------------------------------------------------------------------
// Non-human identities

const OWNER_JSON = (alias: string) => {
  const a = sql.identifier([alias]);
  return sql.fragment`CASE WHEN ${sql.identifier([alias, 'id'])} IS NULL THEN NULL ELSE jsonb_build_object('id', ${a}.id, 'userName', ${a}.user_name,
    'displayName', ${a}.display_name, 'state', ${a}.lifecycle_state) END`;
};

const OwnerJson = z.object({ id: z.string().uuid(), userName: z.string(), displayName: z.string().nullable(), state: LifecycleState }).nullable();

export const ServiceAccountListRow = z.object({
  id: z.string().uuid(),
  name: z.string(),
  status: z.enum(['active', 'disabled']),
  orphaned: z.boolean(),
  orphaned_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  disabled_at: z.string().nullable(),
  owner: OwnerJson,
  live_tokens: z.number(),
  last_used_at: z.string().nullable(),
  page_pos: z.string(),
});
export type ServiceAccountListRow = z.infer<typeof ServiceAccountListRow>;

const SERVICE_ACCOUNT_COLUMNS = sql.fragment`s.id, s.name, s.status, s.orphaned, s.orphaned_at, s.created_at, s.updated_at, s.disabled_at,
  ${OWNER_JSON('o')} AS owner,
  (SELECT count(*) FROM credentials c WHERE c.tenant_id = s.tenant_id AND c.service_account_id = s.id
      AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now()))::int AS live_tokens,
  (SELECT max(c.last_used_at) FROM credentials c WHERE c.tenant_id = s.tenant_id AND c.service_account_id = s.id) AS last_used_at,
  s.created_at::text AS page_pos`;

export async function listServiceAccountsPage(
  tx: Tx,
  tenantId: string,
  filter: { status?: 'active' | 'disabled' | undefined; orphaned?: boolean; ownerUserId?: string },
  cursor: string | undefined,
  limit: number,
) {
  const where = [sql.fragment`s.tenant_id = ${tenantId}`];
  if (filter.status) where.push(sql.fragment`s.status = ${filter.status}`);
  if (filter.orphaned !== undefined) where.push(sql.fragment`s.orphaned = ${filter.orphaned}`);
  if (filter.ownerUserId) where.push(sql.fragment`s.owner_user_id = ${filter.ownerUserId}`);
  const w = sql.join(where, sql.fragment` AND `);
  return readPage(
    (k) => tx.any(sql.type(ServiceAccountListRow)`
      SELECT ${SERVICE_ACCOUNT_COLUMNS} FROM service_accounts s LEFT JOIN users o ON o.tenant_id = s.tenant_id AND o.id = s.owner_user_id
       WHERE ${w} AND ${k.where} ORDER BY ${k.orderBy} ${k.limit}`),
    cursor,
    limit,
    's',
  );
}

export async function findServiceAccountView(tx: Tx, tenantId: string, id: string) {
  if (!isUuid(id)) return null;
  return tx.maybeOne(sql.type(ServiceAccountListRow)`
    SELECT ${SERVICE_ACCOUNT_COLUMNS} FROM service_accounts s LEFT JOIN users o ON o.tenant_id = s.tenant_id AND o.id = s.owner_user_id
     WHERE s.tenant_id = ${tenantId} AND s.id = ${id}`);
}

/** Every service account the user owns (any status), with token counts. */
export async function userServiceAccounts(tx: Tx, tenantId: string, userId: string) {
  return tx.any(sql.type(ServiceAccountListRow)`
    SELECT ${SERVICE_ACCOUNT_COLUMNS} FROM service_accounts s LEFT JOIN users o ON o.tenant_id = s.tenant_id AND o.id = s.owner_user_id
     WHERE s.tenant_id = ${tenantId} AND s.owner_user_id = ${userId} ORDER BY s.created_at DESC, s.id DESC LIMIT 500`);
}

export async function countServiceAccounts(tx: Tx, tenantId: string, filter: { status?: 'active' | 'disabled' | undefined; orphaned?: boolean }) {
  return tx.oneFirst(sql.type(z.object({ n: z.number() }))`
    SELECT count(*)::int AS n FROM service_accounts s WHERE s.tenant_id = ${tenantId}
       ${filter.status ? sql.fragment`AND s.status = ${filter.status}` : sql.fragment``}
       ${filter.orphaned !== undefined ? sql.fragment`AND s.orphaned = ${filter.orphaned}` : sql.fragment``}`);
}

export type LiveFilter = 'live' | 'revoked' | 'all';

export const TokenListRow = z.object({
  id: z.string().uuid(),
  kind: z.enum(['session', 'personal_token', 'service_account_token']),
  name: z.string().nullable(),
  token_prefix: z.string(),
  scopes: z.array(z.string()),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  revoked_reason: z.string().nullable(),
  live: z.boolean(),
  owner: OwnerJson,
  service_account: z.object({ id: z.string().uuid(), name: z.string(), status: z.enum(['active', 'disabled']) }).nullable(),
  page_pos: z.string(),
});
export type TokenListRow = z.infer<typeof TokenListRow>;

const CREDENTIAL_LIVE = sql.fragment`(c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now()))`;

function liveFilter(live: FragmentSqlToken, status: LiveFilter) {
  return status === 'live' ? live : status === 'revoked' ? sql.fragment`NOT ${live}` : sql.fragment`TRUE`;
}

function tokenWhere(tenantId: string, filter: { kind?: 'personal_token' | 'service_account_token' | undefined; status: LiveFilter }) {
  return sql.join(
    [
      sql.fragment`c.tenant_id = ${tenantId}`,
      filter.kind ? sql.fragment`c.kind = ${filter.kind}` : sql.fragment`c.kind <> 'session'`,
      liveFilter(CREDENTIAL_LIVE, filter.status),
    ],
    sql.fragment` AND `,
  );
}

/** Personal and service-account tokens (never sessions), with the person or account behind each. */
export async function listTokens(
  tx: Tx,
  tenantId: string,
  filter: { kind?: 'personal_token' | 'service_account_token' | undefined; status: LiveFilter },
  cursor: string | undefined,
  limit: number,
) {
  const where = tokenWhere(tenantId, filter);
  return readPage(
    (k) => tx.any(sql.type(TokenListRow)`
      SELECT c.id, c.kind, c.name, c.token_prefix, c.scopes, c.created_at, c.expires_at, c.last_used_at, c.revoked_at, c.revoked_reason,
             ${CREDENTIAL_LIVE} AS live, ${OWNER_JSON('o')} AS owner,
             CASE WHEN s.id IS NULL THEN NULL ELSE jsonb_build_object('id', s.id, 'name', s.name, 'status', s.status) END AS service_account,
             c.created_at::text AS page_pos
        FROM credentials c
        LEFT JOIN service_accounts s ON s.tenant_id = c.tenant_id AND s.id = c.service_account_id
        LEFT JOIN users o ON o.tenant_id = c.tenant_id AND o.id = coalesce(c.user_id, s.owner_user_id)
       WHERE ${where} AND ${k.where} ORDER BY ${k.orderBy} ${k.limit}`),
    cursor,
    limit,
    'c',
  );
}

export async function countTokens(tx: Tx, tenantId: string, filter: { kind?: 'personal_token' | 'service_account_token' | undefined; status: LiveFilter }) {
  return tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM credentials c WHERE ${tokenWhere(tenantId, filter)}`);
}

/** The token kind of a credential of this tenant, or null (sessions are not tokens here). */
export async function tokenKind(tx: Tx, tenantId: string, id: string) {
  if (!isUuid(id)) return null;
  return tx.maybeOneFirst(sql.type(z.object({ kind: z.string() }))`
    SELECT kind FROM credentials WHERE tenant_id = ${tenantId} AND id = ${id} AND kind <> 'session'`);
}

export const GrantListRow = z.object({
  id: z.string().uuid(),
  client_id: z.string(),
  client_name: z.string().nullable(),
  scopes: z.array(z.string()),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  revoked_reason: z.string().nullable(),
  owner: OwnerJson,
  page_pos: z.string(),
});

function grantWhere(tenantId: string, status: LiveFilter) {
  return sql.fragment`g.tenant_id = ${tenantId} AND ${liveFilter(sql.fragment`(g.revoked_at IS NULL)`, status)}`;
}

export async function listOAuthGrants(tx: Tx, tenantId: string, status: LiveFilter, cursor: string | undefined, limit: number) {
  const where = grantWhere(tenantId, status);
  return readPage(
    (k) => tx.any(sql.type(GrantListRow)`
      SELECT g.id, g.client_id, g.client_name, g.scopes, g.created_at, g.revoked_at, g.revoked_reason, ${OWNER_JSON('o')} AS owner,
             g.created_at::text AS page_pos
        FROM oauth_grants g LEFT JOIN users o ON o.tenant_id = g.tenant_id AND o.id = g.user_id
       WHERE ${where} AND ${k.where} ORDER BY ${k.orderBy} ${k.limit}`),
    cursor,
    limit,
    'g',
  );
}

export async function countOAuthGrants(tx: Tx, tenantId: string, status: LiveFilter) {
  return tx.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int AS n FROM oauth_grants g WHERE ${grantWhere(tenantId, status)}`);
}
