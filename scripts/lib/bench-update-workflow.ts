import { allHandlersFinished, condition, defineUpdate, proxyActivities, setHandler } from '@temporalio/workflow';

/**
 * The Temporal dev server's own ceilings for the approvals part of `npm run bench`, bundled by the
 * bench's in-process worker (scripts/lib/bench-approvals.ts). Each workflow waits for one Update.
 */

export const pingUpdate = defineUpdate<string>('ping');
export const decideUpdate = defineUpdate<string>('decide');

/** No-op activities: `verify` tells the bench the moment the last step runs. */
const { step } = proxyActivities<{ step(input: { id: string; name: string }): Promise<void> }>({ startToCloseTimeout: '30 seconds' });

/** A bare Update round trip: the handler answers at once, then the workflow ends. */
export async function bareUpdate(): Promise<void> {
  let done = false;
  setHandler(pingUpdate, () => {
    done = true;
    return 'pong';
  });
  await condition(() => done);
  await condition(allHandlersFinished);
}

/**
 * The approval workflow's shape (workflows/approval.ts) with nothing behind it: the Update's
 * handler runs one activity (the decision's record), then the workflow runs two more in turn
 * (apply, verify). All three are regular activities, as the approval workflow's are.
 */
export async function decisionShape(input: { id: string }): Promise<void> {
  let decided = false;
  setHandler(decideUpdate, async () => {
    await step({ id: input.id, name: 'record' });
    decided = true;
    return 'approved';
  });
  await condition(() => decided);
  await step({ id: input.id, name: 'apply' });
  await step({ id: input.id, name: 'verify' });
  await condition(allHandlersFinished);
}
