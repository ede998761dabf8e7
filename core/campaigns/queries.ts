import { sql } from 'slonik';
import { z } from 'zod';
import type { Tx } from '../db/pool.js';
import { AccessKind, ItemOutcome } from './schema.js';

// Plain queries over campaigns and campaign_items, shared by the engine (core/campaigns/engine.ts),
// the revoke applier (revoke.ts) and the campaign service (service.ts). The rules live there.

/** A campaign_items row as the engine and the service read it (item ids as text: bigserial). */
export const ItemRow = z.object({
  id: z.string(),
  campaign_id: z.string().uuid(),
  access_kind: AccessKind,
  access_ref: z.string(),
  user_id: z.string().uuid().nullable(),
  service_account_id: z.string().uuid().nullable(),
  /** RoleSource[] for a role, { scopes, createdAt, ... } otherwise. */
  sources: z.unknown(),
  last_used_at: z.string().nullable(),
  risk: z.number(),
  risk_reasons: z.array(z.string()),
  recommendation: z.enum(['keep', 'revoke']),
  recommendation_reason: z.string(),
  reviewer_id: z.string().uuid().nullable(),
  assigned_by: z.string(),
  escalated_at: z.string().nullable(),
  decision: z.enum(['keep', 'revoke']).nullable(),
  decision_reason: z.string().nullable(),
  decided_by: z.string().uuid().nullable(),
  decided_at: z.string().nullable(),
  decision_ms: z.number().nullable(),
  outcome: ItemOutcome,
  applied: z.unknown().nullable(),
  applied_at: z.string().nullable(),
});
export type ItemRow = z.infer<typeof ItemRow>;

export const ITEM_COLUMNS = sql.fragment`i.id::text AS id, i.campaign_id, i.access_kind, i.access_ref, i.user_id, i.service_account_id,
  i.sources, i.last_used_at, i.risk, i.risk_reasons, i.recommendation, i.recommendation_reason, i.reviewer_id, i.assigned_by,
  i.escalated_at, i.decision, i.decision_reason, i.decided_by, i.decided_at, i.decision_ms, i.outcome, i.applied, i.applied_at`;

const itemIdArray = (itemIds: readonly string[]) => sql.array(itemIds.filter((id) => /^\d{1,18}$/.test(id)), 'int8');

/**
 * The items of a campaign, locked (FOR UPDATE) in id order, for a decision or a revoke: two
 * reviewers deciding the same items serialise on these rows. Unknown ids are left out. Items hang
 * off the campaign, not an identity, so these locks have no place in core/db/locks.ts's order;
 * take them before the user locks a revoke needs (revoke.ts locks the user afterwards), and after
 * the campaign row if the caller locks it (the engine's close does: campaign, items, users).
 */
export async function loadItemsForUpdate(tx: Tx, tenantId: string, campaignId: string, itemIds: readonly string[]): Promise<readonly ItemRow[]> {
  if (itemIds.length === 0) return [];
  return tx.any(sql.type(ItemRow)`
    SELECT ${ITEM_COLUMNS} FROM campaign_items i
     WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${campaignId} AND i.id = ANY(${itemIdArray(itemIds)})
     ORDER BY i.id FOR UPDATE`);
}

/** The items of a campaign (no lock), in id order. */
export async function loadItems(tx: Tx, tenantId: string, campaignId: string, itemIds: readonly string[]): Promise<readonly ItemRow[]> {
  if (itemIds.length === 0) return [];
  return tx.any(sql.type(ItemRow)`
    SELECT ${ITEM_COLUMNS} FROM campaign_items i
     WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${campaignId} AND i.id = ANY(${itemIdArray(itemIds)})
     ORDER BY i.id`);
}

export const CampaignRow = z.object({
  id: z.string().uuid(),
  tenant_id: z.string().uuid(),
  definition_id: z.string().uuid().nullable(),
  name: z.string(),
  trigger: z.enum(['manual', 'schedule', 'event']),
  trigger_ref: z.string(),
  settings: z.record(z.unknown()),
  subject_user_id: z.string().uuid().nullable(),
  state: z.enum(['generating', 'open', 'closed', 'cancelled']),
  generation_cursor: z.string().nullable(),
  items_total: z.number(),
  opened_at: z.string().nullable(),
  due_at: z.string().nullable(),
  escalated_at: z.string().nullable(),
  closed_at: z.string().nullable(),
  summary: z.record(z.unknown()).nullable(),
});
export type CampaignRow = z.infer<typeof CampaignRow>;

const CAMPAIGN_COLUMNS = sql.fragment`c.id, c.tenant_id, c.definition_id, c.name, c.trigger, c.trigger_ref, c.settings, c.subject_user_id,
  c.state, c.generation_cursor, c.items_total, c.opened_at, c.due_at, c.escalated_at, c.closed_at, c.summary`;

/** The campaign, optionally locked (FOR NO KEY UPDATE: items reference it by foreign key). */
export async function findCampaign(tx: Tx, tenantId: string, campaignId: string, options: { forUpdate?: boolean } = {}): Promise<CampaignRow | null> {
  if (!/^[0-9a-f-]{36}$/i.test(campaignId)) return null;
  return tx.maybeOne(sql.type(CampaignRow)`
    SELECT ${CAMPAIGN_COLUMNS} FROM campaigns c WHERE c.tenant_id = ${tenantId} AND c.id = ${campaignId}
    ${options.forUpdate ? sql.fragment`FOR NO KEY UPDATE` : sql.fragment``}`);
}

/** Records how items of one campaign were carried out: one outcome, each item's ApplyRecord (one statement). */
export async function setItemOutcomes(
  tx: Tx,
  tenantId: string,
  campaignId: string,
  outcome: ItemOutcome,
  items: readonly { itemId: string; applied: unknown }[],
): Promise<void> {
  if (items.length === 0) return;
  await tx.query(sql.unsafe`
    UPDATE campaign_items i SET outcome = ${outcome}, applied = x.applied::jsonb, applied_at = now()
      FROM ${sql.unnest(items.map((r) => [r.itemId, JSON.stringify(r.applied)]), ['int8', 'text'])} AS x(id, applied)
     WHERE i.tenant_id = ${tenantId} AND i.campaign_id = ${campaignId} AND i.id = x.id`);
}

// ---------------------------------------------------------------------------------------------
// SQL fragments shared by generation (engine.ts) and drift (itemDrift): the same expression makes
// the snapshot and the comparison, so "changed" means the sources really differ.

/**
 * Why `userCol` holds `roleCol` now (RoleSource[]: default, each group mapping with the group's
 * name, a direct grant), in a stable order (default, groups by id, direct).
 */
export function roleSourcesSql(tenantId: string, userCol: ReturnType<typeof sql.identifier>, roleCol: ReturnType<typeof sql.identifier>) {
  return sql.fragment`(SELECT coalesce(jsonb_agg(s.src ORDER BY s.ord, s.k), '[]'::jsonb) FROM (
      SELECT 0 AS ord, '' AS k, jsonb_build_object('kind', 'default') AS src
        FROM tenants t WHERE t.id = ${tenantId} AND t.default_role = ${roleCol}
      UNION ALL
      SELECT 1, g.id::text, jsonb_build_object('kind', 'group', 'groupId', g.id, 'groupName', g.display_name)
        FROM group_members gm
        JOIN role_mappings rm ON rm.tenant_id = gm.tenant_id AND rm.group_id = gm.group_id AND rm.role = ${roleCol}
        JOIN groups g ON g.tenant_id = gm.tenant_id AND g.id = gm.group_id
       WHERE gm.tenant_id = ${tenantId} AND gm.user_id = ${userCol}
      UNION ALL
      SELECT 2, '', jsonb_build_object('kind', 'direct', 'grantedBy', d.granted_by)
        FROM direct_role_grants d WHERE d.tenant_id = ${tenantId} AND d.user_id = ${userCol} AND d.role = ${roleCol}
    ) s)`;
}

/** Lower-cased e-mails and userName of the user row `alias` (to match portal users by e-mail). */
export function userEmailsSql(alias: string) {
  const a = sql.identifier([alias]);
  return sql.fragment`(ARRAY(SELECT lower(e->>'value') FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${a}.emails) = 'array' THEN ${a}.emails ELSE '[]'::jsonb END) e
                         WHERE e->>'value' IS NOT NULL) || lower(${a}.user_name))`;
}

/**
 * Whether the access of item row `i` no longer exists: the role is not in user_roles (or the person
 * was deleted), the token revoked or expired, the service account disabled, the grant revoked.
 * `i` must carry `ref_id` (ITEM_REF_ID of the item, computed in a fenced subquery or CTE): a cast
 * inside the lookup would keep the primary keys out under row-level security (not leakproof).
 */
export const ITEM_GONE_SQL = sql.fragment`(CASE i.access_kind
    WHEN 'role' THEN NOT EXISTS (SELECT 1 FROM user_roles ur JOIN users u ON u.tenant_id = ur.tenant_id AND u.id = ur.user_id AND u.scim_deleted_at IS NULL
                                  WHERE ur.tenant_id = i.tenant_id AND ur.user_id = i.user_id AND ur.role = i.access_ref)
    WHEN 'token' THEN NOT EXISTS (SELECT 1 FROM credentials c WHERE c.tenant_id = i.tenant_id AND c.id = i.ref_id
                                    AND c.revoked_at IS NULL AND (c.expires_at IS NULL OR c.expires_at > now()))
    WHEN 'service_account' THEN NOT EXISTS (SELECT 1 FROM service_accounts s WHERE s.tenant_id = i.tenant_id AND s.id = i.ref_id AND s.status = 'active')
    WHEN 'oauth_grant' THEN NOT EXISTS (SELECT 1 FROM oauth_grants g WHERE g.tenant_id = i.tenant_id AND g.id = i.ref_id AND g.revoked_at IS NULL)
  END)`;

/** The id a non-role item's access_ref names (NULL for a role). */
export const ITEM_REF_ID = sql.fragment`CASE WHEN i.access_kind <> 'role' THEN i.access_ref::uuid END`;
