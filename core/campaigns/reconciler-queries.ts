import { sql } from 'slonik';
import { z } from 'zod';
import type { Db, Tx } from '../db/pool.js';

// What the worker's campaign reconciler (worker/loops/campaign-reconciler.ts) and the campaign
// workflow's activities need beyond the engine: across tenants only through the definer functions
// (ids and revisions), then each definition or campaign under its own tenant.

const DefinitionRef = z.object({ tenant_id: z.string().uuid(), id: z.string().uuid(), revision: z.number() });
export type DefinitionRef = z.infer<typeof DefinitionRef>;

/** Definitions whose Temporal Schedule is behind their row (any tenant), least recently changed first. */
export async function definitionsBehind(db: Db, limit: number): Promise<readonly DefinitionRef[]> {
  return db.any(sql.type(DefinitionRef)`SELECT tenant_id, id, revision FROM campaign_definitions_to_sync(false, ${limit})`);
}

/** A keyset page of live definitions with a schedule (any tenant), for the full pass. */
export async function scheduledDefinitionsPage(db: Db, after: { tenantId: string; id: string } | null, limit: number): Promise<readonly DefinitionRef[]> {
  return db.any(sql.type(DefinitionRef)`
    SELECT tenant_id, id, revision FROM campaign_definitions_scheduled(${after?.tenantId ?? null}::uuid, ${after?.id ?? null}::uuid, ${limit})`);
}

const DefinitionForSync = z.object({
  settings: z.record(z.unknown()),
  paused: z.boolean(),
  deleted: z.boolean(),
  revision: z.number(),
  schedule_synced_revision: z.number(),
});
export type DefinitionForSync = z.infer<typeof DefinitionForSync>;

/**
 * The definition, locked for the length of its sync so that two reconcilers never write one
 * Schedule at once (an older revision landing after a newer one); null when another reconciler
 * holds it (SKIP LOCKED) or it does not exist.
 */
export async function lockDefinitionForSync(tx: Tx, tenantId: string, definitionId: string): Promise<DefinitionForSync | null> {
  return tx.maybeOne(sql.type(DefinitionForSync)`
    SELECT settings, paused, deleted_at IS NOT NULL AS deleted, revision, schedule_synced_revision FROM campaign_definitions
     WHERE tenant_id = ${tenantId} AND id = ${definitionId} FOR UPDATE SKIP LOCKED`);
}

/** The Schedule now matches this revision (only if the row is still at it: a later change syncs again). */
export async function markScheduleSynced(tx: Tx, tenantId: string, definitionId: string, revision: number): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE campaign_definitions SET schedule_synced_revision = ${revision}
     WHERE tenant_id = ${tenantId} AND id = ${definitionId} AND revision = ${revision} AND schedule_synced_revision < ${revision}`);
}

const CampaignRef = z.object({ tenant_id: z.string().uuid(), id: z.string().uuid() });

/** Campaigns (any tenant) generating or open whose workflow was never started, older than `olderThanSeconds`. */
export async function unstartedCampaigns(db: Db, olderThanSeconds: number, limit: number): Promise<readonly z.infer<typeof CampaignRef>[]> {
  return db.any(sql.type(CampaignRef)`SELECT tenant_id, id FROM campaigns_unstarted(${olderThanSeconds}, ${limit})`);
}

/** Refreshes campaign_items' planner statistics (after a generation wrote a campaign's items). */
export async function analyzeCampaignItems(db: Db): Promise<void> {
  await db.query(sql.unsafe`SELECT campaign_items_analyze()`);
}
