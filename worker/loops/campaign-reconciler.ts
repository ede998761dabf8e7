import { type Client, ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleOptionsStartWorkflowAction } from '@temporalio/client';
import type { Logger } from 'pino';
import { startCampaignWorkflow } from '../../activities/campaign-client.js';
import {
  type DefinitionRef,
  definitionsBehind,
  lockDefinitionForSync,
  markScheduleSynced,
  scheduledDefinitionsPage,
  unstartedCampaigns,
} from '../../core/campaigns/reconciler-queries.js';
import { type SchedulePlan, scheduleNote, schedulePlan } from '../../core/campaigns/schedule-sync.js';
import { type Db, withTenant } from '../../core/db/pool.js';
import { campaignScheduleId, scheduledCampaignWorkflowId } from '../../workflows/ids.js';
import type { scheduledCampaign } from '../../workflows/scheduled-campaign.js';

export interface CampaignReconcilerDeps {
  db: Db;
  client: Client;
  taskQueue: string;
  logger: Logger;
  /** Milliseconds in a campaign hour (interval schedules). */
  hourMs: number;
  /** How often every scheduled definition's Schedule is checked (a lost one is recreated). */
  fullPassMs: number;
  /** Campaigns whose workflow has not started this long after commit are started here. */
  unstartedAfterSeconds: number;
}

const BATCH = 50;
/** What every campaignScheduleId (workflows/ids.ts) starts with. */
export const CAMPAIGN_SCHEDULE_PREFIX = 'campaign-schedule/';
/** How long one definition's Temporal calls may take (an unreachable Temporal fails the sync, not the API). */
const SYNC_DEADLINE_MS = 10_000;

export type ScheduleSyncOutcome = 'created' | 'updated' | 'deleted' | 'unchanged' | 'busy';

/**
 * Brings one definition's Temporal Schedule to its row: creates, updates (spec, pause state, the
 * revision note), or deletes it, then records the revision it synced. The row stays locked while
 * Temporal is called, so replicas take turns on one definition (another replica skips it, `busy`)
 * and an older revision can never land after a newer one. Idempotent: a create that finds the
 * Schedule updates it, a delete that finds none is done.
 */
export async function syncCampaignSchedule(deps: Pick<CampaignReconcilerDeps, 'db' | 'client' | 'taskQueue' | 'hourMs'>, ref: { tenantId: string; definitionId: string }): Promise<ScheduleSyncOutcome> {
  return withTenant(deps.db, ref.tenantId, async (tx) => {
    const row = await lockDefinitionForSync(tx, ref.tenantId, ref.definitionId);
    if (!row) return 'busy';
    // Bounded: the row stays locked meanwhile, and the API's next change of it waits for the lock.
    const outcome = await deps.client.withDeadline(Date.now() + SYNC_DEADLINE_MS, () =>
      applySchedule(deps.client, campaignScheduleId(ref.tenantId, ref.definitionId), schedulePlan(row, deps.hourMs), {
        type: 'startWorkflow',
        workflowType: 'scheduledCampaign',
        taskQueue: deps.taskQueue,
        args: [{ tenantId: ref.tenantId, definitionId: ref.definitionId }],
        workflowId: scheduledCampaignWorkflowId(ref.tenantId, ref.definitionId),
      }),
    );
    await markScheduleSynced(tx, ref.tenantId, ref.definitionId, row.revision);
    return outcome;
  });
}

type LaunchAction = ScheduleOptionsStartWorkflowAction<typeof scheduledCampaign>;

async function applySchedule(client: Client, scheduleId: string, plan: SchedulePlan, action: LaunchAction): Promise<ScheduleSyncOutcome> {
  const handle = client.schedule.getHandle(scheduleId);
  if (plan.kind === 'delete') {
    try {
      await handle.delete();
      return 'deleted';
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return 'unchanged';
      throw err;
    }
  }
  // Overlap SKIP: a fire while the previous launch still runs is dropped (the launch itself also
  // skips while a run of the definition is open).
  const policies = { overlap: ScheduleOverlapPolicy.SKIP };
  try {
    await client.schedule.create({ scheduleId, spec: plan.spec, action, policies, state: { paused: plan.paused, note: plan.note } });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const current = await handle.describe();
  if (current.state.note === plan.note && current.state.paused === plan.paused) return 'unchanged';
  await handle.update((prev) => ({ ...prev, spec: plan.spec, action, policies: { ...prev.policies, ...policies }, state: { paused: plan.paused, note: plan.note } }));
  return 'updated';
}

/**
 * The worker's campaign reconciler, one step of its loop: (a) definitions whose Schedule is behind
 * their row; (b) every `fullPassMs`, every scheduled definition in keyset pages, recreating lost
 * Schedules; (c) campaigns committed without a started workflow (a crash between commit and start,
 * a move's review whose start failed). Several replicas are safe: syncs lock their row, starts are
 * idempotent. Returns whether more work is waiting (the loop runs again at once).
 */
export function campaignReconciler(deps: CampaignReconcilerDeps): () => Promise<boolean> {
  let lastFullPass = 0;
  const sync = async (ref: DefinitionRef): Promise<boolean> => {
    try {
      await syncCampaignSchedule(deps, { tenantId: ref.tenant_id, definitionId: ref.id });
      return true;
    } catch (err) {
      deps.logger.warn({ err, definitionId: ref.id }, 'could not sync a campaign schedule; will retry');
      return false;
    }
  };
  return async () => {
    const behind = await definitionsBehind(deps.db, BATCH);
    let synced = 0;
    for (const ref of behind) if (await sync(ref)) synced++;

    if (Date.now() - lastFullPass >= deps.fullPassMs) {
      lastFullPass = Date.now();
      // One listing of the namespace's campaign Schedules instead of a describe per definition; a
      // definition whose Schedule is missing or noted with another revision is synced (which
      // describes it, as the listing may lag behind).
      const listed = new Map<string, string | undefined>();
      for await (const schedule of deps.client.schedule.list({ pageSize: 1000 })) {
        if (schedule.scheduleId.startsWith(CAMPAIGN_SCHEDULE_PREFIX)) listed.set(schedule.scheduleId, schedule.state.note);
      }
      for (let after: { tenantId: string; id: string } | null = null; ; ) {
        const page = await scheduledDefinitionsPage(deps.db, after, BATCH);
        for (const ref of page) {
          const id = campaignScheduleId(ref.tenant_id, ref.id);
          if (!listed.has(id) || listed.get(id) !== scheduleNote(ref.revision)) await sync(ref);
        }
        if (page.length < BATCH) break;
        const last = page[page.length - 1]!;
        after = { tenantId: last.tenant_id, id: last.id };
      }
    }

    const unstarted = await unstartedCampaigns(deps.db, deps.unstartedAfterSeconds, BATCH);
    let started = 0;
    for (const c of unstarted) {
      try {
        await startCampaignWorkflow(deps.db, deps.client, deps.taskQueue, { tenantId: c.tenant_id, campaignId: c.id });
        started++;
      } catch (err) {
        deps.logger.warn({ err, campaignId: c.id }, 'could not start a campaign workflow; will retry');
      }
    }
    // Full pages that made progress: more may be waiting. Failures wait for the next pause.
    return (behind.length === BATCH && synced > 0) || (unstarted.length === BATCH && started > 0);
  };
}
