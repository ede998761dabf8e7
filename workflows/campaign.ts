import { allHandlersFinished, ApplicationFailure, condition, continueAsNew, log, proxyActivities, setHandler, sleep, workflowInfo } from '@temporalio/workflow';
import type { CampaignActivities } from '../activities/campaigns.js';
import { campaignActivity } from './activity-options.js';
import { CampaignRun } from './campaign-state.js';
import { permanentFailure } from './failures.js';
import { type CampaignPhase, campaignDecidedSignal, campaignStatusQuery, type CampaignWorkflowInput, type CloseCampaignNowInput, closeCampaignNowUpdate } from './messages.js';

const acts = proxyActivities<Omit<CampaignActivities, 'launchScheduledCampaign'>>(campaignActivity);

/** After an unexplained failure a step is tried again after a pause: a minute, doubling to an hour. */
const PAUSE_MS = { first: 60_000, max: 3_600_000 };

type Steps = Omit<CampaignActivities, 'launchScheduledCampaign'>;

/**
 * A campaign must close (a campaign that never closes is the trap issue 9 names), so a step whose
 * error nobody classified (`Unexpected`, after the attempts activities/to-failure.ts allows: a
 * statement timeout, a bug the next deploy fixes) does not fail the run: it is tried again after
 * a pause, and the worker logs each time. Refusals by the rules (`EventInvalid`) still end the run.
 */
function persistent<K extends keyof Steps>(name: K, firstPauseMs: number): Steps[K] {
  const step = acts[name] as unknown as (...args: unknown[]) => Promise<unknown>;
  return (async (...args: unknown[]) => {
    for (let pause = firstPauseMs; ; pause = Math.min(pause * 2, PAUSE_MS.max)) {
      try {
        return await step(...args);
      } catch (err) {
        const unexpected = permanentFailure(err, ['Unexpected']);
        if (!unexpected) throw err;
        log.warn('campaign step failed; trying again after a pause', { step: name, pauseMs: pause, message: unexpected.message });
        await sleep(pause);
      }
    }
  }) as unknown as Steps[K];
}

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
  const pause = input.stepPauseMs ?? PAUSE_MS.first;
  const steps = {
    generate: persistent('generateCampaignItems', pause),
    open: persistent('openCampaign', pause),
    sweep: persistent('closeVanishedCampaignItems', pause),
    count: persistent('countPendingCampaignItems', pause),
    escalate: persistent('escalateCampaignItems', pause),
    remind: persistent('remindCampaignReviewers', pause),
    close: persistent('closeCampaign', pause),
  };

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
        const batch = await steps.generate({ ...ref, batchSize });
        run.generated(batch.inserted);
        if (batch.done) break;
        if (historyFull()) return await continueRun();
      }
    }
    run.opened(await steps.open(ref), Date.now());

    // Items whose access vanished close themselves, then the workflow counts what is left.
    const sweepAndCount = async (): Promise<'open' | 'close' | 'cancelled'> => {
      await steps.sweep(ref);
      return count();
    };
    const count = async (): Promise<'open' | 'close' | 'cancelled'> => {
      const c = await steps.count(ref);
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
        await steps.sweep(ref);
        await steps.escalate(ref);
        run.escalatedNow();
        next = await count();
      } else if (step === 'remind') {
        await steps.sweep(ref);
        await steps.remind({ ...ref, round: run.remindersSent + 1 });
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
      await steps.close(ref);
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
