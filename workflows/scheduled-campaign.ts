import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaigns.js';
import { databaseActivity } from './activity-options.js';
import type { ScheduledCampaignInput, ScheduledCampaignResult } from './messages.js';

const acts = proxyActivities<Pick<CampaignActivities, 'launchScheduledCampaign'>>(databaseActivity);

/**
 * What a campaign definition's Temporal Schedule starts (`campaign-launch/<tenant>/<definition>`
 * plus the fire time): launches one run of the definition, its own workflow id as the trigger
 * reference (so a retried launch finds the campaign it made), and starts that run's workflow. A run
 * still open, a paused or a deleted definition launches nothing.
 */
export async function scheduledCampaign(input: ScheduledCampaignInput): Promise<ScheduledCampaignResult> {
  return acts.launchScheduledCampaign({ tenantId: input.tenantId, definitionId: input.definitionId, workflowId: workflowInfo().workflowId });
}
