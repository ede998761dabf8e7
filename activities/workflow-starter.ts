import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ChangeKindDeps } from '../core/approvals/kinds.js';
import { signalReleased } from './lifecycle-signals.js';

/**
 * `ChangeKindDeps.startWorkflow` over a Temporal client: starts a feature's follow-up workflow on
 * the worker's queue once its change committed; one already running under the id is left alone.
 */
export function workflowStarter(client: Client, taskQueue: string): NonNullable<ChangeKindDeps['startWorkflow']> {
  return async ({ workflowType, workflowId, args }) => {
    try {
      await client.workflow.start(workflowType, { workflowId, taskQueue, args });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  };
}

/**
 * The follow-up effects a change kind may have on running workflows, over one Temporal client:
 * starting a feature's workflow, and telling released leavers' workflows at once.
 */
export function changeEffects(client: Client, taskQueue: string): Required<Pick<ChangeKindDeps, 'startWorkflow' | 'releaseHolds'>> {
  return {
    startWorkflow: workflowStarter(client, taskQueue),
    releaseHolds: (tenantId, userIds, by) => signalReleased(client, tenantId, userIds, by),
  };
}
