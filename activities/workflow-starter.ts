import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ChangeKindDeps } from '../core/approvals/kinds.js';

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
