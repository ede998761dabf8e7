import { type Client, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { markCampaignWorkflowStarted } from '../core/campaigns/launch.js';
import { type Db, withTenant } from '../core/db/pool.js';
import { campaignWorkflowId } from '../workflows/ids.js';
import { type CampaignWorkflowInput, campaignDecidedSignal, type CloseCampaignNowInput, type CloseCampaignNowOutcome, closeCampaignNowUpdate } from '../workflows/messages.js';

/**
 * The campaign workflow's client side, for the surfaces that launch and decide (portal, app API),
 * the scheduled-launch activity and the worker's campaign reconciler. The records and rules are
 * core/campaigns; this only starts `campaign/<tenant>/<campaign>` and talks to it.
 */

/** Starts the campaign's workflow (once: a second start finds it running) and records that it did. */
export async function startCampaignWorkflow(db: Db, temporal: Client, taskQueue: string, input: CampaignWorkflowInput): Promise<void> {
  const workflowId = campaignWorkflowId(input.tenantId, input.campaignId);
  try {
    await temporal.workflow.start('campaign', { workflowId, taskQueue, args: [input] });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
  await withTenant(db, input.tenantId, (tx) => markCampaignWorkflowStarted(tx, input.tenantId, input.campaignId, workflowId));
}

/**
 * Asks the running campaign to close now (its Update's validator refuses a closed or still
 * generating campaign with a typed outcome). A workflow that no longer runs answers already_closed.
 */
export async function closeCampaignNow(temporal: Client, tenantId: string, campaignId: string, input: CloseCampaignNowInput): Promise<CloseCampaignNowOutcome> {
  try {
    return await temporal.workflow.getHandle(campaignWorkflowId(tenantId, campaignId)).executeUpdate(closeCampaignNowUpdate, { args: [input] });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type) return err.cause.type as CloseCampaignNowOutcome;
    if (err instanceof WorkflowNotFoundError) return 'already_closed';
    throw err;
  }
}

/** Tells the campaign decisions were recorded (best effort: the workflow also recounts on its timers). */
export async function notifyCampaignDecided(temporal: Client, tenantId: string, campaignId: string, decided: number): Promise<void> {
  await temporal.workflow
    .getHandle(campaignWorkflowId(tenantId, campaignId))
    .signal(campaignDecidedSignal, { decided })
    .catch(() => undefined);
}
