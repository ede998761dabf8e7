import { sql } from 'slonik';
import { z } from 'zod';
import { appendAudit } from '../audit/queries.js';
import type { Actor } from '../audit/schema.js';
import type { Tx } from '../db/pool.js';
import { DomainError } from '../errors.js';

// Launching one run of a campaign definition: the row the campaign workflow then drives. Shared by
// the portal and app API (launch now, "trigger now") and the scheduled launch activity (a Temporal
// Schedule fired). The caller starts the workflow after commit; the worker's campaign reconciler
// starts any the caller could not (campaigns_unstarted).

const Uuid = z.string().uuid();

export type LaunchResult =
  | { outcome: 'launched'; campaignId: string }
  /** Overlap: a run of this definition is still generating or open (skipped by default). */
  | { outcome: 'skipped'; reason: 'overlap'; campaignId: string }
  | { outcome: 'skipped'; reason: 'paused' | 'deleted' };

export interface LaunchInput {
  definitionId: string;
  trigger: 'manual' | 'schedule';
  /**
   * Unique per tenant and launch: the scheduled workflow's id, or a manual launch's request id. A
   * retried launch with the same ref finds the campaign it made.
   */
  triggerRef: string;
  actor: Actor;
  requestId?: string | undefined;
}

const DefinitionRow = z.object({ name: z.string(), settings: z.record(z.unknown()), paused: z.boolean(), deleted: z.boolean() });

/**
 * Records a new run of the definition (state generating) with the definition's settings as they
 * are now, audited `campaign.launched`, in the caller's transaction (tenant set). A schedule fire of
 * a paused definition launches nothing; a manual launch of a paused one does (pause stops the
 * schedule, not people). Idempotent by triggerRef.
 */
export async function launchCampaign(tx: Tx, tenantId: string, input: LaunchInput): Promise<LaunchResult> {
  const def = await tx.maybeOne(sql.type(DefinitionRow)`
    SELECT name, settings, paused, deleted_at IS NOT NULL AS deleted FROM campaign_definitions
     WHERE tenant_id = ${tenantId} AND id = ${input.definitionId} FOR SHARE`);
  if (!def) throw new DomainError(404, 'not_found', 'no such campaign definition in this tenant');
  const again = await tx.maybeOneFirst(sql.type(z.object({ id: Uuid }))`
    SELECT id FROM campaigns WHERE tenant_id = ${tenantId} AND trigger_ref = ${input.triggerRef}`);
  if (again) return { outcome: 'launched', campaignId: again };
  if (def.deleted) return { outcome: 'skipped', reason: 'deleted' };
  if (def.paused && input.trigger === 'schedule') return { outcome: 'skipped', reason: 'paused' };
  const running = await tx.maybeOneFirst(sql.type(z.object({ id: Uuid }))`
    SELECT id FROM campaigns WHERE tenant_id = ${tenantId} AND definition_id = ${input.definitionId} AND state IN ('generating', 'open')
     ORDER BY created_at DESC LIMIT 1`);
  if (running) return { outcome: 'skipped', reason: 'overlap', campaignId: running };
  const campaignId = await tx.oneFirst(sql.type(z.object({ id: Uuid }))`
    INSERT INTO campaigns (tenant_id, definition_id, name, trigger, trigger_ref, settings, state, launched_by_type, launched_by_id)
    VALUES (${tenantId}, ${input.definitionId}, ${def.name}, ${input.trigger}, ${input.triggerRef}, ${sql.jsonb(def.settings as never)},
            'generating', ${input.actor.type}, ${input.actor.id ?? null})
    RETURNING id`);
  await appendAudit(tx, tenantId, [
    {
      actor: input.actor,
      action: 'campaign.launched',
      targetType: 'campaign',
      targetId: campaignId,
      data: { definitionId: input.definitionId, trigger: input.trigger },
      ...(input.requestId ? { requestId: input.requestId } : {}),
    },
  ]);
  return { outcome: 'launched', campaignId };
}

/** Records that the campaign's workflow was started (the reconciler stops looking at it). */
export async function markCampaignWorkflowStarted(tx: Tx, tenantId: string, campaignId: string, workflowId: string): Promise<void> {
  await tx.query(sql.unsafe`
    UPDATE campaigns SET workflow_id = ${workflowId}, workflow_started_at = coalesce(workflow_started_at, now())
     WHERE tenant_id = ${tenantId} AND id = ${campaignId}`);
}
