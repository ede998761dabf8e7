import { sql } from 'slonik';
import { z } from 'zod';
import type { Actor } from '../audit/schema.js';
import type { Tx } from '../db/pool.js';
import { PortalRole } from '../portal-auth/schema.js';
import { escapeLike, foldKey } from '../scim/fold.js';
import { ITEM_COLUMNS, ItemRow } from './queries.js';
import { AccessKind, CampaignState, ItemOutcome } from './schema.js';

// The campaign service's SQL (core/campaigns/service.ts): definitions, the campaign list, the item
// pages and the pickers. Every function takes the tenant explicitly (RLS restricts the app role as
// well). The engine's queries (locks, outcomes, drift) are in queries.ts.

const Uuid = z.string().uuid();

// ---- definitions ----------------------------------------------------------------------------

export const DefinitionRow = z.object({
  id: Uuid,
  name: z.string(),
  settings: z.record(z.unknown()),
  revision: z.number(),
  paused: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  open_campaign_id: Uuid.nullable(),
});
export type DefinitionRow = z.infer<typeof DefinitionRow>;

const DEFINITION_COLUMNS = sql.fragment`d.id, d.name, d.settings, d.revision, d.paused, d.created_at, d.updated_at,
  (SELECT c.id FROM campaigns c WHERE c.tenant_id = d.tenant_id AND c.definition_id = d.id AND c.state IN ('generating', 'open')
    ORDER BY c.created_at DESC, c.id DESC LIMIT 1) AS open_campaign_id`;

export async function insertDefinition(tx: Tx, tenantId: string, input: { name: string; settings: Record<string, unknown>; actor: Actor }): Promise<string> {
  return tx.oneFirst(sql.type(z.object({ id: Uuid }))`
    INSERT INTO campaign_definitions (tenant_id, name, settings, created_by_type, created_by_id)
    VALUES (${tenantId}, ${input.name}, ${sql.jsonb(input.settings as never)}, ${input.actor.type}, ${input.actor.id ?? null})
    RETURNING id`);
}

/** A live (not deleted) definition. */
export async function findDefinition(tx: Tx, tenantId: string, definitionId: string): Promise<DefinitionRow | null> {
  return tx.maybeOne(sql.type(DefinitionRow)`
    SELECT ${DEFINITION_COLUMNS} FROM campaign_definitions d
     WHERE d.tenant_id = ${tenantId} AND d.id = ${definitionId} AND d.deleted_at IS NULL`);
}

/** Live definitions, newest first, after the keyset position. One more than `limit` tells a next page. */
export async function definitionPage(tx: Tx, tenantId: string, after: { createdAt: string; id: string } | null, limit: number): Promise<readonly DefinitionRow[]> {
  return tx.any(sql.type(DefinitionRow)`
    SELECT ${DEFINITION_COLUMNS} FROM campaign_definitions d
     WHERE d.tenant_id = ${tenantId} AND d.deleted_at IS NULL
       ${after ? sql.fragment`AND (d.created_at, d.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)` : sql.fragment``}
     ORDER BY d.created_at DESC, d.id DESC LIMIT ${limit + 1}`);
}

export type DefinitionChange = { name: string; settings: Record<string, unknown> } | { paused: boolean } | { deleted: true };

/**
 * Changes a live definition and bumps its revision and updated_at in the same statement (the
 * schedule reconciler brings its Temporal Schedule to the new revision). Null: no such definition.
 * A pause or resume that changes nothing leaves the row alone (false).
 */
export async function changeDefinition(tx: Tx, tenantId: string, definitionId: string, change: DefinitionChange): Promise<{ changed: boolean } | null> {
  const set =
    'settings' in change
      ? sql.fragment`name = ${change.name}, settings = ${sql.jsonb(change.settings as never)}`
      : 'paused' in change
        ? sql.fragment`paused = ${change.paused}`
        : sql.fragment`deleted_at = now()`;
  const unchanged = 'paused' in change ? sql.fragment`AND paused IS DISTINCT FROM ${change.paused}` : sql.fragment``;
  const r = await tx.query(sql.unsafe`
    UPDATE campaign_definitions SET ${set}, revision = revision + 1, updated_at = now()
     WHERE tenant_id = ${tenantId} AND id = ${definitionId} AND deleted_at IS NULL ${unchanged}`);
  if (r.rowCount === 1) return { changed: true };
  const live = await tx.maybeOneFirst(sql.type(z.object({ id: Uuid }))`
    SELECT id FROM campaign_definitions WHERE tenant_id = ${tenantId} AND id = ${definitionId} AND deleted_at IS NULL`);
  return live ? { changed: false } : null;
}

/** Which of these ids are active portal users of the tenant. */
export async function activePortalUserIds(tx: Tx, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const found = await tx.anyFirst(sql.type(z.object({ id: Uuid }))`
    SELECT id FROM portal_users WHERE tenant_id = ${tenantId} AND status = 'active' AND id = ANY(${sql.array([...ids], 'uuid')})`);
  return new Set(found);
}

/** Which of these ids are groups of the tenant. */
export async function groupIdsOf(tx: Tx, tenantId: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const found = await tx.anyFirst(sql.type(z.object({ id: Uuid }))`
    SELECT id FROM groups WHERE tenant_id = ${tenantId} AND id = ANY(${sql.array([...ids], 'uuid')})`);
  return new Set(found);
}

// ---- campaigns ------------------------------------------------------------------------------

export const CampaignListRow = z.object({
  id: Uuid,
  definition_id: Uuid.nullable(),
  name: z.string(),
  trigger: z.enum(['manual', 'schedule', 'event']),
  state: CampaignState,
  subject_user_id: Uuid.nullable(),
  items_total: z.number(),
  created_at: z.string(),
  opened_at: z.string().nullable(),
  due_at: z.string().nullable(),
  closed_at: z.string().nullable(),
  decided: z.number(),
  mine: z.number(),
});
export type CampaignListRow = z.infer<typeof CampaignListRow>;

export interface CampaignFilter {
  state?: CampaignState | undefined;
  definitionId?: string | undefined;
  /** The caller (a portal user) for `mine`; null for the app API. */
  userId: string | null;
  /** Only campaigns with items assigned to userId (callers who are reviewers of their own items only). */
  assignedOnly: boolean;
}

export async function campaignPage(tx: Tx, tenantId: string, f: CampaignFilter, after: { createdAt: string; id: string } | null, limit: number): Promise<readonly CampaignListRow[]> {
  const where = [
    sql.fragment`c.tenant_id = ${tenantId}`,
    ...(f.state ? [sql.fragment`c.state = ${f.state}`] : []),
    ...(f.definitionId ? [sql.fragment`c.definition_id = ${f.definitionId}`] : []),
    ...(f.assignedOnly ? [sql.fragment`EXISTS (SELECT 1 FROM campaign_items i WHERE i.tenant_id = c.tenant_id AND i.campaign_id = c.id AND i.reviewer_id = ${f.userId})`] : []),
    ...(after ? [sql.fragment`(c.created_at, c.id) < (${after.createdAt}::timestamptz, ${after.id}::uuid)`] : []),
  ];
  return tx.any(sql.type(CampaignListRow)`
    SELECT c.id, c.definition_id, c.name, c.trigger, c.state, c.subject_user_id, c.items_total, c.created_at, c.opened_at, c.due_at, c.closed_at,
           (SELECT count(*) FROM campaign_items i WHERE i.tenant_id = c.tenant_id AND i.campaign_id = c.id AND i.decision IS NOT NULL)::int8 AS decided,
           (SELECT count(*) FROM campaign_items i WHERE i.tenant_id = c.tenant_id AND i.campaign_id = c.id AND i.reviewer_id = ${f.userId}
               AND i.outcome = 'pending')::int8 AS mine
      FROM campaigns c
     WHERE ${sql.join(where, sql.fragment` AND `)}
     ORDER BY c.created_at DESC, c.id DESC LIMIT ${limit + 1}`);
}

/** campaigns.created_at (the engine's CampaignRow leaves it out). */
export async function campaignCreatedAt(tx: Tx, tenantId: string, campaignId: string): Promise<string> {
  return tx.oneFirst(sql.type(z.object({ created_at: z.string() }))`SELECT created_at FROM campaigns WHERE tenant_id = ${tenantId} AND id = ${campaignId}`);
}

/** Whether the portal user has (or had) items of the campaign to review. */
export async function hasItemsOf(tx: Tx, tenantId: string, campaignId: string, userId: string): Promise<boolean> {
  return tx.exists(sql.unsafe`SELECT 1 FROM campaign_items WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND reviewer_id = ${userId}`);
}

// ---- items ----------------------------------------------------------------------------------

export const ItemPageRow = ItemRow.extend({
  access: z.string(),
  subject_name: z.string().nullable(),
  subject_display_name: z.string().nullable(),
  reviewer_name: z.string().nullable(),
});
export type ItemPageRow = z.infer<typeof ItemPageRow>;

export interface ItemFilter {
  /** Only this reviewer's items (view=mine, or the reviewerId filter). */
  reviewerId?: string | undefined;
  outcome?: ItemOutcome | undefined;
  accessKind?: AccessKind | undefined;
  /** Lower-cased prefix of the role, the person's userName or the service account's name. */
  search?: string | undefined;
}

const likePrefix = (s: string) => `${escapeLike(s.toLowerCase())}%`;

/**
 * Items a search matches, found from the matching people, accounts and roles
 * (campaign_item_search_hits): at most this many, or the term is common and the page is found by
 * walking the campaign in risk order instead.
 */
export const ITEM_SEARCH_HITS_CAP = 500;

/** The ids of the items `search` matches, or null when more than `cap` do. */
async function itemSearchHits(tx: Tx, tenantId: string, campaignId: string, search: string, cap: number): Promise<string[] | null> {
  const ids = await tx.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id::text AS id FROM campaign_item_search_hits(${tenantId}, ${campaignId}, ${likePrefix(search)}, ${cap})`);
  return ids.length > cap ? null : [...new Set(ids)];
}

/**
 * One page of a campaign's items, riskiest first (keyset on risk DESC, id), with the readable names
 * the view shows. The page is chosen first (a fenced CTE: its ids cast to uuid inside a CASE, so a
 * role name is never cast), then the names are looked up for its rows only.
 */
export async function itemPage(
  tx: Tx,
  tenantId: string,
  campaignId: string,
  f: ItemFilter,
  after: { risk: number; id: string } | null,
  limit: number,
  options: { searchHitsCap?: number } = {},
): Promise<readonly ItemPageRow[]> {
  // A rare term: its few items by id. A common one: filtered in risk order, where a page of it is
  // near (at least one item in ITEM_SEARCH_HITS_CAP / items_total matches).
  const hits = f.search ? await itemSearchHits(tx, tenantId, campaignId, f.search, options.searchHitsCap ?? ITEM_SEARCH_HITS_CAP) : null;
  const where = [
    sql.fragment`i.tenant_id = ${tenantId}`,
    sql.fragment`i.campaign_id = ${campaignId}`,
    ...(f.reviewerId ? [sql.fragment`i.reviewer_id = ${f.reviewerId}`] : []),
    ...(f.outcome ? [sql.fragment`i.outcome = ${f.outcome}`] : []),
    ...(f.accessKind ? [sql.fragment`i.access_kind = ${f.accessKind}`] : []),
    ...(hits ? [sql.fragment`i.id = ANY(${sql.array(hits, 'int8')})`] : []),
    ...(f.search && !hits
      ? [
          sql.fragment`(lower(i.access_ref) LIKE ${likePrefix(f.search)}
             OR EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = i.tenant_id AND u.id = i.user_id AND lower(u.user_name) LIKE ${likePrefix(f.search)})
             OR EXISTS (SELECT 1 FROM service_accounts s WHERE s.tenant_id = i.tenant_id AND s.id = i.service_account_id AND lower(s.name) LIKE ${likePrefix(f.search)}))`,
        ]
      : []),
  ];
  const filters = sql.join(where, sql.fragment` AND `);
  const select = (keyset: ReturnType<typeof sql.fragment>, order: ReturnType<typeof sql.fragment>) => sql.fragment`
    (SELECT i.*, CASE WHEN i.access_kind <> 'role' THEN i.access_ref::uuid END AS ref_id
       FROM campaign_items i WHERE ${filters} AND ${keyset} ORDER BY ${order} LIMIT ${limit + 1})`;
  // After a cursor: the rest of its risk level by id, then the lower levels; each an index range
  // (campaign_items_risk), where one OR condition would rescan the level from its start every page.
  const page = after
    ? sql.fragment`SELECT * FROM (
        ${select(sql.fragment`i.risk = ${after.risk} AND i.id > ${after.id}::int8`, sql.fragment`i.id`)}
        UNION ALL
        ${select(sql.fragment`i.risk < ${after.risk}`, sql.fragment`i.risk DESC, i.id`)}
      ) u ORDER BY u.risk DESC, u.id LIMIT ${limit + 1}`
    : select(sql.fragment`true`, sql.fragment`i.risk DESC, i.id`);
  return tx.any(sql.type(ItemPageRow)`
    WITH i AS MATERIALIZED (${page})
    SELECT ${ITEM_COLUMNS},
           CASE i.access_kind WHEN 'role' THEN i.access_ref
                WHEN 'token' THEN coalesce(cr.name, cr.token_prefix, i.access_ref)
                WHEN 'service_account' THEN coalesce(sa.name, i.access_ref)
                ELSE coalesce(g.client_name, g.client_id, i.access_ref) END AS access,
           CASE WHEN i.access_kind IN ('service_account', 'token') THEN sa.name ELSE u.user_name END AS subject_name,
           CASE WHEN i.access_kind IN ('service_account', 'token') THEN sa.name ELSE u.display_name END AS subject_display_name,
           coalesce(p.display_name, p.email) AS reviewer_name
      FROM i
      LEFT JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id
      LEFT JOIN service_accounts sa ON sa.tenant_id = i.tenant_id AND sa.id = i.service_account_id
      LEFT JOIN credentials cr ON cr.tenant_id = i.tenant_id AND cr.id = i.ref_id AND i.access_kind = 'token'
      LEFT JOIN oauth_grants g ON g.tenant_id = i.tenant_id AND g.id = i.ref_id AND i.access_kind = 'oauth_grant'
      LEFT JOIN portal_users p ON p.tenant_id = i.tenant_id AND p.id = i.reviewer_id
     ORDER BY i.risk DESC, i.id`);
}

/** Records reviewers' decisions on items (the outcome is set by the caller: kept, or by the revoke). */
export async function recordDecisions(
  tx: Tx,
  tenantId: string,
  campaignId: string,
  input: { itemIds: readonly string[]; decision: 'keep' | 'revoke'; reason: string | null; decidedBy: string; decisionMs: number | null },
): Promise<void> {
  if (input.itemIds.length === 0) return;
  await tx.query(sql.unsafe`
    UPDATE campaign_items SET decision = ${input.decision}, decision_reason = ${input.reason}, decided_by = ${input.decidedBy},
           decided_at = now(), decision_ms = ${input.decisionMs},
           outcome = CASE WHEN ${input.decision} = 'keep' THEN 'kept' ELSE outcome END
     WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND id = ANY(${sql.array([...input.itemIds], 'int8')})`);
}

/** An item whose access disappeared before its decision closes as gone. */
export async function closeItemsGone(tx: Tx, tenantId: string, campaignId: string, itemIds: readonly string[]): Promise<void> {
  if (itemIds.length === 0) return;
  await tx.query(sql.unsafe`
    UPDATE campaign_items SET outcome = 'gone', applied = '{"via":"already_gone"}'::jsonb, applied_at = now()
     WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND outcome = 'pending' AND id = ANY(${sql.array([...itemIds], 'int8')})`);
}

/**
 * The items (role or OAuth grant: a person's own access) whose person is the portal user `userId`
 * (same e-mail or userName): nobody reviews their own access.
 */
export async function itemsAboutPortalUser(tx: Tx, tenantId: string, campaignId: string, itemIds: readonly string[] | 'pending', userId: string): Promise<Set<string>> {
  const which = itemIds === 'pending' ? sql.fragment`i.outcome = 'pending'` : sql.fragment`i.id = ANY(${sql.array([...itemIds], 'int8')})`;
  const ids = await tx.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT i.id::text AS id FROM campaign_items i
      JOIN users u ON u.tenant_id = i.tenant_id AND u.id = i.user_id
      JOIN portal_users p ON p.tenant_id = i.tenant_id AND p.id = ${userId}
     WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${campaignId} AND i.access_kind IN ('role', 'oauth_grant') AND ${which}
       AND lower(p.email) = ANY(ARRAY(SELECT lower(e->>'value') FROM jsonb_array_elements(CASE WHEN jsonb_typeof(u.emails) = 'array' THEN u.emails ELSE '[]'::jsonb END) e
                                       WHERE e->>'value' IS NOT NULL) || lower(u.user_name))`);
  return new Set(ids);
}

/** Moves pending items to another reviewer (assigned_by 'reassigned'); the count moved. */
export async function moveItems(
  tx: Tx,
  tenantId: string,
  campaignId: string,
  which: { itemIds: readonly string[] } | { fromReviewerId: string },
  toReviewerId: string,
  except: ReadonlySet<string>,
): Promise<number> {
  const pick = 'itemIds' in which ? sql.fragment`id = ANY(${sql.array([...which.itemIds], 'int8')})` : sql.fragment`reviewer_id = ${which.fromReviewerId}`;
  const r = await tx.query(sql.unsafe`
    UPDATE campaign_items SET reviewer_id = ${toReviewerId}, assigned_by = 'reassigned'
     WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND outcome = 'pending' AND ${pick}
       AND reviewer_id IS DISTINCT FROM ${toReviewerId}::uuid
       AND NOT (id::text = ANY(${sql.array([...except], 'text')}))`);
  return r.rowCount;
}

/** Locks the pending items of one reviewer (id order), before they are moved. */
export async function lockPendingOf(tx: Tx, tenantId: string, campaignId: string, reviewerId: string): Promise<void> {
  await tx.query(sql.unsafe`
    SELECT 1 FROM campaign_items WHERE tenant_id = ${tenantId} AND campaign_id = ${campaignId} AND reviewer_id = ${reviewerId} AND outcome = 'pending'
     ORDER BY id FOR UPDATE`);
}

/** The campaign's state, share-locked: decisions and reassignments wait for a close in progress and the close waits for them. */
export async function campaignStateForShare(tx: Tx, tenantId: string, campaignId: string): Promise<CampaignState | null> {
  if (!/^[0-9a-f-]{36}$/i.test(campaignId)) return null;
  return tx.maybeOneFirst(sql.type(z.object({ state: CampaignState }))`
    SELECT state FROM campaigns WHERE tenant_id = ${tenantId} AND id = ${campaignId} FOR SHARE`);
}

// ---- pickers --------------------------------------------------------------------------------

export const ReviewerOptionRow = z.object({ id: Uuid, email: z.string(), display_name: z.string().nullable(), roles: z.array(PortalRole) });

export async function reviewerOptions(tx: Tx, tenantId: string, search: string | undefined, limit: number) {
  return tx.any(sql.type(ReviewerOptionRow)`
    SELECT u.id, u.email, u.display_name,
           coalesce((SELECT array_agg(r.role ORDER BY r.role) FROM portal_user_roles r WHERE r.tenant_id = u.tenant_id AND r.user_id = u.id), '{}') AS roles
      FROM portal_users u
     WHERE u.tenant_id = ${tenantId} AND u.status = 'active'
       ${search ? sql.fragment`AND (lower(u.email) LIKE ${likePrefix(search)} OR lower(coalesce(u.display_name, '')) LIKE ${likePrefix(search)})` : sql.fragment``}
     ORDER BY lower(coalesce(u.display_name, u.email)), u.id LIMIT ${limit}`);
}

export const GroupOptionRow = z.object({ id: Uuid, display_name: z.string(), members: z.number() });

export async function groupOptions(tx: Tx, tenantId: string, search: string | undefined, limit: number) {
  return tx.any(sql.type(GroupOptionRow)`
    SELECT g.id, g.display_name,
           (SELECT count(*) FROM group_members m WHERE m.tenant_id = g.tenant_id AND m.group_id = g.id)::int8 AS members
      FROM groups g
     WHERE g.tenant_id = ${tenantId} ${search ? sql.fragment`AND g.display_name_key LIKE ${`${escapeLike(foldKey(search))}%`}` : sql.fragment``}
     ORDER BY g.display_name_key, g.id LIMIT ${limit}`);
}
