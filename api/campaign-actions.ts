import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Client } from '@temporalio/client';
import type { Response } from 'express';
import { closeCampaignNow, notifyCampaignDecided, startCampaignWorkflow } from '../activities/campaign-client.js';
import { signalEventDelivery } from '../activities/events.js';
import { appendAudit } from '../core/audit/queries.js';
import { evidenceCsv, evidenceJson, evidenceRows } from '../core/campaigns/evidence.js';
import type { DecideItemsBody, DecideItemsResult } from '../core/campaigns/schema.js';
import { type CampaignServiceDeps, decideItems, closeRefusal, launchDefinition, requireClosed } from '../core/campaigns/service.js';
import type { Config } from '../core/config.js';
import { type Db, withTenant } from '../core/db/pool.js';
import { DomainError } from '../core/errors.js';
import { auditEntry, type ServiceContext } from '../core/shared/service-context.js';
import type { CloseCampaignNowOutcome } from '../workflows/messages.js';

/**
 * What the campaign routes of both surfaces (portal and app API) do around the service's
 * transaction: start the campaign workflow after a launch commits, tell it about decisions and hand
 * their events to delivery, ask it to close now, and stream the evidence. Temporal calls after
 * commit are best effort where the worker heals a miss (its campaign reconciler starts unstarted
 * campaigns; the workflow recounts on its own timers).
 */

export interface CampaignActionDeps {
  db: Db;
  /** Absent when Temporal is not configured: launches wait for the worker's reconciler, close-now answers 503. */
  temporal?: Client | undefined;
  /** The worker's task queue, where campaign and delivery workflows run. */
  taskQueue: string;
  service: CampaignServiceDeps;
}

export function campaignServiceDeps(config: Config): CampaignServiceDeps {
  return { catalogue: config.APP_ROLES, hourMs: config.CAMPAIGN_HOUR_MS };
}

export type LaunchAnswer = { status: 201; body: { campaignId: string } } | { status: 409; body: { error: 'campaign_running'; message: string; campaignId: string } };

/** Launches a run now: 201 with its id (its workflow started after commit), or 409 with the run in progress. */
export async function launchNow(deps: CampaignActionDeps, ctx: ServiceContext, definitionId: string): Promise<LaunchAnswer> {
  const r = await withTenant(deps.db, ctx.tenantId, (tx) => launchDefinition(tx, ctx, definitionId));
  if (r.outcome === 'running') {
    return { status: 409, body: { error: 'campaign_running', message: 'A campaign of this definition is still running: it must close before the next one starts.', campaignId: r.campaignId } };
  }
  if (deps.temporal) await startCampaignWorkflow(deps.db, deps.temporal, deps.taskQueue, { tenantId: ctx.tenantId, campaignId: r.campaignId }).catch(() => undefined);
  return { status: 201, body: { campaignId: r.campaignId } };
}

/** Records a reviewer's decisions, then tells the campaign's workflow and hands the events to delivery. */
export async function decide(deps: CampaignActionDeps, ctx: ServiceContext, campaignId: string, body: DecideItemsBody): Promise<DecideItemsResult> {
  const r = await withTenant(deps.db, ctx.tenantId, (tx) => decideItems(tx, ctx, deps.service, campaignId, body));
  const moved = r.result.results.filter((x) => x.result !== 'refused').length;
  if (deps.temporal && moved > 0) {
    await notifyCampaignDecided(deps.temporal, ctx.tenantId, campaignId, r.result.decided);
    if (r.deliver.length) {
      await signalEventDelivery(deps.temporal, deps.taskQueue, { tenantId: ctx.tenantId, subjectType: 'campaign', subjectId: campaignId }, r.deliver).catch(() => undefined);
    }
  }
  return r.result;
}

/** Asks the campaign to close now: `closing`, or why not (from the row, else from the workflow's Update). */
export async function closeNow(deps: CampaignActionDeps, ctx: ServiceContext, campaignId: string): Promise<CloseCampaignNowOutcome> {
  const refusal = await withTenant(deps.db, ctx.tenantId, (tx) => closeRefusal(tx, ctx.tenantId, campaignId));
  if (refusal) return refusal;
  if (!deps.temporal) throw new DomainError(503, 'unavailable', 'Closing a campaign needs the workflow service, which is not configured.');
  const outcome = await closeCampaignNow(deps.temporal, ctx.tenantId, campaignId, { by: ctx.actor.id ?? ctx.actor.type });
  if (outcome === 'closing') {
    await withTenant(deps.db, ctx.tenantId, (tx) => appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'campaign.close_requested', 'campaign', campaignId)]));
  }
  return outcome;
}

export const EVIDENCE_CONTENT_TYPES = { csv: 'text/csv; charset=utf-8', json: 'application/json; charset=utf-8' } as const;

/**
 * Streams a closed campaign's evidence (every item, in item id order) as a CSV or JSON attachment.
 * Rows are read in batches, each in its own short transaction, and the next batch only when the
 * client has taken the last one (Readable.from + pipeline: backpressure), so a 100,000-item
 * campaign streams with one batch in memory. The download is audited.
 */
export async function sendEvidence(deps: Pick<CampaignActionDeps, 'db'>, ctx: ServiceContext, campaignId: string, format: 'csv' | 'json', res: Response): Promise<void> {
  await withTenant(deps.db, ctx.tenantId, async (tx) => {
    await requireClosed(tx, ctx.tenantId, campaignId);
    await appendAudit(tx, ctx.tenantId, [auditEntry(ctx, 'campaign.evidence.downloaded', 'campaign', campaignId, { format })]);
  });
  res.status(200);
  res.set({
    'Content-Type': EVIDENCE_CONTENT_TYPES[format],
    'Content-Disposition': `attachment; filename="campaign-${campaignId}-evidence.${format}"`,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  const rows = evidenceRows(deps.db, ctx.tenantId, campaignId);
  try {
    await pipeline(Readable.from(format === 'csv' ? evidenceCsv(rows) : evidenceJson(rows)), res);
  } catch (err) {
    // The client went away: the generator stopped reading batches.
    if ((err as { code?: unknown }).code === 'ERR_STREAM_PREMATURE_CLOSE') return;
    throw err;
  }
}
