import { allHandlersFinished, condition, continueAsNew, proxyLocalActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { LifecycleActivities } from '../activities/lifecycle.js';
import { databaseLocalActivity } from './activity-options.js';
import { type GroupStatus, groupStatusQuery, scimChangeSignal, type StreamEvent } from './messages.js';
import { OrderedStream } from './ordered-stream.js';

const db = proxyLocalActivities<LifecycleActivities>(databaseLocalActivity);

export interface GroupLifecycleInput {
  tenantId: string;
  groupId: string;
  carried?: { appliedSeq: number; pending: StreamEvent[] };
}

const HISTORY_LIMIT = 2_000;

/**
 * The entity workflow of one group: applies the group's own events in order. Member changes do
 * not run through here: each one is an event on the member's identity stream, so a 10,000-member
 * push never lands in one history.
 */
export async function groupLifecycle(input: GroupLifecycleInput): Promise<void> {
  const { tenantId, groupId } = input;
  const stream = new OrderedStream(input.carried?.appliedSeq ?? 0, input.carried?.pending);
  let deleted = false;
  setHandler(scimChangeSignal, (event) => stream.accept(event));
  setHandler(groupStatusQuery, (): GroupStatus => ({ tenantId, groupId, appliedSeq: stream.appliedSeq, deleted, pendingSeqs: stream.pendingEvents().map((e) => e.seq) }));

  if (!input.carried) {
    const loaded = await db.loadGroup({ tenantId, groupId });
    if (loaded.exists) stream.advanceTo(loaded.appliedSeq);
  }
  for (;;) {
    await condition(() => stream.hasNext() || workflowInfo().historyLength > HISTORY_LIMIT);
    const event = stream.peek();
    if (event) {
      if (event.type === 'group.deleted') {
        stream.markApplied(event.seq);
        deleted = true;
        await condition(allHandlersFinished);
        return;
      }
      await db.applyGroupEvent({ tenantId, groupId, seq: event.seq });
      stream.markApplied(event.seq);
    }
    if (workflowInfo().historyLength > HISTORY_LIMIT || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof groupLifecycle>({ tenantId, groupId, carried: { appliedSeq: stream.appliedSeq, pending: stream.pendingEvents() } });
    }
  }
}
