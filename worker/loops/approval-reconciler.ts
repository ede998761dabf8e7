import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { unstartedRequests } from '../../core/approvals/queries.js';
import { startApprovalWorkflow } from '../../activities/approval-client.js';
import type { Db } from '../../core/db/pool.js';

export interface ApprovalReconcilerDeps {
  db: Db;
  client: Client;
  taskQueue: string;
  logger: Logger;
  hourMs: number;
  /** Requests younger than this are left to the process that committed them. */
  afterSeconds: number;
}

const BATCH = 50;

/**
 * One pass of the approval reconciler: a request is committed before its workflow starts, so a
 * process that dies in between leaves an open request without a workflow. This starts those (a
 * start finds a running workflow when the committer was only slow) and records the start.
 * Returns whether it started anything (the loop runs again at once).
 */
export async function reconcileApprovals(deps: ApprovalReconcilerDeps): Promise<boolean> {
  const rows = await unstartedRequests(deps.db, deps.afterSeconds, BATCH);
  for (const row of rows) {
    try {
      await startApprovalWorkflow(deps.db, deps.client, deps, row.tenant_id, row.id);
    } catch (err) {
      deps.logger.warn({ err, requestId: row.id }, 'could not start an approval workflow; will retry');
    }
  }
  return rows.length === BATCH;
}
