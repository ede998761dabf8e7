import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { LifecycleActivities } from '../activities/lifecycle.js';
import { databaseActivity } from './activity-options.js';
import { type IdentityStatus, identityStatusQuery, type LifecycleState, scimChangeSignal, type StreamEvent } from './messages.js';
import { OrderedStream } from './ordered-stream.js';

const db = proxyActivities<LifecycleActivities>(databaseActivity);

export interface IdentityLifecycleInput {
  tenantId: string;
  userId: string;
  /** Carried across continue-as-new; absent on the first run. */
  carried?: { appliedSeq: number; state: LifecycleState; pending: StreamEvent[]; awaitingDeletion: boolean };
}

/** Past this many history events the workflow continues as new (state carried, nothing lost). */
const HISTORY_LIMIT = 2_000;

/**
 * The entity workflow of one identity (`identity/<tenantId>/<userId>`): drains the SCIM change
 * signals in seq order and applies each one's lifecycle transition; a SCIM DELETE starts the
 * tenant's grace period, after which the identity is deleted and the workflow ends.
 */
export async function identityLifecycle(input: IdentityLifecycleInput): Promise<void> {
  const { tenantId, userId } = input;
  const workflowId = workflowInfo().workflowId;
  const stream = new OrderedStream(input.carried?.appliedSeq ?? 0, input.carried?.pending);
  let state: LifecycleState | 'unknown' = input.carried?.state ?? 'unknown';
  let awaitingDeletion = input.carried?.awaitingDeletion ?? false;

  setHandler(scimChangeSignal, (event) => stream.accept(event));
  setHandler(
    identityStatusQuery,
    (): IdentityStatus => ({
      tenantId,
      userId,
      appliedSeq: stream.appliedSeq,
      state,
      pendingSeqs: stream.pendingEvents().map((e) => e.seq),
      awaitingDeletion,
    }),
  );

  if (!input.carried) {
    const loaded = await db.loadIdentity({ tenantId, userId });
    if (!loaded.exists) return;
    stream.advanceTo(loaded.appliedSeq);
    state = loaded.state;
    awaitingDeletion = loaded.deletionDueInMs !== null;
  }

  for (;;) {
    if (awaitingDeletion && !stream.hasNext()) {
      // The deadline lives in the database (SCIM DELETE time + the tenant's grace period), so a
      // grace-period change or a continue-as-new never moves it; Temporal only keeps the timer.
      const { deletionDueInMs } = await db.loadIdentity({ tenantId, userId });
      const woke = deletionDueInMs !== null && (await condition(() => stream.hasNext(), Math.max(1, deletionDueInMs)));
      if (!woke) {
        ({ state } = await db.completeIdentityDeletion({ tenantId, userId, workflowId }));
        awaitingDeletion = false;
        await condition(allHandlersFinished);
        return;
      }
    } else {
      await condition(() => stream.hasNext() || workflowInfo().historyLength > HISTORY_LIMIT);
    }
    const event = stream.peek();
    if (event) {
      const result = await db.applyIdentityEvent({ tenantId, userId, seq: event.seq, type: event.type, workflowId });
      stream.markApplied(event.seq);
      state = result.state;
      if (event.type === 'user.deleted') awaitingDeletion = true;
    }
    if (workflowInfo().historyLength > HISTORY_LIMIT || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof identityLifecycle>({
        tenantId,
        userId,
        carried: {
          appliedSeq: stream.appliedSeq,
          state: state === 'unknown' ? 'provisioned' : state,
          pending: stream.pendingEvents(),
          awaitingDeletion,
        },
      });
    }
  }
}
