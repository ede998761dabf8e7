import { allHandlersFinished, ApplicationFailure, condition, continueAsNew, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaigns.js';
import { campaignActivity } from './activity-options.js';
import { CampaignRun } from './campaign-state.js';
import { permanentFailure } from './failures.js';
import { type CampaignPhase, campaignDecidedSignal, campaignStatusQuery, type CampaignWorkflowInput, type CloseCampaignNowInput, closeCampaignNowUpdate } from './messages.js';

const acts = proxyActivities<Omit<CampaignActivities, 'launchScheduledCampaign'>>(campaignActivity);

/** Subjects per generation batch: 100,000 people are 50 batches, a few hundred history events. */
const DEFAULT_BATCH_SIZE = 2_000;
/** Past this many history events (or when Temporal suggests it) the run continues as new. */
const HISTORY_LIMIT = 2_000;
/** A fresh run needs a few dozen events before it waits: a lower limit would hand over forever. */
const MIN_HISTORY_LIMIT = 100;

/** A typed refusal: the Update's validator rejects with it and the caller maps `type` to the outcome. */
function refuse(outcome: string): never {
  throw ApplicationFailure.create({ type: outcome, message: outcome, nonRetryable: true });
}

/**
 * One recertification campaign run (`campaign/<tenantId>/<campaignId>`; its row exists, state
 * generating or open). Generation writes the items in batches by an activity, the workflow only
 * adds up counts; then the campaign opens and runs on workflow timers: reminders every
 * remindEveryMs, one escalation to the fallback reviewer when the policy escalates, the deadline
 * that closes it. Decisions signal it to recount, and it closes early once nothing is pending; a
 * security user can close it now (an Update that refuses a generating or closed campaign). Items
 * whose access vanished close themselves at each timer. PostgreSQL holds the record; each step is
 * an idempotent activity over core/campaigns/engine.ts. A cancelled campaign ends the run.
 */
export async function campaign(input: CampaignWorkflowInput): Promise<CampaignPhase> {
  const ref = { tenantId: input.tenantId, campaignId: input.campaignId };
  const run = new CampaignRun(input);

  setHandler(campaignStatusQuery, () => run.status());
  setHandler(campaignDecidedSignal, () => run.decided());
  setHandler(
    closeCampaignNowUpdate,
    (_request: CloseCampaignNowInput) => {
      run.requestClose();
      return 'closing' as const;
    },
    {
      validator: (_request: CloseCampaignNowInput) => {
        const refusal = run.closeRefusal();
        if (refusal) refuse(refusal);
      },
    },
  );

  const historyLimit = Math.max(MIN_HISTORY_LIMIT, input.historyLimit ?? HISTORY_LIMIT);
  const historyFull = () => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit;
  const continueRun = async () => {
    await condition(allHandlersFinished);
    return continueAsNew<typeof campaign>({ ...input, resume: run.resume() });
  };

  try {
    if (run.phase === 'generating') {
      const batchSize = input.batchSize ?? DEFAULT_BATCH_SIZE;
      for (;;) {
        const batch = await acts.generateCampaignItems({ ...ref, batchSize });
        run.generated(batch.inserted);
        if (batch.done) break;
        if (historyFull()) return await continueRun();
      }
    }
    run.opened(await acts.openCampaign(ref), Date.now());

    // Items whose access vanished close themselves, then the workflow counts what is left.
    const sweepAndCount = async (): Promise<'open' | 'close' | 'cancelled'> => {
      await acts.closeVanishedCampaignItems(ref);
      return count();
    };
    const count = async (): Promise<'open' | 'close' | 'cancelled'> => {
      const c = await acts.countPendingCampaignItems(ref);
      run.counted(c.pending);
      if (c.state === 'cancelled') return 'cancelled';
      return c.state === 'open' && c.pending > 0 ? 'open' : 'close';
    };

    let next = await sweepAndCount();
    while (next === 'open') {
      const now = Date.now();
      const step = run.dueStep(now);
      if (step === 'close') break;
      if (historyFull()) return await continueRun();
      if (step === 'escalate') {
        await acts.closeVanishedCampaignItems(ref);
        await acts.escalateCampaignItems(ref);
        run.escalatedNow();
        next = await count();
      } else if (step === 'remind') {
        await acts.closeVanishedCampaignItems(ref);
        await acts.remindCampaignReviewers({ ...ref, round: run.remindersSent + 1 });
        run.remindedNow(now);
        next = await count();
      } else if (step === 'recount') {
        next = await count();
      } else {
        const seen = run.version;
        await condition(() => run.version !== seen, Math.max(1, run.nextWake() - now));
      }
    }
    if (next === 'cancelled') {
      run.close('cancelled');
    } else {
      run.close('closing');
      await acts.closeCampaign(ref);
      run.counted(0);
      run.close('closed');
    }
  } catch (err) {
    if (!permanentFailure(err, ['CampaignCancelled'])) throw err;
    run.close('cancelled');
  }
  await condition(allHandlersFinished);
  return run.phase;
}
